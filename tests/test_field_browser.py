"""An officer on a phone (360x800, headless Chromium, a fake position): signs in on /field, goes
on duty and moves on the live map; a duty chief assigns the unit an incident; the task appears
on the phone, on the card's map (Leaflet, served by the app) beside the officer; accept, arrived
with a photo and handled move the incident, and the photo is in its case file. The second test
cuts the network between accept and arrived: the queued actions are applied once when it returns,
after the app was opened again with no signal at all (its map too: Leaflet and the basemap come
from the service worker).

Everything the phone sends goes through the real ingest worker (the web app hands it over the
inbox) against the session's Redis and broker."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from config.settings import Settings
from domain import incidents as model
from services import accounts, coverage
from services import incidents as incident_service
from services import messages as message_service
from services.context import AppContext, build
from services.incidents import Assignment, NewIncident
from store import devices, keys, users
from tests.helpers import PASSWORD, Publisher, console_errors, page_text, png, screen, wait_for

pytestmark = pytest.mark.browser
UNIT = "U-DP-F01"
START = {"latitude": 22.5205, "longitude": 114.5405, "accuracy": 8}  # 南澳, on land
MOVED = {"latitude": 22.5231, "longitude": 114.5432, "accuracy": 8}  # 380 m north-east


def _officer(r: redis.Redis, publisher: Publisher, settings: Settings) -> None:
    """The unit in the roster, its profile as its provisioning sends it, an officer bound to it."""
    devices.add(r, UNIT, "unit", 0)
    profile = {
        "unit_id": UNIT,
        "ts": 1_700_000_000_000,
        "name": "南澳巡查一组",
        "department": "eco_environment",
        "kind": "foot",
        "level": "community",
    }
    publisher.publish(f"{settings.topic_prefix}/units/{UNIT}/profile", orjson.dumps(profile))
    accounts.add_user(r, "li", "officer", PASSWORD, unit=UNIT)


def _sign_in_on_phone(browser: webdriver.Chrome, web: str) -> None:
    browser.set_window_size(360, 800)
    screen(browser, 360, 800)  # the page's own viewport: the window's is smaller
    browser.execute_cdp_cmd(
        "Browser.grantPermissions", {"origin": web, "permissions": ["geolocation"]}
    )
    browser.execute_cdp_cmd("Emulation.setGeolocationOverride", START)
    browser.get(f"{web}/")  # the console's address: an officer is sent on to /field
    wait_for(lambda: "/login" in browser.current_url, 10, "the sign-in page")
    browser.find_element(By.ID, "username").send_keys("li")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: browser.current_url.endswith("/field"), 15, "the field app")


def _unit_on_map(web: str, r: redis.Redis) -> Callable[[], dict[str, Any] | None]:
    """The unit as the live map's API gives it to an operator."""
    users.create_user(r, "duty", "operator", PASSWORD)
    _tid, token = users.create_token(r, "duty")

    def read() -> dict[str, Any] | None:
        got = requests.get(
            f"{web}/api/v1/units", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()
        return next((u for u in got["items"] if u.get("unit_id") == UNIT), None)

    return read


def _at(unit: dict[str, Any] | None, where: dict[str, float]) -> bool:
    return bool(
        unit
        and abs(float(unit.get("lat") or 0) - where["latitude"]) < 1e-5
        and abs(float(unit.get("lon") or 0) - where["longitude"]) < 1e-5
    )


def _on_duty_and_assigned(
    browser: webdriver.Chrome, web: str, r: redis.Redis, ctx: AppContext
) -> str:
    """On duty, moved on the map, assigned an incident by the duty chief; the task shown."""
    unit = _unit_on_map(web, r)
    browser.find_element(By.ID, "field-on").click()
    wait_for(lambda: _at(unit(), START), 20, "the unit on the map where the phone is")
    assert unit()["status"] == "available"  # type: ignore[index]
    browser.execute_cdp_cmd("Emulation.setGeolocationOverride", MOVED)
    wait_for(lambda: _at(unit(), MOVED), 30, "the unit moved on the map")
    made = incident_service.open_incident(
        ctx,
        NewIncident(
            type=model.IncidentType.WASTE_DUMPING,
            lat=MOVED["latitude"] + 0.002,
            lon=MOVED["longitude"],
            description="河边有人倾倒建筑垃圾",
        ),
        "chief",
    )
    incident_id = made["id"]
    incident_service.assign_units(ctx, incident_id, Assignment(units=[UNIT]), "chief")
    wait_for(lambda: incident_id in page_text(browser, "#field-task-body"), 10, "the task")
    # 220 m due north of the officer: how far, which way, and a link for the phone's navigation
    wait_for(lambda: "距离 22" in page_text(browser, "#field-task-nav"), 10, "how far")
    assert "方向 北 N" in page_text(browser, "#field-task-nav")
    assert browser.find_element(By.CSS_SELECTOR, "#field-task-nav a").get_attribute("href")
    return incident_id


def _map(browser: webdriver.Chrome) -> dict[str, Any]:
    """The task card's map as Leaflet has it (field-map.js's state())."""
    return browser.execute_script(
        "return window.ecocommandFieldMap ? window.ecocommandFieldMap.state() : {}"
    )


def _inside(bbox: str, lat: float, lon: float) -> bool:
    west, south, east, north = (float(x) for x in bbox.split(","))
    return west < lon < east and south < lat < north


def _the_task_on_the_map(
    browser: webdriver.Chrome, ctx: AppContext, incident_id: str, shots: Path
) -> None:
    inc = incident_service.detail(ctx, incident_id)
    task = (float(inc["lat"]), float(inc["lon"]))
    wait_for(lambda: _map(browser).get("task") and _map(browser).get("me"), 10, "the map's markers")
    shown = _map(browser)
    assert abs(shown["task"][0] - task[0]) < 1e-9 and abs(shown["task"][1] - task[1]) < 1e-9
    assert abs(shown["me"][0] - MOVED["latitude"]) < 1e-9
    assert abs(shown["me"][1] - MOVED["longitude"]) < 1e-9
    # fitted to both, and the pin's picture loaded under the CSP
    wait_for(lambda: _inside(_map(browser)["bounds"], *task), 5, "the map fitted to the task")
    assert _inside(_map(browser)["bounds"], MOVED["latitude"], MOVED["longitude"])
    pin = "#field-map .leaflet-marker-icon"
    assert browser.execute_script(f"return document.querySelector('{pin}').naturalWidth") > 0
    assert browser.execute_script(
        "return document.querySelectorAll('#field-map .leaflet-land-pane path').length"
    )
    card = browser.find_element(By.ID, "field-map")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", card)
    browser.save_screenshot(str(shots / "field-task-360.png"))
    # small it keeps still for the thumb; a tap opens it over the whole screen, a button closes it
    assert card.size["height"] < 300
    card.click()
    wait_for(lambda: _map(browser)["big"], 5, "the map opened")
    assert card.size["height"] > 650 and card.size["width"] == 360  # all of the 360x800
    close = browser.find_element(By.ID, "field-map-size")
    bottom = "return arguments[0].getBoundingClientRect().bottom"
    assert 700 < browser.execute_script(bottom, close) <= 800  # at the bottom, under the thumb
    browser.save_screenshot(str(shots / "field-map-open-360.png"))
    close.click()
    wait_for(lambda: not _map(browser)["big"], 5, "the map closed")
    assert card.size["height"] < 300


def _state(ctx: AppContext, incident_id: str) -> str:
    return incident_service.detail(ctx, incident_id)["state"]


def _photos(ctx: AppContext, incident_id: str) -> list[dict[str, Any]]:
    notes = incident_service.detail(ctx, incident_id)["notes"]
    return [n for n in notes if n["kind"] == "evidence"]


def _queued(browser: webdriver.Chrome) -> int:
    found = re.search(r"待发送 (\d+)", page_text(browser, "#field-queue"))
    return int(found[1]) if found else -1


def _arrive_with_photo(browser: webdriver.Chrome, tmp_path: Path) -> None:
    photo = tmp_path / "scene.png"
    photo.write_bytes(png(6, 4))
    browser.find_element(By.ID, "field-note").send_keys("现场有建筑垃圾约两车")
    browser.find_element(By.ID, "field-photo").send_keys(str(photo))
    browser.find_element(By.ID, "field-arrived").click()


@pytest.fixture
def phone(
    browser: webdriver.Chrome,
    web: str,
    r: redis.Redis,
    settings: Settings,
    running_worker: Callable[..., None],
    publisher: Publisher,
) -> tuple[webdriver.Chrome, AppContext, str]:
    running_worker()
    _officer(r, publisher, settings)
    _sign_in_on_phone(browser, web)
    ctx = build(settings)
    return browser, ctx, _on_duty_and_assigned(browser, web, r, ctx)


def test_an_officer_takes_a_task_from_assignment_to_handled(
    phone: tuple[webdriver.Chrome, AppContext, str], tmp_path: Path
) -> None:
    browser, ctx, incident_id = phone
    _the_task_on_the_map(browser, ctx, incident_id, tmp_path)
    browser.find_element(By.ID, "field-ack").click()
    wait_for(lambda: _state(ctx, incident_id) == "en_route", 10, "en route")
    # the duty chief writes; the phone shows it at once and says so; the officer replies
    message_service.to_units(ctx, "chief", [UNIT], "注意河道东侧<b>有狗</b>")
    wait_for(lambda: "有狗" in page_text(browser, "#field-thread"), 10, "the message")
    assert "<b>" in page_text(browser, "#field-thread")  # shown as text, never as markup
    wait_for(lambda: message_service.thread(ctx, UNIT)[0]["read_ms"], 10, "marked read")
    browser.find_element(By.ID, "field-reply-text").send_keys("收到")
    browser.find_element(By.ID, "field-reply-send").click()
    wait_for(lambda: len(message_service.thread(ctx, UNIT)) == 2, 10, "the reply")
    assert [(m["dir"], m["by"], m["text"]) for m in message_service.thread(ctx, UNIT)][1] == (
        "from_unit",
        "li",
        "收到",
    )
    wait_for(lambda: browser.find_element(By.ID, "field-arrived").is_enabled(), 10, "arrive")
    _arrive_with_photo(browser, tmp_path)
    wait_for(lambda: _state(ctx, incident_id) == "on_scene", 10, "on scene")
    wait_for(lambda: _photos(ctx, incident_id), 10, "the photo in the case file")
    (photo,) = _photos(ctx, incident_id)
    assert photo["by"] == f"device:{UNIT}" and photo["caption"] == "现场有建筑垃圾约两车"
    wait_for(lambda: browser.find_element(By.ID, "field-handled").is_enabled(), 10, "handle")
    browser.find_element(By.ID, "field-handled").click()
    wait_for(lambda: _state(ctx, incident_id) == "handled", 10, "handled")
    timeline = incident_service.detail(ctx, incident_id)["timeline"]
    assert [t["to"] for t in timeline][-3:] == ["en_route", "on_scene", "handled"]
    assert {t["by"] for t in timeline[-3:]} == {UNIT}
    wait_for(lambda: "暂无任务" in page_text(browser, "#field-task-body"), 10, "task done")
    # on the way back, something else: a finding on patrol becomes an incident with its photo
    Select(browser.find_element(By.ID, "field-finding-type")).select_by_value("illegal_building")
    browser.find_element(By.ID, "field-finding-text").send_keys("新搭建的铁皮房")
    browser.find_element(By.ID, "field-finding-photo").send_keys(str(tmp_path / "scene.png"))
    browser.find_element(By.ID, "field-finding-send").click()
    found = wait_for(lambda: _findings(ctx), 10, "the finding in the queue")
    (finding,) = found
    assert finding["description"] == "新搭建的铁皮房" and _at(finding, MOVED)
    assert [(p["by"], p["caption"]) for p in _photos(ctx, finding["id"])] == [
        (f"device:{UNIT}", "新搭建的铁皮房")
    ]
    (dot,) = _map(browser)["findings"]  # and on the card's map, where it was reported
    assert _at({"lat": dot[0], "lon": dot[1]}, MOVED)
    # the patrol: the officer's own place (visited on the way), logged and checked on the track
    here = ctx.coverage.locate(START["longitude"], START["latitude"]).land
    coverage.reassign_owner(ctx, here, "li", "admin")
    browser.refresh()
    box = f"#field-places input[value='{here}']"
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, box), 10, "the officer's place")
    if not browser.find_element(By.CSS_SELECTOR, box).is_selected():
        browser.find_element(By.CSS_SELECTOR, box).click()
    browser.find_element(By.ID, "field-log-send").click()
    wait_for(lambda: "places" in page_text(browser, "#field-logs"), 15, "the checked log")
    (log,) = coverage.recent_logs(ctx)
    assert log["unit_id"] == UNIT and [c["place_id"] for c in log["checks"]] == [here]
    assert not console_errors(browser)


