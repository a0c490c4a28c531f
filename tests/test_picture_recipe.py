"""A record changed from the fields that changed is the record made whole again (domain/picture
Recipe): the live picture's updates take the first way, its whole reads the second, so they
must never disagree. Properties over any held row and any write to it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import picture as pic
from services.picture import KEPT
from store import live_changes

NOW = 1_796_400_000_000


def _value(field: str, convert: type) -> st.SearchStrategy[Any]:
    """What a write may put in a field (a hash holds no null): mostly what devices send, so
    that most rows are drawn, and now and then what they should not."""
    if field in ("lat", "lon"):
        low = 22.4 if field == "lat" else 114.3
        return st.floats(low, low + 0.3) | st.sampled_from([-200.0, 95.0, 181.0])
    if field in ("cog", "heading", "course"):
        return st.floats(0, 359.9) | st.sampled_from([360.0, 511.0, -1.0])
    if field == "ts":
        heard = st.integers(NOW - int(pic.VESSEL_GONE_S * 1000), NOW)
        return heard | st.sampled_from([0, NOW - 2 * int(pic.VESSEL_GONE_S * 1000)])
    if convert is float:
        return st.floats(-1, 100, allow_nan=False)
    if convert is int:
        return st.integers(0, 600)
    return st.sampled_from(["", "在岗", "en_route", "<b>x</b>", "=1+1"])


def _rows(kind: str, corrupt: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A held row (a corrupt field reads as None) or, not `corrupt`, the fields a write puts."""
    kept = KEPT[kind]
    assert kept is not None

    def value(f: str, t: type) -> st.SearchStrategy[Any]:
        return st.none() | _value(f, t) if corrupt else _value(f, t)

    return st.fixed_dictionaries({}, optional={f: value(f, t) for f, t in kept.items()})


def _held_and_written(kind: str) -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    return st.tuples(_rows(kind), _rows(kind, corrupt=False))


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(sorted(pic.RECIPES)).flatmap(
        lambda k: st.tuples(st.just(k), _held_and_written(k))
    )
)
def test_a_record_changed_from_the_changed_fields_is_the_record_made_again(
    case: tuple[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    kind, (held, written) = case
    recipe = pic.RECIPES[kind]
    before = recipe.record(held, "kuichong", NOW)
    if before is None:
        return  # not drawn: the picture makes it whole when it is
    row = held | written
    changed = {f for f, v in written.items() if held.get(f) != v}
    change = recipe.change(row, before, changed, NOW)
    again = recipe.record(row, "kuichong", NOW)
    if again is None:
        assert change is None
        return
    expected, gone = pic.diff({"X": before}, {"X": again})
    assert not gone
    assert ({"X": change} if change else {}) == expected


@settings(max_examples=300, deadline=None)
@given(_rows("unit"), _rows("unit", corrupt=False))
def test_applying_a_write_names_exactly_the_fields_whose_value_changed(
    held: dict[str, Any], fields: dict[str, Any]
) -> None:
    fields.pop("status_ts", None)
    row = dict(held)
    group = {"status_ts": (held.get("status_ts") or 0) + 1, **fields}  # newer than the held
    changed = live_changes.apply(row, [group], KEPT["unit"])
    keys = held.keys() | row.keys()
    assert changed == {f for f in keys if held.get(f) != row.get(f)}
    assert all(row.get(f) == v for f, v in fields.items())
