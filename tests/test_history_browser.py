"""Incident history (issue 17): a leader finds a closed incident by its type and the unit that
handled it among closed, rejected, transferred and still-open ones, pages through them, and opens
its whole record (the case file and timeline /dispatch shows); an operator may not; the same
query through GET /api/v1/incidents. Screenshots at 1920x1080 and 1366x768 in zh and en."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from config.settings import Settings
from layouts.history import PATH, Ids
from layouts.shell import Ids as Shell
from services import incident_history, incidents
from services.context import build
from services.incidents import Assignment, Move, Note
from tests.helpers import (
    console_errors,
    open_hotline_incident,
    page_text,
    screen,
    sign_in,
    sign_out_in,
    signed_in,
    switch_language,
    toggle_option,
    wait_for,
    write_available_unit,
)

SHOTS = Path("/tmp")


def _handled(ctx, r: redis.Redis, unit: str, end: str = "closed", **fields: object) -> str:
    """An incident the unit went to, then moved on to `end`."""
    incident_id = open_hotline_incident(r, **fields)
    incidents.assign_units(ctx, incident_id, Assignment(units=[unit]), "chief")
    for state in ("en_route", "on_scene", "handled", end):
        incidents.move(ctx, incident_id, Move(to=state), "chief")
    return incident_id


def _seed(r: redis.Redis, settings: Settings) -> dict[str, str]:
    ctx = build(settings)
    write_available_unit(r, "FO-HIST", "foot", 22.525, 114.545, skills=("illegal_logging",))
    write_available_unit(r, "FO-OTHER", "foot", 22.526, 114.546, skills=("illegal_logging",))
    found = {"ours": _handled(ctx, r, "FO-HIST", description="北坡 盗伐 松树 12 株")}
    incidents.add_note(ctx, found["ours"], Note(text="现场取证完毕，移交林业"), "chief")
    found["other_unit"] = _handled(ctx, r, "FO-OTHER")
    found["rejected"] = open_hotline_incident(r)
    incidents.move(ctx, found["rejected"], Move(to="rejected", reason="重复报警"), "chief")
    found["open"] = open_hotline_incident(r)  # still open: never in the history
    incidents.assign_units(ctx, found["open"], Assignment(units=["FO-HIST"]), "chief")
    for _ in range(22):  # more than a page of ended incidents of another type
        other = open_hotline_incident(
            r, type="illegal_fishing", domain="sea", lat=22.50, lon=114.56
        )
        away = Move(to="transferred", reason="属海警", department="fishery_maritime")
        incidents.move(ctx, other, away, "chief")
    return found


def _row_ids(browser: webdriver.Chrome) -> list[str]:
    # one script call: the rows are redrawn between a find and a read
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);",
        f"#{Ids.RESULTS} .ec-history-id",
    )


def test_a_leader_finds_a_closed_incident_by_type_and_unit_and_opens_its_record(
    r: redis.Redis, web: str, browser: webdriver.Chrome, settings: Settings
) -> None:
    found = _seed(r, settings)
    screen(browser, 1366, 768)
    sign_in(browser, web, r, "leader", "boss")
    browser.get(web + PATH)
    summary = f"#{Ids.SUMMARY}"
    wait_for(lambda: "共 25 条" in page_text(browser, summary), 15, "every ended incident")
    assert found["open"] not in _row_ids(browser)
    assert len(_row_ids(browser)) == 20  # a page
    browser.find_element(By.ID, Ids.NEXT).click()
    wait_for(lambda: "第 21–25 条" in page_text(browser, summary), 10, "the second page")

    toggle_option(browser, Ids.TYPE, "盗伐林木")
    wait_for(lambda: "共 3 条" in page_text(browser, summary), 10, "by type")
    unit = browser.find_element(By.ID, Ids.UNIT)
    unit.send_keys("FO-HIST" + Keys.ENTER)
    wait_for(lambda: _row_ids(browser) == [found["ours"]], 10, "by type and unit")
    browser.find_element(By.CSS_SELECTOR, f"#{Ids.RESULTS} button").click()
    record = f"#{Ids.RECORD}"
    wait_for(lambda: found["ours"] in page_text(browser, record), 10, "its record")
    text = page_text(browser, record)
    for shown in ("已办结", "北坡 盗伐", "现场取证完毕", "FO-HIST", "已处置"):
        assert shown in text, (shown, text)
    replay = browser.find_element(By.CSS_SELECTOR, f"{record} a[href^='/replay']")
    assert replay.get_attribute("href").endswith(f"/replay?incident={found['ours']}")

    # the words and an outcome narrow it too; a day with nothing: none
    unit.send_keys(Keys.CONTROL, "a")
    unit.send_keys(Keys.BACKSPACE, Keys.ENTER)
    toggle_option(browser, Ids.STATE, "不予受理")
    wait_for(lambda: _row_ids(browser) == [found["rejected"]], 10, "the rejected one")
    browser.execute_script(
        "var e = document.getElementById(arguments[0]);"
        "var set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
        "set.call(e, '2020-01-01'); e.dispatchEvent(new Event('input', {bubbles: true}));",
        Ids.TO,
    )
    wait_for(lambda: "没有符合条件" in page_text(browser, summary), 10, "nothing before 2020")
    assert not console_errors(browser)


def test_screenshots_of_the_history_and_who_may_open_it(
    r: redis.Redis, web: str, browser: webdriver.Chrome, settings: Settings
) -> None:
    found = _seed(r, settings)
    sign_in(browser, web, r, "dispatcher", "chief")
    browser.get(web + "/dispatch")
    link = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".ec-history-link"), 15, "link")
    link[0].click()
    wait_for(lambda: browser.current_url.endswith(PATH), 10, "the history from /dispatch")
    for lang in ("zh", "en"):
        for width, height in ((1920, 1080), (1366, 768)):
            screen(browser, width, height)
            browser.get(web + PATH + "?unit=FO-HIST")
            switch_language(browser, lang)
            wait_for(lambda: _row_ids(browser) == [found["ours"]], 15, "filtered by the URL")
            browser.find_element(By.CSS_SELECTOR, f"#{Ids.RESULTS} button").click()
            wait_for(lambda: found["ours"] in page_text(browser, f"#{Ids.RECORD}"), 10, "record")
            wide = browser.execute_script("return document.documentElement.scrollWidth")
            assert wide <= width, (lang, width, wide)
            browser.save_screenshot(str(SHOTS / f"history-{lang}-{width}x{height}.png"))
    assert not console_errors(browser)
    # an operator may not read the history
    sign_out_in(browser)
    sign_in(browser, web, r, "operator", "duty")
    browser.get(web + PATH)
    wait_for(lambda: page_text(browser, f"#{Shell.NAV}"), 15, "the page")
    assert not browser.find_elements(By.ID, Ids.RESULTS)


def test_the_api_answers_the_history_query(
    server: Flask, r: redis.Redis, settings: Settings
) -> None:
    found = _seed(r, settings)
    c = signed_in(server, "leader")
    res = c.get("/api/v1/incidents?state=closed&type=illegal_logging&unit=FO-HIST")
    assert res.status_code == 200, res.json
    assert [i["id"] for i in res.json["items"]] == [found["ours"]], res.json
    res = c.get("/api/v1/incidents?state=transferred&limit=5&offset=20")
    assert (res.json["count"], res.json["total"], res.json["offset"]) == (2, 22, 20)
    res = c.get("/api/v1/incidents?q=" + "北坡")
    assert [i["id"] for i in res.json["items"]] == [found["ours"]]
    ctx = build(settings)
    here = incident_history.community_of(ctx, incidents.detail(ctx, found["ours"]))
    assert here in incident_history.communities(ctx)
    res = c.get(f"/api/v1/incidents?community={here}&type=illegal_logging")
    assert found["ours"] in [i["id"] for i in res.json["items"]]
    assert res.json["total"] == 4  # every state here (the open one too); the sea ones: none
    res = c.get("/api/v1/incidents?subdistrict=atlantis")
    assert res.status_code == 422
    page = incident_history.search(ctx, incident_history.Query(unit="fo-hist"))
    assert [i["id"] for i in page.items] == [found["ours"]]  # ended only, any case
