"""The pages in a real browser (Debian's chromium through chromedriver): sign in through the form,
the pages render live data through CSRF-protected callbacks and log no console errors (CSP
violations included)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from ingest.worker import written_fields
from layouts.map import Ids
from layouts.shell import Ids as Shell
from store.ops import Observation
from store.writer import LiveStore
from tests.helpers import (
    Publisher,
    console_errors,
    page_text,
    png,
    sign_in,
    toggle_option,
    wait_for,
    write_available_unit,
)


def _write_live_data(r: redis.Redis) -> None:
    """Three units (two available, one on scene), a vessel, a sensor with a critical alert."""
    from ingest import sensors, units, vessels
    from ingest.context import HandlerContext

    now = time.time_ns() // 1_000_000
    store = LiveStore(r, 3_600_000, 1000)
    ctx = HandlerContext(received_ms=now)
    for i, status in enumerate(("available", "available", "on_scene")):
        store.write(
            units.handle_profile(
                f"U-{i}",
                orjson.dumps(
                    {
                        "unit_id": f"U-{i}",
                        "ts": now,
                        "name": f"巡查{i}组",
                        "department": "forestry",
                        "kind": "foot",
                        "level": "community",
                    }
                ),
                ctx,
            ),
            now,
        )
        store.write(
            units.handle_position(
                f"U-{i}",
                orjson.dumps(
                    {
                        "unit_id": f"U-{i}",
                        "seq": 1,
                        "ts": now,
                        "lat": 22.6 - i * 0.02,
                        "lon": 114.45 + i * 0.03,
                        "speed_kmh": 4.0,
                        "status": status,
                    }
                ),
                ctx,
            ),
            now,
        )
    store.write(
        vessels.handle_nmea("rx", b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C", ctx), now
    )
    profile = {
        "sensor_id": "S-1",
        "ts": now,
        "name": "近岸1",
        "kind": "seawater",
        "water_class": "I",
        "lat": 22.52,
        "lon": 114.52,
    }
    store.write(sensors.handle_profile("S-1", orjson.dumps(profile), ctx), now)
    alerting = HandlerContext(received_ms=now, sensor_profile=lambda _s: profile)
    store.write(
        sensors.handle_reading(
            "S-1",
            orjson.dumps({"sensor_id": "S-1", "seq": 1, "ts": now, "values": {"COD": 9.0}}),
            alerting,
        ),
        now,
    )


def _banner_shown(browser: webdriver.Chrome) -> bool:
    found = browser.find_elements(By.ID, Ids.BANNER)
    return bool(found) and found[0].is_displayed()


def _next_tick(browser: webdriver.Chrome) -> None:
    """Returns once the page has finished a callback request it started after this call: the
    next tick of its interval, which reads the heartbeat again."""
    since = browser.execute_script(
        "performance.clearResourceTimings(); return performance.now();"  # the buffer is finite
    )
    wait_for(
        lambda: browser.execute_script(
            "var since = arguments[0];"
            "return performance.getEntriesByType('resource').some(function (e) {"
            "  return e.name.includes('/_dash-update-component') && e.startTime > since; });",
            since,
        ),
        10,
        "a tick of the page",
    )


def test_live_map_shows_markers_counts_staleness_and_switches_language(
    r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    _write_live_data(r)
    sign_in(browser, web, r)
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "the leaflet map"
    )
    # the counts arrive through /_dash-update-component POSTs: CSRF header and role check pass
    wait_for(
        lambda: page_text(browser, ".ec-count-units .ec-count-value") == "3",
        15,
        "the live unit count",
    )
    assert page_text(browser, ".ec-status-available .ec-count-value") == "2"
    assert page_text(browser, ".ec-status-on_scene .ec-count-value") == "1"
    assert page_text(browser, ".ec-count-vessels .ec-count-value") == "1"
    assert page_text(browser, ".ec-count-alerts .ec-count-value") == "1"
    # markers are canvas circles (preferCanvas + pointToLayer from assets/map.js), not DOM icons
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")
    assert not browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon")
    # the layer switcher lists the local basemap and the live layers
    browser.save_screenshot("/tmp/map.png")
    control = (
        browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers").get_attribute(
            "textContent"
        )
        or ""
    )
    assert "陆地" in control and "巡查力量" in control and "船舶" in control
    # no heartbeat yet: the stale banner shows; no tiles note (the local basemap is the
    # default without MAP_TILES_URL, not a fault)
    wait_for(lambda: _banner_shown(browser), 10, "the stale-data banner")
    assert "30" in browser.find_element(By.ID, Ids.BANNER).text
    assert not browser.find_element(By.ID, Ids.TILES_NOTE).is_displayed()
    store = LiveStore(r, 3_600_000, 1000)
    now = time.time_ns() // 1_000_000
    # a live worker that has heard nothing for a minute: still stale
    store.heartbeat({"ts_ms": now, "last_message_ms": now - 60_000, "broker_connected": 1})
    freshness = f"#{Ids.FRESHNESS}"
    wait_for(lambda: "最新数据" in page_text(browser, freshness), 10, "the heartbeat on the page")
    assert _banner_shown(browser)
    store.heartbeat({"ts_ms": now, "last_message_ms": now, "broker_connected": 1})
    wait_for(lambda: not _banner_shown(browser), 10, "the banner hidden by fresh data")
    assert "最新数据" in browser.find_element(By.ID, Ids.FRESHNESS).text
    assert _title(browser) == "生态综合执法指挥中心"  # zh-CN by default
    browser.find_element(
        By.XPATH, f"//*[@id='{Shell.LANG}']//label[contains(., 'English')]"
    ).click()
    wait_for(
        lambda: _title(browser) == "Ecological Enforcement Command Centre",
        10,
        "the English title",
    )
    wait_for(
        lambda: page_text(browser, ".ec-count-units .ec-count-label") == "Units",
        10,
        "English count labels",
    )
    now = time.time_ns() // 1_000_000
    store.heartbeat({"ts_ms": now, "last_message_ms": now, "broker_connected": 1})
    _next_tick(browser)  # one more tick with the English labels and a fresh heartbeat
    browser.save_screenshot("/tmp/map.png")
    browser.save_screenshot(str(tmp_path / "map.png"))
    errors = console_errors(browser)
    assert not errors, errors
    browser.find_element(By.ID, Shell.LOGOUT).click()  # a plain form POST with its CSRF token
    wait_for(lambda: "/login" in browser.current_url, 10, "back at the sign-in page")
    browser.get(web + "/")
    wait_for(lambda: "/login" in browser.current_url, 10, "signed out for good")


def _title(browser: webdriver.Chrome) -> str:
    """The page's full title (narrower screens show its short form: its tooltip is the full)."""
    return browser.execute_script(
        "var e = document.querySelector('.ec-title'); return e ? e.title : '';"
    )


