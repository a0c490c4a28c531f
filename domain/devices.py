"""Field devices and service accounts on the broker: who a client is, and which topics it may use.

One rule set for every broker: the embedded broker applies it to each CONNECT, SUBSCRIBE and
PUBLISH (embedded/access.py), and `devices export` writes the same rules as mosquitto's password
and ACL files. A device is named by its roster id, which is also its MQTT user name.

Secrets are stored as mosquitto's own PBKDF2-SHA512 hash (`$7$101$salt$hash`, what
`mosquitto_passwd` writes), so the roster exports to mosquitto without ever holding a secret. A
secret is 24 random bytes, not a person's password: a slow hash would add nothing against
guessing, while every reconnect of every device pays for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Literal
from urllib.parse import quote, urlsplit

DeviceKind = Literal["unit", "ais", "sensor", "owntracks", "service"]
DEVICE_KINDS: tuple[DeviceKind, ...] = ("unit", "ais", "sensor", "owntracks", "service")
# The processes of ecocommand itself. Only the ingest worker reads everything and publishes the
# dispatch notices; the web app and the simulator connect only (a health probe, a check).
SERVICES = ("ingest", "web", "simulator")
ALL_READER = "ingest"

# The characters the worker's topic routes accept for an id (ingest/router.py), less ':', which
# cannot stand in a mosquitto password file's `name:hash` line.
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
UNIT_TOPICS = ("position", "profile", "status", "task", "patrol-log")
SENSOR_TOPICS = ("reading", "profile", "alert")
AIS_TOPICS = ("nmea", "json")

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own count for `$7$` (mosquitto 2.0)
SALT_BYTES = 12


def check_id(device_id: str, kind: str) -> None:
    """Raises ValueError saying why this id cannot be a device of this kind."""
    if kind not in DEVICE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(DEVICE_KINDS)}")
    if not ID_RE.fullmatch(device_id):
        raise ValueError("a device id has 1-64 letters, digits, '_', '.' or '-'")
    if kind == "service" and device_id not in SERVICES:
        raise ValueError(f"a service account is one of {', '.join(SERVICES)}")


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    # 12 bytes as mosquitto requires, drawn printable: EMQX's import takes the salt as text
    salt = salt or secrets.token_urlsafe(SALT_BYTES * 3 // 4).encode()
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        _, seven, rounds, salt, digest = stored.split("$")
        if seven != "7":
            return False
        got = hashlib.pbkdf2_hmac("sha512", secret.encode(), base64.b64decode(salt), int(rounds))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def publish_allowed(kind: str, device_id: str, topic: str, prefix: str) -> bool:
    """May this identity publish on this topic? A device only under its own id."""
    parts = topic.split("/")
    if kind == "service":
        return device_id == ALL_READER
    if kind == "owntracks":
        # OwnTracks publishes owntracks/{user}/{device} and .../event, .../info, ...; the user
        # name is the device's identity, the device part is the phone's own label
        return len(parts) >= 3 and parts[0] == "owntracks" and parts[1] == device_id
    own = {"unit": ("units", UNIT_TOPICS), "ais": ("ais", AIS_TOPICS)}
    own["sensor"] = ("sensors", SENSOR_TOPICS)
    if kind not in own or len(parts) != 4:
        return False
    branch, leaves = own[kind]
    return parts[:3] == [prefix, branch, device_id] and parts[3] in leaves


def subscribe_allowed(kind: str, device_id: str, topic_filter: str, prefix: str) -> bool:
    """May this identity subscribe to this filter? A unit to its own dispatch notices only."""
    if kind == "service":
        return device_id == ALL_READER
    if kind == "unit":
        return topic_filter == dispatch_topic(prefix, device_id)
    return False


def dispatch_topic(prefix: str, unit_id: str) -> str:
    return f"{prefix}/units/{unit_id}/dispatch"


def mosquitto_acl(kind: str, device_id: str, prefix: str) -> list[str]:
    """The same rules as publish_allowed/subscribe_allowed, as mosquitto ACL lines."""
    if kind == "service":
        return ["topic readwrite #"] if device_id == ALL_READER else []
    if kind == "owntracks":
        return [f"topic write owntracks/{device_id}/+", f"topic write owntracks/{device_id}/+/#"]
    if kind == "unit":
        lines = [f"topic write {prefix}/units/{device_id}/{t}" for t in UNIT_TOPICS]
        return [*lines, f"topic read {dispatch_topic(prefix, device_id)}"]
    branch, leaves = {"ais": ("ais", AIS_TOPICS), "sensor": ("sensors", SENSOR_TOPICS)}[kind]
    return [f"topic write {prefix}/{branch}/{device_id}/{t}" for t in leaves]


def enrolment_uri(kind: str, device_id: str, secret: str, broker_url: str) -> str:
    """What a new device's QR code holds, for a phone to scan: for an OwnTracks user, the
    OwnTracks app's own configuration link (`owntracks:///config?inline=`, base64 JSON: MQTT
    mode, host, port, TLS, user name, password; the app then publishes under
    owntracks/{user}/...); for any other device the broker's URL with its credentials
    (`mqtt://ID:SECRET@host:port`, `mqtts://` over TLS), which MQTT apps take as it is.
    `broker_url` is mqtt[s]://host:port, without credentials."""
    u = urlsplit(broker_url)
    tls = u.scheme == "mqtts"
    host, port = u.hostname or "", u.port or (8883 if tls else 1883)
    if kind == "owntracks":
        config = {
            "_type": "configuration",
            "mode": 0,  # MQTT
            "host": host,
            "port": port,
            "tls": tls,
            "auth": True,
            "username": device_id,
            "password": secret,
            "deviceId": "phone",
        }
        inline = base64.b64encode(json.dumps(config, separators=(",", ":")).encode()).decode()
        return f"owntracks:///config?inline={quote(inline, safe='')}"
    where = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"{u.scheme}://{quote(device_id, safe='')}:{quote(secret, safe='')}@{where}:{port}"
