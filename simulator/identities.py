"""The simulator's broker identities (issue 12): one roster device per simulated unit, AIS shore
receiver and water-quality sensor, each publishing only under its own topics.

At every start `provision` adds them to the roster (store/devices.py) with source "simulator",
which renews the secrets of the devices the simulator added before; the secrets are kept in
memory only, for the connections (simulator/links.py). An id that someone else added (an
administrator with `devices add`) is not taken over: it is logged and skipped, and whatever the
simulation would publish as it is not sent. `device_for` names the identity a message is
published as, from its topic: the same split the broker's rules make (domain/devices.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from infra.connections import Unreachable, redis_client
from store import devices as roster

log = logging.getLogger("ecocommand.simulator")

REDIS_WAIT_S = 5.0  # as long as the other processes wait for Redis before giving up
_BRANCHES = {"units": "unit", "ais": "ais", "sensors": "sensor"}


@dataclass(frozen=True, slots=True)
class Identity:
    device_id: str  # the roster id, which is also the MQTT user name
    kind: str
    secret: str = field(repr=False)  # never logged, never written anywhere


def device_for(topic: str, prefix: str) -> tuple[str, str] | None:
    """(kind, id) of the device a message on `topic` is published as: the device its topic
    names ({prefix}/units/{id}/..., {prefix}/ais/{id}/..., {prefix}/sensors/{id}/...,
    owntracks/{user}/...). None for a topic no device owns."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == prefix and parts[1] in _BRANCHES and parts[2]:
        return _BRANCHES[parts[1]], parts[2]
    if len(parts) >= 3 and parts[0] == "owntracks" and parts[1]:
        return "owntracks", parts[1]
    return None


def provision(r: redis.Redis, wanted: Iterable[tuple[str, str]], now_ms: int) -> list[Identity]:
    """Adds (or renews) each (kind, id) in the roster as the simulator's; the identities it may
    use, in order. An id another source added, or one of another kind, is skipped."""
    out: list[Identity] = []
    for kind, device_id in wanted:
        try:
            secret = roster.add(r, device_id, kind, now_ms, source="simulator")
        except ValueError as e:
            log.warning("skipping device %s (%s): %s; not publishing as it", device_id, kind, e)
            continue
        out.append(Identity(device_id, kind, secret))
    return out


def roster_client(url: str, stop: threading.Event) -> redis.Redis | None:
    """Redis for the roster, waiting up to REDIS_WAIT_S for it (Unreachable after that), or
    None if `stop` is set meanwhile."""
    deadline = time.monotonic() + REDIS_WAIT_S
    while True:
        try:
            return redis_client(url, wait_s=0)
        except Unreachable:
            if time.monotonic() > deadline:
                raise
        if stop.wait(0.3):
            return None