def _buzzes(browser: webdriver.Chrome) -> int:
    return int(browser.execute_script("return window.__buzzes || 0"))


def test_an_officer_is_told_when_the_centre_takes_a_task_away(
    phone: tuple[webdriver.Chrome, AppContext, str],
) -> None:
    """Taken for more urgent work, then that case rejected: each time the phone buzzes and
    says which task was withdrawn (the card alone changing would go unseen in a pocket)."""
    browser, ctx, routine = phone
    browser.execute_script(  # the phone's buzzer, counted (headless Chromium has none)
        "navigator.vibrate = function () { window.__buzzes = (window.__buzzes || 0) + 1; "
        "return true; };"
    )
    urgent = incident_service.open_incident(
        ctx,
        NewIncident(
            type=model.IncidentType.ILLEGAL_FISHING,
            lat=MOVED["latitude"],
            lon=MOVED["longitude"] + 0.003,
            description="岸边电鱼",
            priority=1,
        ),
        "chief",
    )["id"]
    incident_service.assign_units(
        ctx, urgent, Assignment(units=[UNIT], preempt=True, reason="更紧急"), "chief"
    )
    wait_for(lambda: urgent in page_text(browser, "#field-task-body"), 10, "the urgent task")
    card = page_text(browser, "#field-task-body")
    assert f"任务 {routine} 已撤销" in card and f"now {urgent}" in card, card
    assert _buzzes(browser) == 1
    incident_service.move(
        ctx, urgent, incident_service.Move(to=model.State.REJECTED, reason="误报"), "chief"
    )
    wait_for(lambda: "暂无任务" in page_text(browser, "#field-task-body"), 10, "no task")
    wait_for(
        lambda: f"Task {urgent} withdrawn" in page_text(browser, "#field-task-body"), 10, "said"
    )
    assert _buzzes(browser) == 2
    # sent with a colleague, who reports it handled: the work is done, nothing was taken away
    shared = incident_service.open_incident(
        ctx,
        NewIncident(type=model.IncidentType.NOISE, lat=MOVED["latitude"], lon=MOVED["longitude"]),
        "chief",
    )["id"]
    incident_service.assign_units(ctx, shared, Assignment(units=[UNIT, "U-MATE"]), "chief")
    wait_for(lambda: shared in page_text(browser, "#field-task-body"), 10, "the shared task")
    assert _buzzes(browser) == 3  # a new task
    for to in (model.State.ON_SCENE, model.State.HANDLED):
        incident_service.move(ctx, shared, incident_service.Move(to=to), "chief")
    wait_for(lambda: f"Task {shared} handled" in page_text(browser, "#field-task-body"), 10, "done")
    assert _buzzes(browser) == 3 and "withdrawn" not in page_text(browser, "#field-task-body")
    assert not console_errors(browser)


