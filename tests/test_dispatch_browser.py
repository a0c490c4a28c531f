"""The dispatch page in a real browser for each reader: a duty chief, a leader and an operator open
/dispatch with an incident selected. The chief's page has the controls to act (assign,
pre-emption, reason, transfer, next steps, the new-incident form, the case file's inputs); the
leader's and the operator's pages do not hold them at all, only what they read. Each in Chinese
and English, with screenshots at 1920x1080, and no console errors."""

from __future__ import annotations

from pathlib import Path

import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from config.settings import Settings
from layouts.dispatch import Ids
from layouts.shell import Ids as Shell
from services import incidents, messages
from services.context import build
from services.incidents import Move
from tests.helpers import (
    console_errors,
    open_hotline_incident,
    page_text,
    screen,
    sign_in,
    sign_out_in,
    toggle_option,
    wait_for,
    write_available_unit,
)
from views.dispatch import ROUTE_COLOUR

SHOTS = Path("/tmp")  # screenshots to look at after a run (also kept in tmp_path)
# a duty chief's controls: nobody else's page holds any of them
CHIEF_ONLY = (
    Ids.ASSIGN,
    Ids.PREEMPT,
    Ids.REASON,
    Ids.DEPARTMENT,  # transfer to
    Ids.CHIEF_INPUTS,
    Ids.CANDIDATES,  # the checkboxes of the units to send
    Ids.FORM,
    Ids.CREATE,
    Ids.NEW_TYPE,
    Ids.NEW_LAT,
    Ids.NEW_LON,
    Ids.CASE_FILE,
    Ids.NOTE_TEXT,
    Ids.ADD_NOTE,
    Ids.MESSAGE,
    Ids.EVIDENCE,
    Ids.NOTE,
    Ids.MAP,  # the map a click on which places a new incident
)


def _open_incident(r: redis.Redis) -> str:
    return open_hotline_incident(r, department="forestry")


def _select(browser: webdriver.Chrome, web: str, incident_id: str) -> None:
    """Opens /dispatch and selects the incident in the queue; returns once its detail and its
    candidates show."""
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "a map")
    browser.get(web + "/dispatch")
    row = f"//*[@id='{Ids.QUEUE}']//button[contains(., '{incident_id}')]"
    wait_for(lambda: browser.find_elements(By.XPATH, row), 15, "the incident in the queue")
    browser.find_element(By.XPATH, row).click()
    wait_for(lambda: incident_id in page_text(browser, f"#{Ids.DETAIL} h2"), 10, "its detail")
    wait_for(lambda: "FO-NEAR" in page_text(browser, f"#{Ids.CANDIDATES_BOX}"), 10, "candidates")
    _wait_drawn(browser, f"incident:{incident_id}")


def _wait_drawn(browser: webdriver.Chrome, feature: str) -> None:
    """Until the map has drawn this feature (assets/map.js keeps what it drew by feature id)."""
    drawn = (
        "var m = window.ecocommand && window.ecocommand.map; return !!(m && m.drawn[arguments[0]]);"
    )
    wait_for(lambda: browser.execute_script(drawn, feature), 10, f"{feature} on the map")


def _switch_to_english(browser: webdriver.Chrome) -> None:
    browser.find_element(
        By.XPATH, f"//*[@id='{Shell.LANG}']//label[contains(., 'English')]"
    ).click()
    wait_for(lambda: "Incident queue" in page_text(browser, f"#{Ids.QUEUE_TITLE}"), 15, "English")


