"""The live map's list of units and vessels and a unit's or vessel's panel (issue 17), in a real
browser: an operator types a vessel's MMSI into the list's filter, clicks it, and the map centres
on it and its panel shows its particulars (IMO, size from the server), last report, open alerts
and the link to its replay; units filtered by status and found by call sign; a row's follow
keeps the map on a vessel as it sails; a click on the map and a pick in the search open the
panel too. The search ranks a vessel above the district's "dapeng-…" cells and a sub-district
named as typed above a vessel holding the name. With 5,000 units and 3,000 vessels the list
draws 200 rows and says how many more. Screenshots at 1920x1080 and 1366x768 in zh and en; the
wall screen has no list."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from ingest import units as unit_handlers
from ingest import vessels
from ingest.context import HandlerContext
from ingest.worker import written_fields
from layouts.map import Ids
from store.ops import RaiseAlert
from store.writer import LiveStore
from tests.helpers import (
    click_marker,
    console_errors,
    page_text,
    screen,
    sign_in,
    switch_language,
    wait_for,
)

SHOTS = Path("/tmp")
SAILING, MOORED = 412440890, 412440891


def _now() -> int:
    return time.time_ns() // 1_000_000


def _write(r: redis.Redis, ops: list, now: int) -> None:
    """Written and announced as the worker does (the live pictures read the announcements)."""
    store = LiveStore(r, 3_600_000, 1000)
    out = store.write(ops, now)
    store.count_messages({"applied": len(ops)}, {}, written_fields(ops, out.verdicts))


def _vessel_ops(mmsi: int, lat: float, lon: float, speed: float, name: str | None) -> list:
    now = _now()
    ctx = HandlerContext(received_ms=now)
    reports: list[dict] = [
        {"class": "AIS", "type": 1, "mmsi": mmsi, "rxuxtime": now / 1000, "lat": lat,
         "lon": lon, "speed": speed, "course": 90.0, "heading": 90, "status": 0}
    ]  # fmt: skip
    if name:
        reports.append(
            {"class": "AIS", "type": 5, "mmsi": mmsi, "rxuxtime": now / 1000, "shipname": name,
             "callsign": "BVZK8", "shiptype": 30, "imo": 9123456, "to_bow": 20, "to_stern": 10,
             "to_port": 4, "to_starboard": 4}
        )  # fmt: skip
    return [o for rep in reports for o in vessels.handle_aiscatcher("rx", orjson.dumps(rep), ctx)]


def _vessel(r: redis.Redis, mmsi: int, lat: float, lon: float, speed: float = 6.0, name=None):
    _write(r, _vessel_ops(mmsi, lat, lon, speed, name), _now())


def _unit_ops(unit_id: str, name: str, status: str, lat: float, lon: float, callsign=None):
    now = _now()
    ctx = HandlerContext(received_ms=now)
    profile = {"unit_id": unit_id, "ts": now, "name": name, "department": "forestry",
               "kind": "vehicle", "level": "community", "skills": ["illegal_logging"]}  # fmt: skip
    if callsign:
        profile["callsign"] = callsign
    position = {"unit_id": unit_id, "seq": 1, "ts": now, "lat": lat, "lon": lon, "status": status}
    return unit_handlers.handle_profile(unit_id, orjson.dumps(profile), ctx) + (
        unit_handlers.handle_position(unit_id, orjson.dumps(position), ctx)
    )


def _zone_alert(r: redis.Redis, mmsi: int) -> None:
    now = _now()
    fields = {"kind": "geofence", "severity": "warning", "source": str(mmsi), "name": "溪涌湾",
              "lat": 22.47, "lon": 114.62, "message": f"MMSI {mmsi} in 溪涌湾"}  # fmt: skip
    _write(r, [RaiseAlert(alert_id=f"zone:{mmsi}:x:1", ts=now, fields=fields)], now)


def _centre(browser: webdriver.Chrome) -> tuple[float, float]:
    v = browser.execute_script("return window.ecocommand.map.live.view();")
    (s, w), (n, e) = v["bounds"]
    return (s + n) / 2, (w + e) / 2


def _rows(browser: webdriver.Chrome) -> list[dict]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#map-entities-rows .ec-entity-row'))"
        ".map(function (li) { return {layer: li.dataset.layer, id: li.dataset.id,"
        " status: li.dataset.status, text: li.innerText}; });"
    )


def _filter(browser: webdriver.Chrome, text: str) -> None:
    box = browser.find_element(By.ID, "map-entities-filter")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def _listed(browser: webdriver.Chrome, layer: str, n: int) -> None:
    wait_for(
        lambda: len([x for x in _rows(browser) if x["layer"] == layer]) >= n, 15, f"{n} {layer}"
    )


def _panel(browser: webdriver.Chrome) -> str:
    return page_text(browser, f"#{Ids.DETAIL_BOX}")


def test_an_operator_finds_a_vessel_in_the_list_by_mmsi_and_filters_units_by_status(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    _write(r, _unit_ops("U-T-01", "Alpha patrol", "available", 22.60, 114.45), _now())
    _write(r, _unit_ops("U-T-02", "Bravo patrol", "on_scene", 22.55, 114.50, "BZ-77"), _now())
    _write(r, _unit_ops("U-T-03", "Charlie patrol", "off_duty", 22.58, 114.47), _now())
    _vessel(r, SAILING, 22.47, 114.62, name="YUE DAPENG 88")
    _vessel(r, MOORED, 22.50, 114.58, speed=0.0)
    _vessel(r, MOORED + 1, 22.62, 114.40, name="YUE KUICHONG 7")
    _zone_alert(r, SAILING)
    screen(browser, 1366, 768)
    sign_in(browser, web, r, "operator", "duty")
    browser.get(web + "/")
    switch_language(browser, "en")
    _listed(browser, "units", 3)

    # units by status: on scene only, then by call sign (not in the pushed records)
    Select(browser.find_element(By.ID, "map-entities-status")).select_by_value("on_scene")
    wait_for(lambda: [x["id"] for x in _rows(browser)] == ["U-T-02"], 5, "on scene only")
    assert "On scene" in _rows(browser)[0]["text"]
    Select(browser.find_element(By.ID, "map-entities-status")).select_by_value("")
    _filter(browser, "bz-77")
    wait_for(lambda: [x["id"] for x in _rows(browser)] == ["U-T-02"], 5, "by call sign")

    # vessels: by MMSI, click, the map centres on it and its panel opens
    browser.find_element(By.ID, "map-entities-tab-vessels").click()
    _filter(browser, str(SAILING))
    wait_for(lambda: [x["id"] for x in _rows(browser)] == [str(SAILING)], 5, "by MMSI")
    assert "In a zone" in _rows(browser)[0]["text"]  # its open zone alert
    browser.find_element(By.CSS_SELECTOR, "#map-entities-rows .ec-entity-pick").click()
    lat, lon = _centre(browser)
    assert abs(lat - 22.47) < 0.002 and abs(lon - 114.62) < 0.002, (lat, lon)
    wait_for(lambda: "9123456" in _panel(browser), 10, "its particulars from the server")
    panel = _panel(browser)
    for shown in (
        "YUE DAPENG 88",
        "30 m × 8 m",
        "BVZK8",
        "6.0 kn",
        "Last report",
        "Vessel in a protected",
    ):
        assert shown in panel, (shown, panel)
    link = browser.find_element(By.CSS_SELECTOR, f"#{Ids.DETAIL_BOX} .ec-detail-replay")
    assert link.get_attribute("href").endswith(f"/replay?vessel={SAILING}")
    browser.save_screenshot(str(SHOTS / "entities-panel-en-1366x768.png"))

    # from the alert feed: a click on the alert's vessel opens its panel, the map on it
    browser.find_element(By.CSS_SELECTOR, f"#{Ids.DETAIL_BOX} .ec-detail-close").click()
    browser.execute_script("window.ecocommand.map.live.centre(22.60, 114.40);")
    source = f".ec-alert-source[data-source='{SAILING}']"
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, source), 10, "the alert in the feed")
    browser.find_element(By.CSS_SELECTOR, source).click()
    wait_for(lambda: "YUE DAPENG 88" in _panel(browser), 10, "the panel from the alert")
    lat, lon = _centre(browser)
    assert abs(lat - 22.47) < 0.002 and abs(lon - 114.62) < 0.002, (lat, lon)

    # vessels by state: the moored one only
    _filter(browser, "")
    Select(browser.find_element(By.ID, "map-entities-status")).select_by_value("stopped")
    wait_for(lambda: [x["id"] for x in _rows(browser)] == [str(MOORED)], 5, "moored only")
    Select(browser.find_element(By.ID, "map-entities-status")).select_by_value("")

    # follow from the list: the map keeps the vessel centred as it sails
    _filter(browser, "dapeng")
    wait_for(lambda: [x["id"] for x in _rows(browser)] == [str(SAILING)], 5, "by name")
    browser.find_element(By.CSS_SELECTOR, "#map-entities-rows .ec-entity-follow").click()
    _vessel(r, SAILING, 22.47, 114.64)
    wait_for(lambda: abs(_centre(browser)[1] - 114.64) < 0.002, 10, "the map following it")
    wait_for(
        lambda: (
            browser.find_element(
                By.CSS_SELECTOR, "#map-entities-rows .ec-entity-follow"
            ).get_attribute("aria-pressed")
            == "true"
        ),
        5,
        "the toggle pressed",
    )

    # a click on a unit on the map opens its panel
    browser.find_element(By.CSS_SELECTOR, f"#{Ids.DETAIL_BOX} .ec-detail-close").click()
    browser.execute_script("window.ecocommand.map.live.centre(22.55, 114.50);")
    click_marker(browser, "units", "U-T-02")
    wait_for(lambda: "Bravo patrol" in _panel(browser), 10, "the unit's panel")
    wait_for(lambda: "BZ-77" in _panel(browser), 10, "its call sign from the server")
    assert "On scene" in _panel(browser)
    link = browser.find_element(By.CSS_SELECTOR, f"#{Ids.DETAIL_BOX} .ec-detail-replay")
    assert link.get_attribute("href").endswith("/replay?unit=U-T-02")

    # the search: a vessel above the "dapeng-…" cells; the sub-district named as typed above
    # a vessel that only holds the name; a pick opens the panel
    search = browser.find_element(By.ID, Ids.SEARCH)
    search.send_keys("dapeng")
    hits = f"#{Ids.SEARCH_HITS} .ec-search-hit"

    def layers() -> list[str]:
        return [e.get_attribute("data-layer") for e in browser.find_elements(By.CSS_SELECTOR, hits)]

    wait_for(lambda: "place:land" in layers(), 5, "the cells")
    order = layers()
    assert order.index("vessels") < order.index("place:land"), order
    assert order[0] == "place:subdistrict", order  # "Dapeng" begins with what was typed
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("kuichong")
    wait_for(lambda: "vessels" in layers(), 5, "the vessel")
    order = layers()
    assert order[:2] == ["place:subdistrict", "vessels"], order
    assert order.index("vessels") < order.index("place:land"), order
    browser.find_element(By.CSS_SELECTOR, f"{hits}[data-layer='vessels'] span").click()
    wait_for(lambda: "YUE KUICHONG 7" in _panel(browser), 10, "the searched vessel's panel")
    assert not console_errors(browser)


def test_the_list_stays_small_with_5000_units_and_3000_vessels(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    ops: list = []
    for i in range(5000):
        ops += _unit_ops(f"U-B-{i:04d}", f"Unit {i:04d}", "available", 22.45 + i * 3e-5, 114.4)
    for i in range(3000):
        ops += _vessel_ops(413000000 + i, 22.40 + i * 4e-5, 114.6, 5.0, None)
    for start in range(0, len(ops), 2000):
        _write(r, ops[start : start + 2000], _now())
    sign_in(browser, web, r, "operator", "duty")
    browser.get(web + "/")
    switch_language(browser, "en")
    wait_for(lambda: "5000" in page_text(browser, "#map-entities-tab-units"), 30, "all units")
    _listed(browser, "units", 200)
    assert len(_rows(browser)) == 200
    assert "4800 more" in page_text(browser, "#map-entities-more")
    _filter(browser, "unit 0042")
    wait_for(lambda: [x["id"] for x in _rows(browser)] == ["U-B-0042"], 10, "one unit")
    assert page_text(browser, "#map-entities-more") == ""
    browser.find_element(By.ID, "map-entities-tab-vessels").click()
    _filter(browser, "")
    wait_for(lambda: "3000" in page_text(browser, "#map-entities-tab-vessels"), 10, "vessels")
    _listed(browser, "vessels", 200)
    assert "2800 more" in page_text(browser, "#map-entities-more")
    assert not console_errors(browser)


def test_screenshots_of_the_list_beside_the_map_and_none_on_the_wall(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    _write(r, _unit_ops("U-T-02", "Bravo patrol", "on_scene", 22.55, 114.50, "BZ-77"), _now())
    _vessel(r, SAILING, 22.47, 114.62, name="YUE DAPENG 88")
    sign_in(browser, web, r, "operator", "duty")
    for lang in ("zh", "en"):
        for width, height in ((1920, 1080), (1366, 768)):
            screen(browser, width, height)
            browser.get(web + "/")
            switch_language(browser, lang)
            _listed(browser, "units", 1)
            browser.find_element(By.CSS_SELECTOR, "#map-entities-rows .ec-entity-pick").click()
            wait_for(lambda: "BZ-77" in _panel(browser), 10, "the panel")
            box = browser.execute_script(
                "var m = document.getElementById(arguments[0]).getBoundingClientRect();"
                "var l = document.getElementById('map-entities').getBoundingClientRect();"
                "return {map: m.height, left: m.left, list: l.right, vh: window.innerHeight,"
                " wide: document.documentElement.scrollWidth};",
                Ids.MAP,
            )
            assert box["list"] <= box["left"] + 1, box  # beside the map, not above it
            assert box["map"] >= 0.85 * box["vh"], box
            assert box["wide"] <= width, box
            browser.save_screenshot(str(SHOTS / f"entities-{lang}-{width}x{height}.png"))
    # collapsed, it leaves the map the width
    browser.find_element(By.ID, "map-entities-toggle").click()
    wait_for(lambda: browser.find_element(By.ID, "map-entities").size["width"] < 40, 5, "collapsed")
    # and the map knows it: its own size is its box's (Leaflet measured it again)
    wait_for(
        lambda: browser.execute_script(
            "var m = window.ecocommand.map.live.view(), b = document.getElementById(arguments[0]);"
            "var z = Math.pow(2, m.zoom) * 256 / 360;"
            "return Math.abs((m.bounds[1][1] - m.bounds[0][1]) * z - b.clientWidth) < 4;",
            Ids.MAP,
        ),
        5,
        "the map measured again",
    )
    browser.execute_async_script(  # the basemap redrawn for the new size (next frames)
        "var done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));"
    )
    browser.save_screenshot(str(SHOTS / "entities-collapsed-en-1366x768.png"))
    browser.get(web + "/?wall=1")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "the wall")
    assert not browser.find_elements(By.ID, "map-entities")
    assert not console_errors(browser)
