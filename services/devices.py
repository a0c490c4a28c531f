"""The broker roster from the command line (`python run.py devices ...`), and its export to
mosquitto: a password file, an ACL file and a configuration that uses them.

The roster (store/devices.py) keeps each secret as mosquitto's own PBKDF2-SHA512 hash, so the
password file is written from the stored hashes: no secret is held anywhere after `add` prints
it once. The ACL lines come from domain.devices.mosquitto_acl, the same rules the embedded
broker applies. Only active devices are exported: a revoked one has no line in either file, and
mosquitto refuses it once it has re-read them (SIGHUP, see docs/deploy.md).
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

from config.settings import Settings
from domain import devices
from domain.vocab import LOCAL_TZ
from services.accounts import cli_actor
from services.errors import Invalid
from store import devices as roster_store
from store.devices import Device
from store.files import replace_file

# mosquitto's default is 1,000 queued QoS 1 messages per offline client: beyond that it drops
# them without a word, and the worker's persistent session is exactly such a client while it
# restarts. A million messages of ~200 bytes take ~300 MB in mosquitto's store (300,000 made a
# 93 MB persistence file when measured).
MAX_QUEUED = 1_000_000
# QoS 1 messages mosquitto sends a client before it has their PUBACKs (its default is 20): the
# worker takes up to 500 at a time and acknowledges them after one Redis write, so a window of
# 20 would starve it. An upper bound per client, not a reservation.
MAX_INFLIGHT = 1000
# Seconds between two saves of mosquitto's in-memory store (its default is 1800); the written
# configuration says why.
AUTOSAVE_S = 10


@dataclass(frozen=True, slots=True)
class Export:
    directory: Path
    passwords: Path
    acl: Path
    conf: Path
    exported: list[str]  # the ids written to the password file
    user: str | None  # the conf's `user` line: the account mosquitto runs as, if started as root
    command: str


# What an administrator adds and revokes (the command line and the admin page): field devices.
# The services' accounts are the supervisor's, renewed at every start.
FIELD_KINDS: tuple[str, ...] = tuple(k for k in devices.DEVICE_KINDS if k != "service")


def add(r: redis.Redis, device_id: str, kind: str, now_ms: int, by: str = "") -> str:
    """A new device's secret (shown once, kept only as its hash). Invalid (a ValueError) if the
    id is not valid for the kind or is taken by an active device."""
    try:
        devices.check_id(device_id, kind)
    except ValueError as e:
        raise Invalid("device_id", str(e)) from None
    old = roster_store.get(r, device_id)
    if old and old.active:
        raise Invalid(
            "device_exists", f"device {device_id!r} already exists (revoke it first)", id=device_id
        )
    if old and old.kind != kind:
        raise Invalid(
            "device_kind", f"device {device_id!r} is a {old.kind}, not a {kind}", kind=old.kind
        )
    return roster_store.add(r, device_id, kind, now_ms, source="cli", by=by or cli_actor())


def revoke(r: redis.Redis, device_id: str, now_ms: int, by: str = "") -> None:
    """Invalid (a ValueError) if there is no such active device."""
    if not roster_store.revoke(r, device_id, now_ms, by=by or cli_actor()):
        raise Invalid("no_device", f"no active device {device_id!r}", id=device_id)


def roster(r: redis.Redis) -> list[dict[str, object]]:
    """The roster for a page: id, kind, active, when added and revoked, who added it (the
    source). Never the hash."""
    return [
        {
            "id": d.id,
            "kind": d.kind,
            "active": d.active,
            "created_ms": d.created_ms,
            "revoked_ms": d.revoked_ms,
            "source": d.source,
        }
        for d in roster_store.roster(r)
    ]


def _local(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def list_lines(r: redis.Redis) -> list[str]:
    """One line per device: id, kind, active or revoked, when added and revoked (Shenzhen local
    time, UTC+8), who added it. Never the hash."""
    out = []
    for d in roster_store.roster(r):
        state = "active" if d.active else "revoked"
        out.append(
            f"{d.id:<20} {d.kind:<9} {state:<7}  added {_local(d.created_ms)}  "
            f"revoked {_local(d.revoked_ms):<19}  source {d.source or '-'}"
        )
    return out


# --- mosquitto ------------------------------------------------------------------------------


def exportable(device: Device) -> bool:
    """Active, with a hash in mosquitto's format (ids hold no ':', so `name:hash` splits)."""
    return device.active and device.secret_hash.startswith("$7$")


def password_file(roster: list[Device]) -> str:
    """mosquitto's password file, as mosquitto_passwd writes it: `name:$7$101$salt$hash`."""
    return "".join(f"{d.id}:{d.secret_hash}\n" for d in roster if exportable(d))


def acl_file(roster: list[Device], prefix: str) -> str:
    """One `user NAME` block per active device. There are no lines before the first block:
    those would apply to anonymous clients, and there are none."""
    blocks = ["# ecocommand's broker ACL, written by `python run.py devices export`.\n"]
    for d in roster:
        if exportable(d):
            lines = devices.mosquitto_acl(d.kind, d.id, prefix)
            blocks.append("".join(f"{line}\n" for line in [f"user {d.id}", *lines]))
    return "\n".join(blocks)


