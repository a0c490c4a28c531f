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


def _own_notice(*_args: object) -> Result:
    return [Ignored("own_notice", "the centre's notice to a unit")]


# (section, leaf) of `{prefix}/{section}/{id}/{leaf}` -> its handler
_ROUTES: dict[tuple[str, str], Handler] = {
    ("units", "position"): units.handle_position,
    ("units", "profile"): units.handle_profile,
    ("units", "status"): units.handle_status,
    ("units", "task"): tasks.handle_task,
    ("units", "patrol-log"): patrol_logs.handle_patrol_log,
    # the centre's own notices to units, under the same filter: nothing to ingest
    ("units", "dispatch"): _own_notice,
    ("sensors", "reading"): sensors.handle_reading,
    ("sensors", "profile"): sensors.handle_profile,
    ("sensors", "alert"): sensors.handle_alert,
    ("ais", "nmea"): vessels.handle_nmea,
    ("ais", "json"): vessels.handle_aiscatcher,
}
_OWNTRACKS = re.compile(rf"^owntracks/({ID})/({ID})$")


class _Routes:
    """A topic's handler and the ids it names: one match of the topic's shape and a lookup,
    whatever the number of routes (a regex per route cost the last of them ~3 us a message)."""

    def __init__(self, prefix: str) -> None:
        sections = "|".join(sorted({section for section, _leaf in _ROUTES}))
        self.shape = re.compile(rf"^{re.escape(prefix)}/({sections})/({ID})/([a-z-]+)$")

    def find(self, topic: str) -> tuple[Handler, tuple[str, ...]] | None:
        m = self.shape.match(topic)
        if m is not None:
            handler = _ROUTES.get((m[1], m[3]))
            return None if handler is None else (handler, (m[2],))
        m = _OWNTRACKS.match(topic)
        return None if m is None else (units.handle_owntracks, m.groups())


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
        self.routes = _Routes(prefix)
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
            found = self.routes.find(topic)
            if found is None:
                raise Rejected("unknown_topic", topic[:200])
            handler, ids = found
            ctx.topic = topic
            return handler(*ids, payload, ctx)
        except Rejected as r:
            return [r.dead_letter(topic, payload)]
        except Exception as e:  # a bug must not stop the worker; keep the message for replay
            tb = traceback.format_exception_only(e)[-1].strip()
            return [DeadLetter("internal_error", topic, payload, tb[:400])]
