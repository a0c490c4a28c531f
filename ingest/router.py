"""Topic routing: which handler reads which topic (the contract is docs/asyncapi.yaml)."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable

from ingest import patrol_logs, sensors, tasks, units, vessels
from ingest.context import HandlerContext, Rejected
from store.ops import AisFragment, DeadLetter, Op

Result = list[Op | AisFragment]
Handler = Callable[..., Result]

ID = r"[A-Za-z0-9_.:-]{1,64}"


def subscriptions(prefix: str, share_group: str | None = None) -> list[str]:
    """Topic filters the worker subscribes to; everything under them that no route takes is
    dead-lettered as unknown_topic."""
    filters = [f"{prefix}/units/#", f"{prefix}/sensors/#", f"{prefix}/ais/#", "owntracks/#"]
    return [f"$share/{share_group}/{f}" for f in filters] if share_group else filters


def _routes(prefix: str) -> list[tuple[re.Pattern[str], Handler]]:
    p = re.escape(prefix)
    return [
        (re.compile(rf"^{p}/units/({ID})/position$"), units.handle_position),
        (re.compile(rf"^{p}/units/({ID})/profile$"), units.handle_profile),
        (re.compile(rf"^{p}/units/({ID})/status$"), units.handle_status),
        (re.compile(rf"^{p}/units/({ID})/task$"), tasks.handle_task),
        (re.compile(rf"^{p}/units/({ID})/patrol-log$"), patrol_logs.handle_patrol_log),
        # the centre's own notices to units, under the same filter: nothing to ingest
        (re.compile(rf"^{p}/units/({ID})/dispatch$"), lambda *_args: []),
        (re.compile(rf"^{p}/sensors/({ID})/reading$"), sensors.handle_reading),
        (re.compile(rf"^{p}/sensors/({ID})/profile$"), sensors.handle_profile),
        (re.compile(rf"^{p}/sensors/({ID})/alert$"), sensors.handle_alert),
        (re.compile(rf"^{p}/ais/({ID})/nmea$"), vessels.handle_nmea),
        (re.compile(rf"^{p}/ais/({ID})/json$"), vessels.handle_aiscatcher),
        (re.compile(rf"^owntracks/({ID})/({ID})$"), units.handle_owntracks),
    ]


class Router:
    def __init__(self, prefix: str, max_payload_bytes: int) -> None:
        self.routes = _routes(prefix)
        self.max_payload_bytes = max_payload_bytes

    def handle(self, topic: str, payload: bytes, ctx: HandlerContext) -> Result:
        """Never raises: a message is either turned into ops or dead-lettered with a reason."""
        try:
            if len(payload) > self.max_payload_bytes:
                raise Rejected("oversized", f"{len(payload)} bytes > {self.max_payload_bytes}")
            for pattern, handler in self.routes:
                m = pattern.match(topic)
                if m:
                    ctx.topic = topic
                    return handler(*m.groups(), payload, ctx)
            raise Rejected("unknown_topic", topic[:200])
        except Rejected as r:
            return [r.dead_letter(topic, payload)]
        except Exception as e:  # a bug must not stop the worker; keep the message for replay
            tb = traceback.format_exception_only(e)[-1].strip()
            return [DeadLetter("internal_error", topic, payload, tb[:400])]
