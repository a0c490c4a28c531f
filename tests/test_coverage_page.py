"""The coverage page's pure parts (map features, colour scale, table rows, CSV, trend, patrol-log
list) and its callbacks posted as Dash's renderer posts them, with a real Redis."""

from __future__ import annotations

import csv
import io

import h3
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from callbacks.coverage import query
from config.settings import Settings
from dashboard.viewer import LANG_KEY
from domain.clock import fixed
from domain.coverage_places import CoverageGeography
from ingest.coverage import grid_resolution
from layouts.coverage import Ids
from store import coverage, users
from tests.helpers import (
    CELL,
    PASSWORD,
    local_date,
    local_ms,
    make_app,
    post_callback,
    signed_in,
    walk_around_cell,
    write_patrol_unit,
)
from views.coverage import (
    blind_spots_csv,
    level_class,
    logs_view,
    subdistricts_view,
    table_rows,
    trend_figure,
)
from views.coverage_map import (
    PRESENCE_BREAKS_H,
    PRESENCE_COLOURS,
    hexagon,
    legend_rows,
    place_cell,
    place_layers,
    presence_class,
    presence_layers,
    tooltip,
)

NOW = 1_790_000_000_000  # 2026-09-21 22:13:20 in Shenzhen
H = 3_600_000


def _spot(cov: CoverageGeography, pid: str, last: int | None, owner: str | None = None) -> dict:
    p = cov.places[pid]
    return {
        "id": p.id,
        "kind": p.kind,
        "label": p.label,
        "subdistrict": p.subdistrict,
        "community": p.community,
        "owner": owner or p.owner,
        "requirement_h": p.requirement_h,
        "last_visit_ms": last,
        "last_unit": "F-1" if last else None,
        "hours_since": None if last is None else round((NOW - last) / H, 1),
    }


# -- colour scale and heatmap ------------------------------------------------------------------


@pytest.mark.parametrize("window", ["hour", "today", "7d"])
def test_presence_classes_rise_with_presence_through_every_colour(window: str) -> None:
    breaks = PRESENCE_BREAKS_H[window]
    assert len(breaks) == len(PRESENCE_COLOURS) - 1 and list(breaks) == sorted(breaks)
    assert presence_class(0.001, window) == 0
    for i, b in enumerate(breaks):
        assert presence_class(b * 0.999, window) == i
        assert presence_class(b, window) == i + 1
    assert presence_class(1e6, window) == len(PRESENCE_COLOURS) - 1
    rows = legend_rows(window)
    assert [c for c, _ in rows] == list(PRESENCE_COLOURS)
    assert rows[0][1] == f"< {breaks[0]:g}" and rows[-1][1] == f"≥ {breaks[-1]:g}"