def test_unreachable_tiles_show_the_note_over_the_local_basemap(
    r: redis.Redis, web_with_dead_tiles: str, browser: webdriver.Chrome
) -> None:
    import urllib.request

    with urllib.request.urlopen(web_with_dead_tiles + "/login") as resp:
        csp = resp.headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: http://127.0.0.1:9;" in csp  # the tile origin only
    sign_in(browser, web_with_dead_tiles, r)
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-tile-container"),
        15,
        "the tile layer",
    )
    # hidden while tiles are configured; assets/map.js shows it on the first failed tile
    wait_for(
        lambda: browser.find_element(By.ID, Ids.TILES_NOTE).is_displayed(),
        15,
        "the tiles-unavailable note",
    )
    assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")  # basemap


def _drawn(browser: webdriver.Chrome, ident: str) -> dict | None:
    """Where the page draws a marker (assets/map.js keeps it per feature id), or None."""
    return browser.execute_script(
        "var m = window.ecocommand && window.ecocommand.map;"
        "return m && m.drawn[arguments[0]] || null;",
        ident,
    )


def _publish_unit(
    publisher: Publisher, unit_id: str, seq: int, lat: float, lon: float, status: str
) -> None:
    now = time.time_ns() // 1_000_000
    publisher.publish(
        f"ecocommand/units/{unit_id}/position",
        orjson.dumps(
            {
                "unit_id": unit_id,
                "seq": seq,
                "ts": now,
                "lat": lat,
                "lon": lon,
                "speed_kmh": 5.0,
                "status": status,
            }
        ),
    )


