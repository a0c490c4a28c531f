"""The trail page and the dispatch page's record check in a real browser at 1366x768: a leader
opens `/trail?ref=incident:ID` and reads the entries with their badge, in Chinese and English;
a duty chief opens the incident on `/dispatch`, sees its timeline verified and reveals the
caller's number (recorded). Screenshots in /tmp to look at; no console errors."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from layouts.dispatch import Ids as Dispatch
from layouts.shell import Ids as Shell
from layouts.trail import Ids
from store import audit as log
from store import incident_audit, incidents
from tests.helpers import (
    console_errors,
    open_hotline_incident,
    page_text,
    screen,
    sign_in,
    sign_out_in,
    wait_for,
)

SHOTS = Path("/tmp")
NUMBER = "138 0013 8000"


def _incident(r: redis.Redis) -> str:
    """An incident opened by a duty chief and noted, recorded as the services record them."""
    now = time.time_ns() // 1_000_000
    incident_id = open_hotline_incident(r, reporter_phone=NUMBER)
    incident_audit.record_event(
        r, "user:chief", "incident.opened", incident_id, "reported", now, "chief"
    )
    note = incidents.add_note(r, incident_id, "note", {"text": "到场"}, by="chief", at_ms=now)
    incident_audit.record_note(r, "user:chief", "incident.note", incident_id, note.detail, now)
    return incident_id


def _shoot(browser: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    browser.save_screenshot(str(tmp_path / name))
    browser.save_screenshot(str(SHOTS / name))


def test_a_leader_reads_a_trail_and_a_chief_checks_and_reveals(
    r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    incident_id = _incident(r)
    screen(browser, 1366, 768)
    sign_in(browser, web, r, "leader", "boss")
    wait_for(lambda: "/login" not in browser.current_url, 10, "signed in")
    browser.get(f"{web}/trail?ref=incident:{incident_id}")
    status = f"#{Ids.STATUS}"
    wait_for(lambda: "待签名" in page_text(browser, status), 15, "the badge")
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{Ids.TABLE} tbody tr")
    assert len(rows) == 2 and "立案" in rows[0].text and "添加备注" in rows[1].text
    assert "与审计日志一致" in page_text(browser, f"#{Ids.TIMELINE}")
    assert browser.find_element(By.ID, Ids.IDENT).get_attribute("value") == incident_id
    _shoot(browser, tmp_path, "trail-leader-zh.png")
    assert not console_errors(browser)
    browser.find_element(
        By.XPATH, f"//*[@id='{Shell.LANG}']//label[contains(., 'English')]"
    ).click()
    wait_for(lambda: "Pending signature" in page_text(browser, status), 15, "English")
    assert "Incident opened" in page_text(browser, f"#{Ids.TABLE}")
    _shoot(browser, tmp_path, "trail-leader-en.png")
    # another ref typed in: an account's trail
    ident = browser.find_element(By.ID, Ids.IDENT)
    ident.clear()
    ident.send_keys("nobody\n")
    wait_for(lambda: "No entries" in page_text(browser, status), 15, "an empty trail")
    assert not console_errors(browser)
    sign_out_in(browser)

    sign_in(browser, web, r, "dispatcher", "chief")
    wait_for(lambda: "/login" not in browser.current_url, 10, "signed in")
    browser.get(web + "/dispatch")
    row = f"//*[@id='{Dispatch.QUEUE}']//button[contains(., '{incident_id}')]"
    wait_for(lambda: browser.find_elements(By.XPATH, row), 15, "the incident in the queue")
    assert "/trail" not in page_text(browser, f"#{Shell.NAV}")
    browser.find_element(By.XPATH, row).click()
    detail = f"#{Dispatch.DETAIL}"
    wait_for(lambda: "时间线已核验" in page_text(browser, detail), 10, "the timeline check")
    assert "138****8000" in page_text(browser, detail) and NUMBER not in page_text(browser, detail)
    browser.find_element(By.CSS_SELECTOR, f"{detail} .ec-reveal").click()
    wait_for(lambda: NUMBER in page_text(browser, f"{detail} .ec-phone"), 10, "the number")
    found = [e for e in log.trail(r, "access", f"incident:{incident_id}")]
    assert [(e["action"], e["actor"]) for e in found] == [("personal.phone_read", "user:chief")]
    _shoot(browser, tmp_path, "dispatch-check-zh.png")
    assert not console_errors(browser)
