"""A citizen on a phone (360x800, headless Chromium): files a report with a photo at the phone's
position on /report (the page solves the challenge with Web Crypto: localhost is a secure
context); it is in the duty chief's queue to verify; the tracking page shows its progress and
never who was sent. Another picks the place with a tap on the page's map (Leaflet, served by the
app): the incident is where the tap was."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from config.settings import Settings
from domain import incidents as model
from layouts.dispatch import Ids
from services import incidents as incident_service
from services import reports
from services.context import build
from services.incidents import Assignment, Move
from store import keys
from tests.helpers import (
    console_errors,
    page_text,
    png,
    screen,
    sign_in,
    wait_for,
    write_available_unit,
)

pytestmark = pytest.mark.browser
WHERE = {"latitude": 22.5205, "longitude": 114.5405, "accuracy": 12}  # 南澳, on land


def _open_report(browser: webdriver.Chrome, web: str) -> None:
    browser.set_window_size(360, 800)
    screen(browser, 360, 800)  # the page's own viewport: the window's is smaller
    browser.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": web, "permissions": ["geolocation"]}
    )
    browser.execute_cdp_cmd("Emulation.setGeolocationOverride", WHERE)
    browser.get(f"{web}/report")


def test_a_citizen_reports_with_a_photo_and_follows_it(
    browser: webdriver.Chrome, web: str, r: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    _open_report(browser, web)
    assert "随手拍" in browser.title
    Select(browser.find_element(By.ID, "report-type")).select_by_value("waste_dumping")
    browser.find_element(By.ID, "report-locate").click()
    wait_for(lambda: "22.5205" in page_text(browser, "#report-where"), 10, "the position")
    # the map's pin went there too
    pin = browser.execute_script("return window.ecocommandReport.pin()")
    assert _metres(pin, (WHERE["latitude"], WHERE["longitude"])) < 0.5
    browser.find_element(By.ID, "report-description").send_keys("河边有人倾倒建筑垃圾")
    photo = tmp_path / "scene.png"
    photo.write_bytes(png(4, 4))
    browser.find_element(By.ID, "report-photos").send_keys(str(photo))
    browser.find_element(By.ID, "report-send").click()
    wait_for(lambda: browser.find_elements(By.ID, "report-code"), 30, "the tracking code")
    code = browser.find_element(By.ID, "report-code").text
    browser.save_screenshot(str(tmp_path / "report-360.png"))
    # nothing overflows the phone's width
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    # in the duty chief's queue, to verify, with the photo in its case file
    ctx = build(settings)
    (inc_id,) = [x.decode() for x in r.zrange(keys.INCIDENTS_OPEN, 0, -1)]
    inc = incident_service.detail(ctx, inc_id)
    assert inc["source"] == "citizen_report" and model.to_verify(inc)
    assert [n["media_type"] for n in inc["notes"] if n["kind"] == "evidence"] == ["image/png"]
    assert abs(float(inc["lat"]) - WHERE["latitude"]) < 1e-6
    # followed: a duty chief verifies and sends a unit; the page says so, never who
    write_available_unit(r, "FO-9", "foot", 22.521, 114.541)
    incident_service.move(ctx, inc_id, Move(to=model.State.TRIAGED), "chief")
    incident_service.assign_units(ctx, inc_id, Assignment(units=["FO-9"]), "chief")
    browser.find_element(By.ID, "report-code").click()
    wait_for(lambda: "/report/track/" in browser.current_url, 10, "the tracking page")
    stages = page_text(browser, "#track-stages")
    assert "已收到" in stages and "已核实" in stages and "已派出处置" in stages
    body = page_text(browser, "body")
    assert code in body and "FO-9" not in body and "chief" not in body
    assert not console_errors(browser)


def test_a_duty_chief_sees_reports_to_verify_and_merges_a_duplicate(
    browser: webdriver.Chrome, web: str, r: redis.Redis, settings: Settings
) -> None:
    """Two citizens report one thing 200 m apart: the queue marks both to verify, the first's
    panel offers the second as a duplicate, and one click merges it."""
    ctx = build(settings)
    kind = model.IncidentType.WASTE_DUMPING
    near = (WHERE["latitude"] + 0.0018, WHERE["longitude"])
    reports.open_report(ctx, kind, WHERE["latitude"], WHERE["longitude"], "倾倒", None, [])
    reports.open_report(ctx, kind, *near, "有人在倒垃圾", None, [])
    first, second = sorted(x.decode() for x in r.zrange(keys.INCIDENTS_OPEN, 0, -1))
    browser.set_window_size(1366, 768)
    sign_in(browser, web, r, "dispatcher", "chief")
    browser.get(web + "/dispatch")
    row = f"//*[@id='{Ids.QUEUE}']//button[contains(., '{first}')]"
    wait_for(lambda: browser.find_elements(By.XPATH, row), 15, "the report in the queue")
    assert page_text(browser, f"#{Ids.QUEUE}").count("待核实") == 2
    browser.find_element(By.XPATH, row).click()
    wait_for(lambda: second in page_text(browser, "#dispatch-duplicates"), 10, "the duplicate")
    browser.find_element(By.CSS_SELECTOR, "#dispatch-duplicates button").click()
    wait_for(lambda: f"merged {second}" in page_text(browser, f"#{Ids.DETAIL}"), 10, "merged")
    assert incident_service.detail(ctx, second)["state"] == "rejected"
    wait_for(lambda: second not in page_text(browser, f"#{Ids.QUEUE}"), 10, "out of the queue")
    assert not console_errors(browser)


PICKED_CENTRE = (22.5236, 114.5362)  # 南澳, on land, in the district
ZOOM = 16
CLICK = (40, -30)  # pixels right of and above the map's centre


def _metres(a: list[float] | tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * 111_320
    dx = (a[1] - b[1]) * 111_320 * math.cos(math.radians(b[0]))
    return math.hypot(dx, dy)


def _pixel_to_place(
    centre: tuple[float, float], zoom: int, dx: float, dy: float
) -> tuple[float, float]:
    """Web Mercator, worked here and not by Leaflet: the place `dx, dy` pixels from `centre`."""
    scale = 256 * 2**zoom

    def y_of(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale

    y = y_of(centre[0]) + dy
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / scale))))
    return lat, centre[1] + dx * 360 / scale


def _map_ready(browser: webdriver.Chrome) -> bool:
    return bool(
        browser.execute_script(
            "var m = window.ecocommandReport && window.ecocommandReport.map();"
            "return !!(m && document.querySelector('#report-map .leaflet-land-pane path'));"
        )
    )


def test_a_citizen_picks_the_place_on_the_map(
    browser: webdriver.Chrome, web: str, r: redis.Redis, settings: Settings, tmp_path: Path
) -> None:
    _open_report(browser, web)
    wait_for(lambda: _map_ready(browser), 15, "the map with its local basemap")
    browser.save_screenshot(str(tmp_path / "report-map-360.png"))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    # typed numbers (a keyboard's way) move the pin; a tap on the map then overrides them
    browser.find_element(By.ID, "report-lat").send_keys("22.5211")
    browser.find_element(By.ID, "report-lon").send_keys("114.5399\t")
    wait_for(lambda: browser.execute_script("return window.ecocommandReport.pin()"), 5, "a pin")
    assert (
        _metres(browser.execute_script("return window.ecocommandReport.pin()"), (22.5211, 114.5399))
        < 0.5
    )
    # the map is at the typed place at once, to a pixel: an animated pan let a keyboard user's
    # Enter pick a centre on the way (and CI once saw a pan stop short of the place)
    offset = browser.execute_script(
        "var m = window.ecocommandReport.map(), s = m.getSize();"
        "var p = m.latLngToContainerPoint([22.5211, 114.5399]);"
        "return [p.x - s.x / 2, p.y - s.y / 2];"
    )
    assert all(abs(d) <= 1 for d in offset), offset
    # the focused map and Enter (a keyboard's other way) put the pin at the map's centre
    the_map = browser.find_element(By.ID, "report-map")
    browser.execute_script("arguments[0].focus()", the_map)
    the_map.send_keys(Keys.ENTER)
    centre = browser.execute_script(
        "var c = window.ecocommandReport.map().getCenter(); return [c.lat, c.lng]"
    )
    wait_for(
        lambda: (
            _metres(browser.execute_script("return window.ecocommandReport.pin()"), tuple(centre))
            < 0.5
        ),
        5,
        "the pin at the centre",
    )
    browser.execute_script(
        "window.ecocommandReport.map().setView(arguments[0], arguments[1], {animate: false})",
        list(PICKED_CENTRE),
        ZOOM,
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", the_map)
    ActionChains(browser).move_to_element_with_offset(the_map, *CLICK).click().perform()
    expected = _pixel_to_place(PICKED_CENTRE, ZOOM, *CLICK)
    wait_for(lambda: "22.52" in page_text(browser, "#report-where"), 5, "the place picked")
    assert _metres(browser.execute_script("return window.ecocommandReport.pin()"), expected) < 5
    typed = [
        float(browser.find_element(By.ID, f"report-{k}").get_attribute("value"))
        for k in ("lat", "lon")
    ]
    assert _metres(typed, expected) < 5
    browser.save_screenshot(str(tmp_path / "report-picked-360.png"))
    browser.find_element(By.ID, "report-description").send_keys("礁石边有人电鱼")
    browser.find_element(By.ID, "report-send").click()
    wait_for(lambda: browser.find_elements(By.ID, "report-code"), 30, "the tracking code")
    assert browser.execute_script("return window.ecocommandReport.pin()") is None  # form reset
    # the incident is where the tap was
    ctx = build(settings)
    (inc_id,) = [x.decode() for x in r.zrange(keys.INCIDENTS_OPEN, 0, -1)]
    inc = incident_service.detail(ctx, inc_id)
    assert inc["source"] == "citizen_report"
    assert _metres((float(inc["lat"]), float(inc["lon"])), expected) < 5
    # and its tracking page names nobody sent
    write_available_unit(r, "FO-7", "foot", 22.524, 114.536)
    incident_service.move(ctx, inc_id, Move(to=model.State.TRIAGED), "chief")
    incident_service.assign_units(ctx, inc_id, Assignment(units=["FO-7"]), "chief")
    browser.find_element(By.ID, "report-code").click()
    wait_for(lambda: "/report/track/" in browser.current_url, 10, "the tracking page")
    wait_for(lambda: "已派出处置" in page_text(browser, "#track-stages"), 10, "sent")
    body = page_text(browser, "body")
    assert "FO-7" not in body and "chief" not in body
    assert not console_errors(browser)