def test_the_hexagon_is_the_h3_boundary_as_a_closed_lon_lat_ring() -> None:
    ring = hexagon(CELL)["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]
    lon, lat = ring[0]
    assert 114 < lon < 115 and 22 < lat < 23  # GeoJSON order: lon first
    assert (
        h3.latlng_to_cell(sum(p[1] for p in ring[:6]) / 6, sum(p[0] for p in ring[:6]) / 6, 7)
        == CELL
    )


def test_presence_is_split_into_one_layer_per_colour_class() -> None:
    cells = list(h3.grid_disk(CELL, 1))[:3]
    layers = presence_layers(
        {
            cells[0]: 60,
            cells[1]: 3 * 3600,
            cells[2]: 40 * 3600,
            "not-a-cell": 999,
            "87411cc4dffffff": 0,
        },
        "today",
    )
    assert len(layers) == len(PRESENCE_COLOURS)
    where = {f["properties"]["id"]: i for i, fc in enumerate(layers) for f in fc["features"]}
    assert where == {
        f"presence:{cells[0]}": 0,
        f"presence:{cells[1]}": 3,
        f"presence:{cells[2]}": 4,
    }
    (f,) = layers[3]["features"]
    assert f["properties"]["hours"] == 3.0 and f["geometry"]["type"] == "Polygon"


def test_place_layers_outline_blind_cells_and_colour_coast_segments(cov: CoverageGeography) -> None:
    coast_ok, coast_blind = "coast-kuichong-01", "coast-kuichong-02"
    sea = next(p.id for p in cov.places.values() if p.kind == "sea")
    last = {CELL: NOW - 2 * H, coast_ok: NOW - H}
    blind = [pid for pid in cov.places if pid not in last]
    owners = {**{pid: p.owner for pid, p in cov.places.items()}, CELL: "<b>张三</b>"}
    layers = place_layers(cov, owners, last, blind, {CELL: 5400.0}, NOW, "zh")
    ids = {k: {f["properties"]["id"] for f in fc["features"]} for k, fc in layers.items()}
    assert ids["grid"] == {CELL}
    assert sea in ids["blind"] and CELL not in ids["blind"]
    assert coast_ok in ids["coast_ok"] and coast_blind in ids["coast_blind"]
    assert coast_ok not in ids["coast_blind"]
    assert len(ids["grid"] | ids["blind"]) == len(cov.land_ids) + len(cov.sea_ids)
    assert len(ids["coast_ok"] | ids["coast_blind"]) == len(cov.coast_ids)
    (cell,) = layers["grid"]["features"]
    tip = cell["properties"]["tooltip"]
    assert "&lt;b&gt;张三&lt;/b&gt;" in tip and "<b>张三" not in tip  # escaped: shown as HTML
    assert "上次巡查" in tip and "2.0 小时前" in tip and "巡查时长 1.5 小时" in tip
    coast = next(
        f for f in layers["coast_blind"]["features"] if f["properties"]["id"] == coast_blind
    )
    assert coast["geometry"]["type"] == "LineString"
    assert "从未巡查" in coast["properties"]["tooltip"]
    assert cov.places[coast_blind].owner in coast["properties"]["tooltip"]


def test_a_place_knows_its_h3_cell(cov: CoverageGeography) -> None:
    sea = next(p for p in cov.places.values() if p.kind == "sea")
    assert place_cell(cov.places[CELL]) == CELL
    assert place_cell(sea) == sea.id.removeprefix("sea-")
    assert place_cell(cov.places["coast-kuichong-01"]) is None
    en = tooltip(cov.places[CELL], "Li", None, NOW, "en")
    assert "Never visited" in en and "Responsible: Li" in en and "presence" not in en


# -- figures, table, CSV, trend, logs -----------------------------------------------------------


def test_figures_read_against_the_target() -> None:
    assert level_class(100.0) == "ec-cov-met"
    assert level_class(95.0) == "ec-cov-near"
    assert level_class(12.5) == "ec-cov-low"
    assert level_class(None) == "ec-cov-none"
    kinds = {
        "land": {"covered": 3, "total": 4, "percent": 75.0},
        "coast": {"covered": 2, "total": 2, "percent": 100.0},
        "sea": {"covered": 0, "total": 0, "percent": None},
    }
    table = str(subdistricts_view({"district": kinds, "nanao": kinds}, "zh"))
    assert "南澳" in table and "75%" in table and "3/4" in table and "—" in table
    assert "葵涌" not in table  # a sub-district with no places is left out


def test_table_rows_and_csv_carry_owner_and_last_visit(cov: CoverageGeography) -> None:
    spots = [
        _spot(cov, "coast-kuichong-02", None),
        _spot(cov, CELL, NOW - 30 * H, owner='=HYPERLINK("http://x")'),
    ]
    rows = table_rows(spots, "zh")
    assert rows[0]["last_visit"] == "从未巡查" and rows[0]["hours_since"] is None
    assert rows[0]["owner"] == cov.places["coast-kuichong-02"].owner
    assert rows[1]["last_visit"] == "09-20 16:13" and rows[1]["hours_since"] == 30.0
    assert rows[1]["kind"] == "陆域网格" and rows[1]["subdistrict"] == "葵涌"

    labels = [
        row["place"]
        for row in table_rows(
            [_spot(cov, "coast-kuichong-03", None), *spots, _spot(cov, CELL, NOW - 40 * H)], "zh"
        )
    ]
    assert labels == ["kuichong-coast-02", "kuichong-coast-03", "kuichong-10", "kuichong-10"]

    text = blind_spots_csv(spots, "zh")
    assert text.startswith("\ufeff")
    head, never, cell = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert head[5] == "责任人" and head[7] == "上次巡查"
    assert never[0] == "coast-kuichong-02" and never[5] == cov.places["coast-kuichong-02"].owner
    assert never[7] == "从未巡查" and never[8] == ""
    assert cell[0] == CELL and cell[7] == "2026-09-20T16:13:20+08:00" and cell[8] == "30.0"
    assert cell[5] == '\'=HYPERLINK("http://x")'  # text to a spreadsheet, never a formula
    assert cell[9] == "F-1"
    en = list(csv.reader(io.StringIO(blind_spots_csv(spots, "en").removeprefix("\ufeff"))))
    assert en[0][5] == "Responsible" and en[1][7] == "Never visited"


def test_the_trend_has_three_lines_and_a_dashed_target() -> None:
    day = {"land": {"percent": 50.0}, "coast": {"percent": 100.0}, "sea": {"percent": None}}
    fig = trend_figure(
        [
            {"day": "2026-09-20", "figures": {"district": day}},
            {"day": "2026-09-21", "figures": {"district": day}},
        ],
        "en",
    )
    assert [tr.name for tr in fig.data] == [
        "Land grid coverage",
        "Coastline coverage",
        "Sea patrol coverage",
    ]
    assert list(fig.data[0].x) == ["2026-09-20", "2026-09-21"]
    assert list(fig.data[0].y) == [50.0, 50.0] and list(fig.data[2].y) == [None, None]
    (target,) = fig.layout.shapes
    assert target.y0 == target.y1 == 100 and target.line.dash == "dash"


def test_flagged_logs_say_each_reason_in_words(cov: CoverageGeography) -> None:
    logs = [
        {
            "id": "1-0",
            "unit_id": "F-1",
            "by": "chief",
            "from_ms": NOW - H,
            "to_ms": NOW,
            "flagged": 2,
            "checks": [
                {"place_id": CELL, "flag": "ok", "longest_stay_s": 600},
                {"place_id": "coast-kuichong-02", "flag": "not_visited", "longest_stay_s": 0},
                {"place_id": "87411cc4dffffff", "flag": "too_brief", "longest_stay_s": 12.4},
                {"place_id": "nowhere", "flag": "unknown_place"},
            ],
        },
        {
            "id": "0-0",
            "unit_id": "F-2",
            "by": "x",
            "from_ms": 0,
            "to_ms": 0,
            "flagged": 0,
            "checks": [],
        },
    ]
    text = str(logs_view(logs, cov.places, "zh"))
    assert "F-1" in text and "F-2" not in text and "chief" in text
    assert "kuichong-coast-02" in text and "轨迹未到达" in text
    assert "停留时间过短（12 秒）" in text and "没有这个点位" in text and "nowhere" in text
    assert cov.places[CELL].label not in text  # a supported claim is not listed
    assert "暂无存疑" in str(logs_view(logs[1:], cov.places, "zh"))


def test_the_query_drops_forged_choices() -> None:
    assert query("7d", ["boat", "foot", "boat"], ["water"]) == ("7d", ["boat", "foot"], ["water"])
    assert query("forever", ["tank", 3], "water") == ("today", [], [])
    assert query(None, None, None) == ("today", [], [])


# -- the callbacks, posted as the page posts them ------------------------------------------------


def _post(
    c: FlaskClient,
    outputs: list[tuple[str, str]],
    inputs: list[tuple[str, str, object]],
    state: list[tuple[str, str, object]] = (),
) -> tuple[int, dict]:
    def spec(i: str, p: str) -> str:
        return f"{i}.{p}"

    out = (
        spec(*outputs[0])
        if len(outputs) == 1
        else ".." + "...".join(spec(*o) for o in outputs) + ".."
    )
    body = {
        "output": out,
        "outputs": [{"id": i, "property": p} for i, p in outputs]
        if len(outputs) > 1
        else {"id": outputs[0][0], "property": outputs[0][1]},
        "changedPropIds": [spec(*inputs[0][:2])],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }
    resp = post_callback(c, body)
    return resp.status_code, (resp.get_json() or {}).get("response", {})


def _refresh(
    c: FlaskClient, window: str = "today", kinds: list | None = None, seen: object = None
) -> tuple[int, dict]:
    outputs = [
        (Ids.UPDATED, "children"),
        (Ids.RANGE, "children"),
        (Ids.SIGNATURE, "data"),
        (Ids.FIGURES, "children"),
        (Ids.SUBDISTRICTS, "children"),
        (Ids.LEGEND, "children"),
        (Ids.TREND, "figure"),
    ]
    return _post(
        c,
        outputs,
        [
            (Ids.TICK, "n_intervals", 1),
            (Ids.WINDOW, "value", window),
            (Ids.KINDS, "value", kinds),
            (Ids.DEPARTMENTS, "value", None),
            (Ids.CHANGED, "data", None),
        ],
        [(Ids.SIGNATURE, "data", seen)],
    )


FOLLOWERS = (
    [(f"{Ids.PRESENCE}-{i}", "data") for i in range(len(PRESENCE_COLOURS))],
    [(Ids.GRID, "data"), (Ids.BLIND, "data"), (Ids.COAST_OK, "data"), (Ids.COAST_BLIND, "data")],
    [(Ids.TABLE_TITLE, "children"), (Ids.TABLE, "data")],
)


def _follow(c: FlaskClient, sig: object, window: str = "today", kinds: list | None = None) -> dict:
    """The map layers and the blind-spot list that follow a refresh's new signature."""
    out: dict = {}
    for outputs in FOLLOWERS:
        status, part = _post(
            c,
            outputs,
            [(Ids.SIGNATURE, "data", sig)],
            [
                (Ids.WINDOW, "value", window),
                (Ids.KINDS, "value", kinds),
                (Ids.DEPARTMENTS, "value", None),
            ],
        )
        assert status == 200
        out |= part
    return out


def test_the_refresh_shows_a_patrol_and_sends_nothing_new_while_nothing_changed(
    settings: Settings, r: redis.Redis, cov: CoverageGeography, instant: int
) -> None:
    users.create_user(r, "leader", "leader", PASSWORD)
    write_patrol_unit(r, "F-1")
    # a two-minute walk that ended before now, today (just after midnight: from midnight on)
    t0 = max(instant - 600_000, local_ms(local_date(instant)))
    coverage.record(r, walk_around_cell("F-1", 120, t0=t0), cov, grid_resolution(cov))
    c = signed_in(make_app(settings, clock=fixed(instant)), "leader")
    status, out = _refresh(c)
    assert status == 200
    assert "1 / 共 93" in str(out[Ids.FIGURES]["children"])
    sig = out[Ids.SIGNATURE]["data"]
    drawn = _follow(c, sig)
    heat = [
        f["properties"]["id"]
        for i in range(len(PRESENCE_COLOURS))
        for f in drawn[f"{Ids.PRESENCE}-{i}"]["data"]["features"]
    ]
    assert heat == [f"presence:{CELL}"]
    assert CELL in {f["properties"]["id"] for f in drawn[Ids.GRID]["data"]["features"]}
    rows = drawn[Ids.TABLE]["data"]
    assert CELL not in {row["id"] for row in rows} and len(rows) == len(cov.places) - 1
    assert f"（{len(rows)} 处）" in drawn[Ids.TABLE_TITLE]["children"]
    assert _follow(c, "not-a-signature") == drawn  # another process: the same answer again
    status, again = _refresh(c, seen=sig)  # unchanged: only the clock and the range
    assert status == 200 and set(again) == {Ids.UPDATED, Ids.RANGE}
    status, boats = _refresh(c, kinds=["boat"], seen=sig)  # a filter is a new answer
    assert boats[Ids.SIGNATURE]["data"] != sig
    boats = _follow(c, boats[Ids.SIGNATURE]["data"], kinds=["boat"])
    assert all(
        not boats[f"{Ids.PRESENCE}-{i}"]["data"]["features"] for i in range(len(PRESENCE_COLOURS))
    )
    assert CELL in {row["id"] for row in boats[Ids.TABLE]["data"]}


def _reassign(c: FlaskClient, place: object, owner: object) -> tuple[int, dict]:
    return _post(
        c,
        [(Ids.REASSIGN_NOTE, "children"), (Ids.REASSIGN_OWNER, "value"), (Ids.CHANGED, "data")],
        [(Ids.REASSIGN_SAVE, "n_clicks", 1)],
        [(Ids.REASSIGN_PLACE, "value", place), (Ids.REASSIGN_OWNER, "value", owner)],
    )


def test_only_an_admin_reassigns_an_owner_and_a_bad_one_is_refused(
    server: Flask, r: redis.Redis, cov: CoverageGeography
) -> None:
    for role in ("operator", "dispatcher", "leader"):
        assert _reassign(signed_in(server, role), CELL, "李四")[0] == 403
    assert coverage.owners(r, cov)[CELL] == cov.places[CELL].owner
    admin = signed_in(server, "admin")
    with admin.session_transaction() as session:
        session[LANG_KEY] = "en"
    for place, owner in (
        (CELL, "  "),
        ("no-such-place", "李四"),
        (CELL, "x" * 41),
        (CELL, "李\n四"),
        (None, "李四"),
    ):
        status, out = _reassign(admin, place, owner)
        assert status == 200 and "Choose a place" in out[Ids.REASSIGN_NOTE]["children"]
        assert Ids.CHANGED not in out  # nothing changed: nothing to draw again
    assert coverage.owners(r, cov)[CELL] == cov.places[CELL].owner
    status, out = _reassign(admin, CELL, " 李四 ")
    assert status == 200 and out[Ids.REASSIGN_OWNER]["value"] == ""
    assert "李四" in out[Ids.REASSIGN_NOTE]["children"] and out[Ids.CHANGED]["data"]
    assert coverage.owners(r, cov)[CELL] == "李四"


def _coverage_page(c: FlaskClient) -> str:
    """/coverage as Dash's router builds it for this user."""
    status, out = _post(
        c,
        [("_pages_content", "children"), ("_pages_store", "data")],
        [("_pages_location", "pathname", "/coverage"), ("_pages_location", "search", "")],
    )
    assert status == 200
    return str(out["_pages_content"]["children"])


def test_the_form_is_in_an_admins_page_only(server: Flask, cov: CoverageGeography) -> None:
    for role in ("operator", "dispatcher", "leader"):
        c = signed_in(server, role)
        page = _coverage_page(c)
        assert Ids.TABLE in page and Ids.REASSIGN not in page and Ids.REASSIGN_SAVE not in page
        places = _post(
            c, [(Ids.REASSIGN_PLACE, "options")], [(Ids.REASSIGN_NOTE, "children", None)]
        )
        assert places[0] == 403
    admin = signed_in(server, "admin")
    assert Ids.REASSIGN_SAVE in _coverage_page(admin)
    status, out = _post(
        admin, [(Ids.REASSIGN_PLACE, "options")], [(Ids.REASSIGN_NOTE, "children", None)]
    )
    assert status == 200
    options = out[Ids.REASSIGN_PLACE]["options"]
    assert len(options) == len(cov.places) and cov.places[CELL].owner in str(options)