def broker_user(directory: Path) -> str | None:
    """The account mosquitto must run as to read the exported files, or None when it needs no
    `user` line: only a broker started as root changes user."""
    if os.geteuid() != 0:
        return None
    uid = directory.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise ValueError(
            f"{directory} belongs to uid {uid}, which has no account: give it to root or to the "
            "account mosquitto runs as (chown)"
        ) from None


def mosquitto_conf(directory: Path, port: int, user: str | None) -> str:
    """The configuration for `mosquitto -c DIR/mosquitto.conf`; `directory` is absolute."""
    lines = [
        "# ecocommand's mosquitto configuration, written by `python run.py devices export`.",
        "# Export again rather than edit (the next export overwrites it); put your own settings",
        "# (a TLS listener, say) in conf.d/NAME.conf, which no export touches.",
    ]
    if user:
        lines += [
            "# Exported as root. Started as root, mosquitto switches to this account (without",
            "# the line: to Debian's 'mosquitto' user) before it reads password_file and",
            "# acl_file, which it reads again as that account on every SIGHUP, and it writes its",
            "# persistence file here as that account. The export hands the files to the owner of",
            "# this folder and names it here: root, unless the folder was given to another",
            "# account (`chown -R mosquitto: DIR`, then export again; docs/deploy.md).",
            f"user {user}",
        ]
    lines += [
        f"listener {port}",
        "allow_anonymous false",
        f"password_file {directory / 'passwords'}",
        f"acl_file {directory / 'acl'}",
        "",
        "persistence true",
        f"persistence_location {directory}/",
        "# mosquitto keeps its store in memory and rewrites all of it every autosave_interval",
        "# seconds (and at a clean stop), in its one thread: the broker pauses while it saves.",
        "# A crash (SIGKILL, power loss) loses what arrived since the last save, PUBACKed",
        "# messages included. 10 s bounds that loss, while a backlog queued for a stopped worker",
        "# is not rewritten every second: 300,000 queued messages (93 MB) took 0.4 s to save",
        "# when measured, so a backlog of a million would pause a 1 s cycle most of the time.",
        f"autosave_interval {AUTOSAVE_S}",
        "# mosquitto's default of 1,000 queued QoS 1 messages per offline client is exceeded",
        "# within minutes while the worker restarts, and beyond it messages are dropped silently.",
        f"max_queued_messages {MAX_QUEUED}",
        "# QoS 1 messages sent to a client before its PUBACKs (default 20): the worker takes up",
        "# to 500 at a time and acknowledges them after one Redis write.",
        f"max_inflight_messages {MAX_INFLIGHT}",
        "",
        "log_dest stderr",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        f"include_dir {directory / 'conf.d'}",
    ]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str, mode: int) -> None:
    """Replaces `path` whole: mosquitto restarting meanwhile reads either the old file or the
    new one, never half of one. As root, the file goes to the folder's owner, the account
    mosquitto reads it as."""
    replace_file(path, text.encode(), mode, owner_of_folder=True)


def export_mosquitto(r: redis.Redis, directory: Path, port: int, prefix: str) -> Export:
    """Writes DIR/passwords (0600), DIR/acl (0600) and DIR/mosquitto.conf from the roster, and
    makes DIR/conf.d for the administrator's own additions."""
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not between 1 and 65535")
    directory = directory.expanduser().resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    user = broker_user(directory)
    extra = directory / "conf.d"
    if not extra.is_dir():
        extra.mkdir(mode=0o755)
        if user:
            folder = directory.stat()
            os.chown(extra, folder.st_uid, folder.st_gid)
    roster = roster_store.roster(r)
    out = Export(
        directory,
        directory / "passwords",
        directory / "acl",
        directory / "mosquitto.conf",
        [d.id for d in roster if exportable(d)],
        user,
        f"mosquitto -c {directory / 'mosquitto.conf'}",
    )
    _write(out.passwords, password_file(roster), 0o600)
    _write(out.acl, acl_file(roster, prefix), 0o600)
    _write(out.conf, mosquitto_conf(directory, port, user), 0o644)
    return out


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def broker_for_devices(settings: Settings, web_host: str) -> str:
    """The broker as a field device reaches it (mqtt[s]://host:port, never credentials):
    DEVICE_BROKER_URL, else MQTT_URL's host and port, else the embedded broker's port (its TLS
    listener when it has one); a loopback host becomes the host name the admin's browser used
    for the web app, which a phone on the same network reaches."""
    if settings.device_broker_url:
        return settings.device_broker_url
    seen = urlsplit(f"//{web_host}").hostname or "127.0.0.1"
    if settings.mqtt_url:
        u = urlsplit(settings.mqtt_url)
        tls = u.scheme == "mqtts"
        host, port = u.hostname or seen, u.port or (8883 if tls else 1883)
    else:
        tls = settings.mqtt_tls_cert is not None
        host = seen
        port = settings.embedded_mqtts_port if tls else settings.embedded_mqtt_port
    host = seen if host in LOOPBACK else host
    where = f"[{host}]" if ":" in host else host
    return f"{'mqtts' if tls else 'mqtt'}://{where}:{port}"


def enrolment(settings: Settings, web_host: str, device_id: str, kind: str, secret: str) -> str:
    """What the new device's QR code holds (domain/devices.enrolment_uri): shown once with the
    secret, never stored."""
    broker = broker_for_devices(settings, web_host)
    return devices.enrolment_uri(kind, device_id, secret, broker)
