"""The roster of broker identities in Redis: field devices and ecocommand's own services.

A revoked device keeps its record (kind, when it was added and revoked) so `devices list` shows
it, but loses its secret hash: nothing can authenticate as it again until it is added anew.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis

from domain import devices
from store import audit, keys
from store.codec import text


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: str
    secret_hash: str  # "" once revoked
    created_ms: int
    revoked_ms: int
    source: str  # who added it: "cli", "simulator", "supervisor" (the services' accounts)

    @property
    def active(self) -> bool:
        return bool(self.secret_hash) and not self.revoked_ms


def add(
    r: redis.Redis, device_id: str, kind: str, now_ms: int, *, source: str = "cli", by: str = ""
) -> str:
    """Adds a device (or gives a revoked one a new secret) and returns its secret, which is not
    kept. ValueError if the id is taken by an active device that another source added: the
    simulator and the supervisor renew only their own devices' secrets at every start, never
    one an administrator added. `by`: who, for the audit log (default: the source)."""
    devices.check_id(device_id, kind)
    old = get(r, device_id)
    if old and old.active and (source == "cli" or old.source != source):
        raise ValueError(f"device {device_id!r} already exists (revoke it first)")
    if old and old.kind != kind:
        raise ValueError(f"device {device_id!r} is a {old.kind}, not a {kind}")
    secret = devices.new_secret()
    pipe = r.pipeline(transaction=True)
    pipe.hset(
        keys.device(device_id),
        mapping={
            "kind": kind,
            "secret": devices.hash_secret(secret),
            "created_ms": now_ms,
            "revoked_ms": 0,
            "source": source,
        },
    )
    pipe.sadd(keys.DEVICES, device_id)
    pipe.set(keys.DEVICES_VERSION, secrets.token_hex(8))
    pipe.execute()
    change = {"kind": kind, "source": source, "renewed": bool(old)}
    audit.append(r, by or f"system:{source}", "device.added", f"device:{device_id}", change, now_ms)
    return secret


def revoke(r: redis.Redis, device_id: str, now_ms: int, by: str = "system") -> bool:
    """False if there is no such active device."""
    d = get(r, device_id)
    if d is None or not d.active:
        return False
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.device(device_id), mapping={"secret": "", "revoked_ms": now_ms})
    pipe.set(keys.DEVICES_VERSION, secrets.token_hex(8))
    pipe.execute()
    audit.append(r, by, "device.revoked", f"device:{device_id}", {"kind": d.kind}, now_ms)
    return True


def get(r: redis.Redis, device_id: str) -> Device | None:
    if not devices.ID_RE.fullmatch(device_id):
        return None
    h = {text(k): text(v) for k, v in r.hgetall(keys.device(device_id)).items()}
    if not h:
        return None
    return Device(
        device_id,
        h.get("kind", ""),
        h.get("secret", ""),
        int(h.get("created_ms") or 0),
        int(h.get("revoked_ms") or 0),
        h.get("source", ""),
    )


def roster(r: redis.Redis) -> list[Device]:
    ids = sorted(text(i) for i in r.smembers(keys.DEVICES))
    return [d for d in (get(r, i) for i in ids) if d]


def version(r: redis.Redis) -> str:
    return text(r.get(keys.DEVICES_VERSION))