def test_a_marker_moves_after_an_mqtt_publish_and_filters_work_in_the_browser(
    r: redis.Redis,
    web: str,
    browser: webdriver.Chrome,
    publisher: Publisher,
    running_worker: object,
) -> None:
    running_worker()  # type: ignore[operator]
    _publish_unit(publisher, "U-A", 1, 22.63, 114.43, "available")  # Kuichong
    _publish_unit(publisher, "U-B", 1, 22.52, 114.52, "on_scene")  # Nan'ao
    sign_in(browser, web, r)
    wait_for(lambda: _drawn(browser, "U-A") and _drawn(browser, "U-B"), 20, "both markers")
    assert _drawn(browser, "U-A")["lat"] == 22.63

    _publish_unit(publisher, "U-A", 2, 22.64, 114.44, "available")  # broker -> worker -> page
    wait_for(
        lambda: (_drawn(browser, "U-A") or {}).get("lat") == 22.64,
        15,
        "the marker at its new position",
    )
    assert _drawn(browser, "U-A")["lng"] == 114.44

    # filters act in the browser on the data it has: hidden markers leave the map
    toggle_option(browser, "map-filter-status", "在现场")
    wait_for(lambda: _drawn(browser, "U-A") is None, 10, "the available unit filtered out")
    assert _drawn(browser, "U-B") is not None
    toggle_option(browser, "map-filter-subdistrict", "葵涌")  # and Kuichong: nothing is both
    wait_for(lambda: _drawn(browser, "U-B") is None, 10, "the Nan'ao unit filtered out")
    toggle_option(browser, "map-filter-status", "在现场")  # every status again
    wait_for(lambda: _drawn(browser, "U-A") is not None, 10, "Kuichong's unit back")
    assert _drawn(browser, "U-B") is None
    assert not console_errors(browser)


def test_an_operator_acknowledges_an_alert_but_cannot_close_it(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    from store import snapshots

    _write_live_data(r)  # includes one critical water-quality alert
    sign_in(browser, web, r, "operator", "duty")
    wait_for(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".ec-alert-item .ec-ack"),
        15,
        "the alert with its acknowledge button",
    )
    assert "严重" in page_text(browser, ".ec-alert-item")
    assert not browser.find_elements(By.CSS_SELECTOR, ".ec-close")  # not offered...
    assert not browser.find_elements(By.ID, Ids.CLOSE_NOTE)  # nor anywhere for its answer
    browser.find_element(By.CSS_SELECTOR, ".ec-alert-item .ec-ack").click()
    wait_for(
        lambda: "duty 已确认" in page_text(browser, ".ec-alert-item"), 10, "acknowledged by duty"
    )
    assert snapshots.open_alerts(r)[0]["ack_by"] == "duty"
    assert not console_errors(browser)

    # ...and refused by the server when the page is made to ask anyway
    (alert_id,) = [a["id"] for a in snapshots.open_alerts(r)]
    status = browser.execute_async_script(
        """
        var done = arguments[arguments.length - 1];
        var token = document.cookie.split('; ').find(c => c.startsWith('_csrf_token='));
        var button = {id: {id: arguments[0], type: 'alert-close'}, property: 'n_clicks',
                      value: 1};
        fetch('/_dash-update-component', {method: 'POST', headers: {
            'Content-Type': 'application/json', 'X-CSRFToken': token.split('=')[1]},
            body: JSON.stringify({output: 'map-close-note.children',
                outputs: {id: 'map-close-note', property: 'children'},
                changedPropIds: [JSON.stringify(button.id) + '.n_clicks'],
                inputs: [[button]], state: []})
        }).then(r => done(r.status));
    """,
        alert_id,
    )
    assert status == 403
    assert [a["id"] for a in snapshots.open_alerts(r)] == [alert_id]


def test_the_wall_screen_is_dark_large_and_has_no_controls(
    r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    _write_live_data(r)
    sign_in(browser, web, r, "dispatcher", "chief")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "the map")
    browser.get(web + "/?wall=1")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".ec-page.ec-wall"), 15, "wall mode")
    wait_for(lambda: _drawn(browser, "U-0") is not None, 15, "markers")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".ec-alert-item"), 15, "the feed")
    browser.save_screenshot(str(tmp_path / "wall.png"))
    for css in (
        ".leaflet-control-layers",
        ".leaflet-control-zoom",
        ".ec-filters",
        f"#{Shell.LOGOUT}",
        f"#{Shell.LANG}",
    ):
        shown = [e for e in browser.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        assert not shown, css
    assert not browser.find_elements(By.CSS_SELECTOR, ".ec-alert-item button")
    assert not browser.find_elements(By.ID, Ids.ACK_NOTE)  # nobody acts on a wall screen
    big = browser.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector('.ec-count-value')).fontSize)"
    )
    assert big >= 48  # ~4 cm capitals on a 55-inch 1080p screen: readable from 5 m
    background = browser.execute_script(
        "return getComputedStyle(document.querySelector('.ec-page')).backgroundColor"
    )
    assert sum(int(x) for x in background[4:-1].split(",")[:3]) < 120  # dark
    assert not console_errors(browser)