def _shoot(browser: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    # two animation frames: Leaflet draws the canvas markers it was given on the next one
    browser.execute_async_script(
        "var done = arguments[0];"
        "requestAnimationFrame(function () { requestAnimationFrame(done); });"
    )
    browser.save_screenshot(str(tmp_path / name))
    browser.save_screenshot(str(SHOTS / name))


def test_each_reader_gets_a_dispatch_page_with_only_the_controls_they_may_use(
    r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    write_available_unit(r, "FO-NEAR", "foot", 22.525, 114.545)
    incident_id = _open_incident(r)
    screen(browser, 1920, 1080)  # the page itself 1920 x 1080, as on a desk's screen

    # the duty chief: every control there, and the next steps of the selected incident
    sign_in(browser, web, r, "dispatcher", "chief")
    _select(browser, web, incident_id)
    for ident in CHIEF_ONLY:
        assert browser.find_elements(By.ID, ident), ident
    assert browser.find_elements(By.CSS_SELECTOR, f"#{Ids.CANDIDATES} input[value='FO-NEAR']")
    assert browser.find_elements(By.CSS_SELECTOR, f"#{Ids.DETAIL} .ec-moves button")
    assert "允许抽调" in page_text(browser, f"#{Ids.PREEMPT}")  # labels in Chinese first
    _shoot(browser, tmp_path, "dispatch-chief-zh.png")
    assert not console_errors(browser)
    _switch_to_english(browser)
    wait_for(lambda: "FO-NEAR" in page_text(browser, f"#{Ids.CANDIDATES_BOX}"), 10, "candidates")
    _wait_drawn(browser, f"incident:{incident_id}")
    assert "Allow taking units off" in page_text(browser, f"#{Ids.PREEMPT}")
    assert browser.find_element(By.ID, Ids.ASSIGN).text == "Assign"
    _shoot(browser, tmp_path, "dispatch-chief-en.png")
    assert not console_errors(browser)
    sign_out_in(browser)

    # a leader and an operator read the same incident: none of the chief's controls exist
    for role, name in (("leader", "boss"), ("operator", "duty")):
        sign_in(browser, web, r, role, name)
        _select(browser, web, incident_id)
        for ident in CHIEF_ONLY:
            assert browser.find_elements(By.ID, ident) == [], (role, ident)
        assert browser.find_elements(By.ID, Ids.VIEW_MAP)  # the same map, to look at
        box = f"#{Ids.CANDIDATES_BOX}"
        assert browser.find_elements(By.CSS_SELECTOR, f"{box} input") == [], role
        assert browser.find_elements(By.CSS_SELECTOR, f"#{Ids.DETAIL} button") == [], role
        assert browser.find_elements(By.CSS_SELECTOR, ".ec-moves") == [], role
        assert "北侧山坡有人砍伐" in page_text(browser, f"#{Ids.DETAIL}")
        _shoot(browser, tmp_path, f"dispatch-{role}-zh.png")
        assert not console_errors(browser), role
        if role == "leader":
            _switch_to_english(browser)
            wait_for(lambda: "Illegal logging" in page_text(browser, f"#{Ids.DETAIL}"), 10, "en")
            _wait_drawn(browser, f"incident:{incident_id}")
            for ident in CHIEF_ONLY:
                assert browser.find_elements(By.ID, ident) == [], (role, ident)
            _shoot(browser, tmp_path, f"dispatch-{role}-en.png")
            assert not console_errors(browser), role
        sign_out_in(browser)


def test_a_duty_chief_writes_to_the_units_on_an_incident_and_sees_it_read(
    r: redis.Redis, web: str, browser: webdriver.Chrome, settings: Settings
) -> None:
    ctx = build(settings)
    write_available_unit(r, "FO-NEAR", "foot", 22.525, 114.545)
    incident_id = _open_incident(r)
    incidents.assign_units(ctx, incident_id, incidents.Assignment(units=["FO-NEAR"]), "chief")
    browser.set_window_size(1366, 768)
    sign_in(browser, web, r, "dispatcher", "chief")
    _select_assigned(browser, web, incident_id)
    browser.find_element(By.ID, Ids.NOTE_TEXT).send_keys("到达后先拍照取证")
    browser.find_element(By.ID, Ids.MESSAGE).click()
    wait_for(lambda: "已发送给 FO-NEAR" in page_text(browser, f"#{Ids.NOTE}"), 10, "sent")
    wait_for(lambda: "未读" in page_text(browser, "#dispatch-messages"), 10, "in the thread")
    (sent,) = messages.thread(ctx, "FO-NEAR")
    assert (sent["dir"], sent["by"], sent["text"]) == ("to_unit", "chief", "到达后先拍照取证")
    messages.mark_read(ctx, "FO-NEAR", "li", [sent["id"]])  # as the unit's phone does
    # the panel follows by itself: nobody selects the incident again
    wait_for(lambda: "已读" in page_text(browser, "#dispatch-messages"), 10, "read")
    assert not console_errors(browser)


def _select_assigned(browser: webdriver.Chrome, web: str, incident_id: str) -> None:
    browser.get(web + "/dispatch")
    row = f"//*[@id='{Ids.QUEUE}']//button[contains(., '{incident_id}')]"
    wait_for(lambda: browser.find_elements(By.XPATH, row), 15, "the incident in the queue")
    browser.find_element(By.XPATH, row).click()
    wait_for(lambda: incident_id in page_text(browser, f"#{Ids.DETAIL} h2"), 10, "its detail")


def _shown(browser: webdriver.Chrome, ident: str) -> bool:
    found = browser.find_elements(By.ID, ident)
    return bool(found) and found[0].is_displayed()


def _above_the_fold(browser: webdriver.Chrome, css: str) -> bool:
    return browser.execute_script(
        "var e = document.querySelector(arguments[0]);"
        "return !!e && e.getBoundingClientRect().bottom <= window.innerHeight;",
        css,
    )


def test_the_detail_panel_follows_the_incident_and_offers_only_what_its_state_allows(
    r: redis.Redis, web: str, browser: webdriver.Chrome, settings: Settings, tmp_path: Path
) -> None:
    """Issue 17, defects 1 and 11: another chief's (or a unit's) moves show in the open panel
    without selecting the incident again; no actions with nothing selected; ranked, labelled
    candidates; no candidates nor Assign once handled; the next steps above the fold at 1080;
    a new-incident form emptied once the incident is opened."""
    ctx = build(settings)
    write_available_unit(r, "FO-NEAR", "foot", 22.525, 114.545)
    write_available_unit(r, "FO-FAR", "foot", 22.56, 114.50)
    incident_id = _open_incident(r)
    screen(browser, 1920, 1080)
    sign_in(browser, web, r, "dispatcher", "chief")
    browser.get(web + "/dispatch")
    wait_for(lambda: _shown(browser, Ids.QUEUE), 15, "the queue")
    wait_for(lambda: incident_id in page_text(browser, f"#{Ids.QUEUE}"), 15, "the incident")
    for ident in (Ids.CHIEF_INPUTS, Ids.CASE_FILE, Ids.ASSIGN, Ids.CANDIDATES_BOX):
        assert not _shown(browser, ident), f"{ident} with nothing selected"

    _select(browser, web, incident_id)
    ranked = page_text(browser, f"#{Ids.CANDIDATES_BOX}").splitlines()
    assert ranked[0].startswith("1. ★ 首选 FO-NEAR") and "位置" in ranked[0], ranked
    assert ranked[1].startswith("2. FO-FAR"), ranked
    assert _above_the_fold(browser, f"#{Ids.DETAIL} .ec-moves")
    assert _shown(browser, Ids.ASSIGN) and _shown(browser, Ids.REASON)

    # another chief sends the unit and it goes on: the open panel follows each step
    incidents.assign_units(ctx, incident_id, incidents.Assignment(units=["FO-NEAR"]), "other")
    wait_for(
        lambda: "已派遣" in page_text(browser, f"#{Ids.DETAIL} .ec-alert-source"), 10, "assigned"
    )
    for state, label in (("on_scene", "到达现场"), ("handled", "已处置")):
        incidents.move(ctx, incident_id, Move(to=state), "other")
        wait_for(
            lambda s=label: s in page_text(browser, f"#{Ids.DETAIL} .ec-alert-source"), 10, label
        )
    assert "已处置" in page_text(browser, f"#{Ids.DETAIL} .ec-timeline")
    wait_for(lambda: not _shown(browser, Ids.ASSIGN), 10, "no Assign once handled")
    for ident in (Ids.CANDIDATES_BOX, Ids.PREEMPT, Ids.REASON, Ids.DEPARTMENT):
        assert not _shown(browser, ident), f"{ident} once handled"
    assert _shown(browser, Ids.CASE_FILE)  # notes and evidence still go in
    _shoot(browser, tmp_path, "dispatch-handled-zh.png")

    # a new incident: placed by a click on the map, opened, and the form is empty again
    browser.find_element(By.ID, Ids.FORM_TITLE).click()
    toggle_option(browser, Ids.NEW_TYPE, "非法采砂")
    browser.find_element(By.ID, Ids.NEW_DESCRIPTION).send_keys("河口有采砂船")
    browser.find_element(By.ID, Ids.MAP).click()
    lat = browser.find_element(By.ID, Ids.NEW_LAT)
    wait_for(lambda: lat.get_attribute("value"), 10, "the place from the click")
    browser.find_element(By.ID, Ids.CREATE).click()
    wait_for(lambda: "已立案" in page_text(browser, f"#{Ids.CREATE_NOTE}"), 10, "opened")
    for ident in (Ids.NEW_LAT, Ids.NEW_LON, Ids.NEW_DESCRIPTION):
        wait_for(
            lambda i=ident: browser.find_element(By.ID, i).get_attribute("value") == "", 10, ident
        )
    assert "非法采砂" not in page_text(browser, f"#{Ids.NEW_TYPE}")
    assert not console_errors(browser)


def test_the_dispatch_map_draws_the_way_the_eta_assumed_for_the_unit_sent(
    r: redis.Redis, web: str, browser: webdriver.Chrome, settings: Settings
) -> None:
    """Issue 17, defect 4: after assigning, the unit sent stays on the dispatch map (moving,
    pushed) with the way its ETA assumed, by road round the bay: not a straight line."""
    ctx = build(settings)
    write_available_unit(r, "CAR-KC", "vehicle", 22.63, 114.43)  # at Kuichong
    incident_id = open_hotline_incident(r, lat=22.53, lon=114.50, domain="land")  # Nan'ao
    incidents.assign_units(ctx, incident_id, incidents.Assignment(units=["CAR-KC"]), "chief")
    sign_in(browser, web, r, "dispatcher", "chief")
    _select_assigned(browser, web, incident_id)
    routes = "return window.ecocommand.map.live.polylines();"
    wait_for(
        lambda: [p for p in browser.execute_script(routes) if p["color"] == ROUTE_COLOUR],
        15,
        "the route of the unit sent",
    )
    (route,) = [p for p in browser.execute_script(routes) if p["color"] == ROUTE_COLOUR]
    assert route["points"] > 5 and route["dash"] is None  # a road's bends, drawn solid
    here = "return window.ecocommand.map.live.item('units', 'CAR-KC');"
    wait_for(lambda: browser.execute_script(here), 10, "the unit itself, live, on the same map")
    write_available_unit(r, "CAR-KC", "vehicle", 22.60, 114.45)  # it moves: the marker follows
    wait_for(
        lambda: (
            (
                browser.execute_script("return window.ecocommand.map.live.item('units', 'CAR-KC');")
                or {}
            ).get("lat")
            == 22.6
        ),
        10,
        "the unit moving on the dispatch map",
    )
    assert not console_errors(browser)


def test_every_live_map_has_a_full_screen_button_and_a_legend(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    """Issue 17: a full-screen button on every map, and a legend where the page has none of
    its own (the dispatch map: the live map's is in its side panel), with the scale bar."""
    write_available_unit(r, "FO-NEAR", "foot", 22.525, 114.545)
    sign_in(browser, web, r, "dispatcher", "chief")
    for page, corner_legend in (("/dispatch", True), ("/", False), ("/coverage", True)):
        browser.get(web + page)
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".ec-fullscreen a"), 15, page)
        legend = browser.find_elements(By.CSS_SELECTOR, ".ec-map-legend")
        assert bool(legend) is corner_legend, page
        if corner_legend:
            assert "待命" in legend[0].text and "在现场" in legend[0].text
        assert browser.find_elements(By.CSS_SELECTOR, ".leaflet-control-scale"), page
        assert (
            browser.find_element(By.CSS_SELECTOR, ".ec-fullscreen a").get_attribute("title")
            == "全屏"
        )
    browser.find_element(By.CSS_SELECTOR, ".ec-fullscreen a").click()
    wait_for(
        lambda: browser.execute_script(
            "return !!document.fullscreenElement"
            " && document.fullscreenElement.classList.contains('leaflet-container');"
        ),
        5,
        "the map full screen",
    )
    assert not console_errors(browser)
