"""How a timeline event reads on the dispatch panel and the replay page, in both languages: a
unit taken for more urgent work is named with the incident it went to."""

from __future__ import annotations

from views import dispatch, replay

TAKEN = {
    "from": "en_route",
    "to": "triaged",
    "by": "chief",
    "at_ms": 1_764_300_000_000,
    "reason": "渔船起火",
    "taken": "B-1,B-3",
    "for": "INC-20251128-0007",
}


def _text(component: object) -> str:
    children = getattr(component, "children", component)
    if isinstance(children, list):
        return " ".join(_text(c) for c in children)
    return str(children)


def test_the_dispatch_timeline_names_the_units_taken_and_where_they_went() -> None:
    zh = _text(dispatch.timeline_view({"timeline": [TAKEN]}, "zh"))
    en = _text(dispatch.timeline_view({"timeline": [TAKEN]}, "en"))
    assert "已研判 · chief — B-1,B-3 被抽调至 INC-20251128-0007 — 渔船起火" in zh
    assert "Triaged · chief — B-1,B-3 taken for INC-20251128-0007 — 渔船起火" in en


def test_the_replay_names_them_too() -> None:
    event = {"ts": TAKEN["at_ms"], "state": "triaged", "by": "chief", "reason": TAKEN["reason"]}
    assert replay.event_text({**event, "taken": "B-1", "for": "INC-X"}, "en").endswith(
        "Triaged chief B-1 taken for INC-X (渔船起火)"
    )
    assert "taken" not in replay.event_text(event, "en")  # an ordinary event: as before