def test_a_duty_chief_opens_an_incident_on_the_map_and_assigns_the_best_unit(
    r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    from store import incidents

    write_available_unit(r, "FO-NEAR", "foot", 22.525, 114.545)
    write_available_unit(r, "FO-FAR", "vehicle", 22.63, 114.43)
    sign_in(browser, web, r, "dispatcher", "chief")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "the map")
    browser.get(web + "/dispatch")
    wait_for(lambda: browser.find_elements(By.ID, "dispatch-map"), 15, "the dispatch page")
    # open an incident: type, then the place by clicking the map
    browser.find_element(By.CSS_SELECTOR, "#dispatch-form summary").click()
    toggle_option(browser, "dispatch-new-type", "盗伐林木")
    for ident, value in (("dispatch-new-lat", "22.52"), ("dispatch-new-lon", "114.54")):
        box = browser.find_element(By.ID, ident)
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "dispatch-create").click()
    wait_for(lambda: "已立案" in page_text(browser, "#dispatch-create-note"), 10, "opened")
    (inc,) = incidents.listing(r)
    # it is selected: its candidates are listed, the nearest on foot first
    wait_for(lambda: "FO-NEAR" in page_text(browser, "#dispatch-candidates"), 10, "candidates")
    labels = page_text(browser, "#dispatch-candidates")
    assert labels.index("FO-NEAR") < labels.index("FO-FAR") and "ETA" in labels
    browser.find_element(By.CSS_SELECTOR, "#dispatch-candidates input[value='FO-NEAR']").click()
    browser.find_element(By.ID, "dispatch-assign").click()
    wait_for(lambda: "FO-NEAR" in page_text(browser, "#dispatch-note"), 10, "assigned")
    assert incidents.read(r, inc["id"])["units"] == ["FO-NEAR"]
    wait_for(lambda: "已派遣" in page_text(browser, "#dispatch-queue"), 10, "the queue updated")
    # the unit sent is on the dispatch map, and moves there as it reports (pushed)
    wait_for(lambda: _drawn(browser, "FO-NEAR"), 15, "the unit sent on the dispatch map")
    store = LiveStore(r, 3_600_000, 1000)
    closer = int(time.time() * 1000)
    state = {"lat": 22.522, "lon": 114.542, "ts": closer, "seq": 2}
    moved = Observation("unit", "FO-NEAR", closer, 2, "2", state, {"ts": closer}, 114.542, 22.522)
    out = store.write([moved], closer)
    store.count_messages({"applied": 1}, {}, written_fields([moved], out.verdicts))
    wait_for(
        lambda: (_drawn(browser, "FO-NEAR") or {}).get("lat") == 22.522, 10, "it moving closer"
    )
    # the case file: a note, then a photo with that note as its caption
    browser.find_element(By.ID, "dispatch-note-text").send_keys("北侧山坡，约10棵")
    browser.find_element(By.ID, "dispatch-add-note").click()
    wait_for(lambda: "北侧山坡" in page_text(browser, "#dispatch-detail"), 10, "the note")
    photo = tmp_path / "现场.png"
    photo.write_bytes(png(40, 30))
    browser.find_element(By.ID, "dispatch-note-text").send_keys("现场照片")
    browser.find_element(By.CSS_SELECTOR, "#dispatch-evidence input[type=file]").send_keys(
        str(photo)
    )
    wait_for(lambda: "现场.png" in page_text(browser, "#dispatch-note"), 10, "attached")
    wait_for(
        lambda: (
            browser.execute_script(
                "const i = document.querySelector('#dispatch-detail img.ec-thumb');"
                "return i && i.complete && i.naturalWidth;"
            )
            == 40
        ),
        10,
        "the thumbnail shown",
    )
    assert [n["kind"] for n in incidents.notes(r, inc["id"])] == ["note", "evidence"]
    assert incidents.notes(r, inc["id"])[1]["caption"] == "现场照片"
    assert browser.find_element(By.ID, "dispatch-note-text").get_attribute("value") == ""
    browser.save_screenshot(str(tmp_path / "dispatch.png"))
    assert not console_errors(browser)
    # the live map shows the open incident too
    browser.find_element(By.CSS_SELECTOR, "a.ec-nav-link[href='/']").click()
    wait_for(
        lambda: _drawn(browser, f"incident:{inc['id']}") is not None,
        15,
        "the incident on the live map",
    )
    assert not console_errors(browser)
