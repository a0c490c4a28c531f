"""Topic routing: which handler reads which topic (the contract is docs/asyncapi.yaml)."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import TypeVar

from ingest import patrol_logs, sensors, tasks, units, vessels
from ingest.context import HandlerContext, Rejected
from store.ops import AisFragment, DeadLetter, Ignored, Op, PatrolLogSubmission

Result = list[Op | AisFragment | Ignored]
Handler = Callable[..., Result]
Item = TypeVar("Item", bound=Op | AisFragment | Ignored)

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
        (re.compile(rf"^{p}/units/({ID})/dispatch$"), _own_notice),
        (re.compile(rf"^{p}/sensors/({ID})/reading$"), sensors.handle_reading),
        (re.compile(rf"^{p}/sensors/({ID})/profile$"), sensors.handle_profile),
        (re.compile(rf"^{p}/sensors/({ID})/alert$"), sensors.handle_alert),
        (re.compile(rf"^{p}/ais/({ID})/nmea$"), vessels.handle_nmea),
        (re.compile(rf"^{p}/ais/({ID})/json$"), vessels.handle_aiscatcher),
        (re.compile(rf"^owntracks/({ID})/({ID})$"), units.handle_owntracks),
    ]


def _own_notice(*_args: object) -> Result:
    return [Ignored("own_notice", "the centre's notice to a unit")]


def device_time(item: Op | AisFragment | Ignored) -> int | None:
    """The latest time an operation's device claims: its `ts` (a patrol log: also the end of
    the window it speaks for); None for what carries none (a dead letter, an ignored message;
    an AIS part, whose group's operations are checked when it completes)."""
    if isinstance(item, DeadLetter | AisFragment | Ignored):
        return None
    if isinstance(item, PatrolLogSubmission):
        return max(item.ts, item.to_ms)
    return item.ts


def refuse_future(
    result: list[Item], topic: str, raw: bytes, received_ms: int, max_ahead_ms: int
) -> list[Item] | list[DeadLetter]:
    """A message's operations, or, when any of them is dated more than `max_ahead_ms` after the
    message's receipt (the server's clock), the whole message as one `ts_future` dead letter.
    Only a device clock ahead can date a message after its arrival; applied, a position dated
    2100 would hold the unit's live state for good and a task report would set tomorrow as the
    time on scene. One dead letter for the whole message, as for every other refusal, so the
    dead-letter counters still count refused messages and no part of one is applied."""
    latest = max(
        (t for item in result if (t := device_time(item)) is not None), default=received_ms
    )
    ahead = latest - received_ms
    if ahead <= max_ahead_ms:
        return result
    detail = f"ts {ahead / 1000:.0f} s ahead of its receipt (at most {max_ahead_ms // 1000} s)"
    return [DeadLetter("ts_future", topic, raw, detail)]


class Router:
    def __init__(self, prefix: str, max_payload_bytes: int, max_future_s: int) -> None:
        self.routes = _routes(prefix)
        self.max_payload_bytes = max_payload_bytes
        self.max_future_ms = max_future_s * 1000

    def handle(self, topic: str, payload: bytes, ctx: HandlerContext) -> Result:
        """Never raises: a message is either turned into ops or dead-lettered with a reason."""
        return self.within_clock(self._route(topic, payload, ctx), topic, payload, ctx.received_ms)

    def within_clock(
        self, result: list[Item], topic: str, raw: bytes, received_ms: int
    ) -> list[Item] | list[DeadLetter]:
        """`refuse_future` with this router's allowance: for every handler result, and for the
        operations of an AIS message completed from parts of several payloads."""
        return refuse_future(result, topic, raw, received_ms, self.max_future_ms)

    def _route(self, topic: str, payload: bytes, ctx: HandlerContext) -> Result:
        try:
            if len(payload) > self.max_payload_bytes:
                raise Rejected("oversized", f"{len(payload)} bytes > {self.max_payload_bytes}")
            if not payload.strip():  # nothing to read on any topic (also: a retained clear)
                raise Rejected("empty_payload", f"{len(payload)} bytes, blank")
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
