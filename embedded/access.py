"""Who may connect to the embedded broker, and where each identity may publish and subscribe.

The roster lives in Redis (store/devices.py) and changes while the broker runs: `devices add`
and `devices revoke` change a version stamp, which the broker polls every second; it then reloads
the roster and drops the connections of identities that are no longer active. amqtt's stock
plugins read a password file once at start and take fixed per-user topic lists, hence this.

Every refusal is counted per identity and reason (stats:mqtt:refused, shown by /healthz): under
MQTT 3.1.1 a broker cannot tell a publisher that its publish was refused. Identities outside the
roster are all counted as "unknown", so guessing names cannot grow the hash.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

import redis.asyncio as aioredis
from paho.mqtt.client import topic_matches_sub

from domain import devices
from store import keys
from store.codec import text

log = logging.getLogger("ecocommand.broker")

POLL_S = 1.0  # roster version poll and refusal flush: a revocation bites within ~2 s


class Refused(Exception):
    def __init__(self, identity: str, reason: str) -> None:
        super().__init__(f"{identity}: {reason}")
        self.identity, self.reason = identity, reason


class Gate:
    def __init__(self, r: aioredis.Redis, prefix: str, ingest_filters: list[str]) -> None:
        self.r = r
        self.prefix = prefix
        self.ingest_filters = ingest_filters
        # id -> (kind, secret hash); the hash is "" for a revoked device, which stays known so
        # its refusals are counted under its own name
        self.roster: dict[str, tuple[str, str]] = {}
        self.version: bytes | None = b"never read"
        self.refused: Counter[str] = Counter()
        # one reload at a time: two interleaved ones could leave the older roster in place
        self._loading = asyncio.Lock()

    # the roster ----------------------------------------------------------------------------
    async def load(self) -> bool:
        """Re-reads the roster if it changed; True if it did. Called at every CONNECT too, so a
        device added a moment ago is known at once."""
        async with self._loading:
            return await self._load()

    async def _load(self) -> bool:
        version = await self.r.get(keys.DEVICES_VERSION)
        if version == self.version:
            return False
        ids = [text(i) for i in await self.r.smembers(keys.DEVICES)]
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(keys.device(i), "kind", "secret", "revoked_ms")
        roster = {}
        for i, (kind, secret, revoked) in zip(ids, await pipe.execute(), strict=True):
            roster[i] = (text(kind), "" if int(revoked or 0) else text(secret))
        self.roster, self.version = roster, version
        return True

    def active(self, identity: str | None) -> bool:
        return bool(self.roster.get(identity or "", ("", ""))[1])

    # decisions -----------------------------------------------------------------------------
    def authenticate(self, username: str | None, password: str | None) -> str:
        """The identity of a client that may connect, else raises Refused."""
        if not username:
            raise Refused("anonymous", "anonymous")
        entry = self.roster.get(username)
        if entry is None:
            raise Refused("unknown", "unknown_identity")
        if not entry[1]:
            raise Refused(username, "revoked")
        if not devices.verify_secret(password or "", entry[1]):
            raise Refused(username, "bad_password")
        return username

    def kind(self, identity: str) -> str:
        return self.roster.get(identity, ("", ""))[0]

    def may_publish(self, identity: str | None, topic: str) -> bool:
        entry = self.roster.get(identity or "")
        return self.active(identity) and devices.publish_allowed(
            entry[0], identity or "", topic, self.prefix
        )

    def may_subscribe(self, identity: str | None, topic_filter: str) -> bool:
        entry = self.roster.get(identity or "")
        ok = self.active(identity) and devices.subscribe_allowed(
            entry[0], identity or "", topic_filter, self.prefix
        )
        if not ok:
            self.count(identity or "unknown", "subscribe_denied")
        return ok

    def for_worker(self, topic: str) -> bool:
        """Is this accepted message one the worker reads? Not the centre's own notices."""
        parts = topic.split("/")
        if len(parts) == 4 and parts[0] == self.prefix and parts[1:4:2] == ["units", "dispatch"]:
            return False
        return any(topic_matches_sub(f, topic) for f in self.ingest_filters)

    # counting ------------------------------------------------------------------------------
    def count(self, identity: str, reason: str) -> None:
        known = identity == "anonymous" or identity in self.roster
        self.refused[f"{identity if known else 'unknown'}|{reason}"] += 1

    async def flush(self) -> None:
        counts, self.refused = self.refused, Counter()
        if counts:
            pipe = self.r.pipeline(transaction=False)
            for field, n in counts.items():
                pipe.hincrby(keys.MQTT_REFUSED, field, n)
            await pipe.execute()

    async def watch(self, drop_revoked: Callable[[], object]) -> None:
        """Forever: reload the roster when it changes, drop revoked identities' connections,
        write the refusal counts. Redis being away only delays all three."""
        while True:
            await asyncio.sleep(POLL_S)
            try:
                if await self.load():
                    await drop_revoked()  # type: ignore[misc]
                await self.flush()
            except (OSError, aioredis.RedisError) as e:
                log.warning("roster or refusal counts: Redis unavailable (%s)", e)
            except Exception:  # a bug here must not end revocations for the broker's life
                log.exception("roster watch failed; trying again")
