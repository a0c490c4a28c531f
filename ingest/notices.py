"""Dispatch notices from the outbox stream to the units over MQTT (QoS 1), at least once.

An assignment writes its notices into `stream:outbox` in the same atomic step as the assignment
(store/incident_scripts.py), so a notice can never be lost between "assigned" and "sent", even if
the web app dies right after. Workers read the outbox as one consumer group: an entry is deleted
only after the broker's PUBACK; entries a dead worker took are claimed again after CLAIM_AFTER_MS.
A unit may therefore see a notice twice and handles it once per incident.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import paho.mqtt.client as mqtt
import redis

from store import keys

log = logging.getLogger("ecocommand.ingest")

BATCH = 50
CLAIM_AFTER_MS = 30_000
PUBACK_WAIT_S = 2.0


def notice_topic(prefix: str, unit_id: str) -> str:
    return f"{prefix}/units/{unit_id}/dispatch"


class NoticePublisher:
    def __init__(self, r: redis.Redis, client: mqtt.Client, prefix: str) -> None:
        self.r, self.client, self.prefix = r, client, prefix
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        try:
            r.xgroup_create(keys.OUTBOX, keys.OUTBOX_GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as e:
            if "BUSYGROUP" not in str(e):  # the group exists already: fine
                raise

    def _due(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # entries some worker took but never confirmed (its own too: the broker was away) ...
        _next, claimed, *_ = self.r.xautoclaim(
            keys.OUTBOX, keys.OUTBOX_GROUP, self.consumer, min_idle_time=CLAIM_AFTER_MS, count=BATCH
        )
        # ... and the new ones
        fresh = self.r.xreadgroup(keys.OUTBOX_GROUP, self.consumer, {keys.OUTBOX: ">"}, count=BATCH)
        return [*claimed, *[e for _stream, entries in fresh for e in entries]]

    def publish_due(self) -> int:
        """Publish what is waiting; returns how many the broker confirmed."""
        sent: list[tuple[bytes, Any]] = []
        for entry_id, fields in self._due():
            if not fields:  # deleted meanwhile
                self.r.xack(keys.OUTBOX, keys.OUTBOX_GROUP, entry_id)
                continue
            unit = fields.get(b"unit", b"").decode("utf-8", "replace")
            info = self.client.publish(
                notice_topic(self.prefix, unit), fields.get(b"notice", b"{}"), qos=1
            )
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                sent.append((entry_id, info))
        done = 0
        for entry_id, info in sent:
            try:
                info.wait_for_publish(timeout=PUBACK_WAIT_S)
            except RuntimeError:  # disconnected meanwhile: claimed again later
                continue
            if info.is_published():
                pipe = self.r.pipeline(transaction=True)
                pipe.xack(keys.OUTBOX, keys.OUTBOX_GROUP, entry_id)
                pipe.xdel(keys.OUTBOX, entry_id)
                pipe.execute()
                done += 1
        if done:
            log.info("published %d dispatch notice(s)", done)
        return done