def _findings(ctx: AppContext) -> list[dict[str, Any]]:
    return [
        i for i in incident_service.listing(ctx, open_only=True) if i["source"] == "patrol_finding"
    ]


def test_actions_taken_offline_are_applied_once_when_the_network_returns(
    phone: tuple[webdriver.Chrome, AppContext, str], r: redis.Redis, tmp_path: Path
) -> None:
    browser, ctx, incident_id = phone
    browser.find_element(By.ID, "field-ack").click()
    wait_for(lambda: _state(ctx, incident_id) == "en_route", 10, "en route")
    wait_for(lambda: browser.find_element(By.ID, "field-arrived").is_enabled(), 10, "arrive")
    # the app installed itself while the signal was good (its service worker holds the page)
    controlled = "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"
    wait_for(lambda: browser.execute_script(controlled), 15, "the service worker in control")
    browser.set_network_conditions(
        offline=True, latency=0, download_throughput=0, upload_throughput=0
    )
    _arrive_with_photo(browser, tmp_path)
    wait_for(lambda: "待发送 2" in page_text(browser, "#field-queue"), 10, "two actions queued")
    assert "离线" in page_text(browser, "#field-net")
    assert _state(ctx, incident_id) == "en_route" and not _photos(ctx, incident_id)
    # still no signal, the app opened again: the service worker serves it, the queue is kept
    # (and grows: the positions taken meanwhile wait too, as evidence for the times claimed)
    browser.refresh()
    wait_for(lambda: _queued(browser) >= 2, 15, "the queue kept")
    land = "return document.querySelectorAll('#field-map .leaflet-land-pane path').length"
    wait_for(lambda: browser.execute_script(land), 10, "the map drawn with no signal")
    assert _map(browser)["ready"]
    browser.delete_network_conditions()
    wait_for(lambda: _state(ctx, incident_id) == "on_scene", 20, "on scene once back online")
    wait_for(lambda: _photos(ctx, incident_id), 10, "the photo in the case file")
    wait_for(lambda: "待发送 0" in page_text(browser, "#field-queue"), 10, "the queue sent")
    timeline = incident_service.detail(ctx, incident_id)["timeline"]
    assert [t["to"] for t in timeline].count("on_scene") == 1
    assert len(_photos(ctx, incident_id)) == 1
    assert r.hget(keys.FIELD_STATS, "task|relayed") == b"2"
