"""The KPI page in a real browser (Debian's chromium, the fixtures of tests/conftest.py): a
leader sees the tiles with the numbers `kpi_report` gives for the same period, changes the period
and the department and sees them follow, exports a chart's CSV, prints the report, opens the
wall screen, and the page logs no console errors or CSP violations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from domain.clock import Clock
from domain.coverage_places import load_coverage
from domain.geo import Geography
from domain.incidents import load_rules
from domain.vocab import local_day
from layouts.kpis import Ids
from services.kpis import kpi_report
from simulator import history
from store import keys, kpi_days
from store.writer import LiveStore
from tests.helpers import (
    TEST_DAY,
    console_errors,
    local_ms,
    page_text,
    sign_in,
    toggle_option,
    wait_for,
)
from views.kpi import coverage_average, duration, percent, period_bounds

SHOTS = Path("/tmp")  # screenshots to look at after a run (also kept in tmp_path)


def _expected(
    r: redis.Redis, clock: Clock, period: str, department: str | None = None
) -> dict[str, Any]:
    now = clock()
    from_ms, to_ms = period_bounds(period, None, None, now)
    return kpi_report(r, load_coverage(), from_ms, to_ms, department, None, now, load_rules())


def _rate_shown(rep: dict[str, Any]) -> tuple[str, str]:
    overall = rep["handling_rate"]["overall"]
    return percent(overall["rate"], 1), f"n = {overall['n']} 件受理"


def _tile(browser: webdriver.Chrome, key: str) -> str:
    return page_text(browser, f".ec-kpi-tile-{key}")


def _shows(browser: webdriver.Chrome, rep: dict[str, Any]) -> bool:
    rate, n = _rate_shown(rep)
    return rate in _tile(browser, "rate") and n in _tile(browser, "rate")


def _screenshot(browser: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    browser.save_screenshot(str(tmp_path / name))
    browser.save_screenshot(str(SHOTS / name))


def test_a_leader_sees_the_kpis_filters_them_exports_prints_and_opens_the_wall(
    r: redis.Redis,
    geo: Geography,
    web_at_noon: str,
    page_clock: Clock,
    browser: webdriver.Chrome,
    tmp_path: Path,
) -> None:
    web, now = web_at_noon, page_clock()
    fleet = history.demo_fleet(geo, 5)
    history.fill(r, geo, fleet, 30, now, seed=5)  # simulated incidents, marked as such
    history.fill_days(r, geo, fleet, 30, now, seed=5)  # patrols, units on duty, readings
    browser.set_window_size(1920, 1080)
    sign_in(browser, web, r, "leader", "boss")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "a map")
    browser.get(web + "/kpis")

    # 7 days (the default): the tiles show what kpi_report gives for the same period
    week = _expected(r, page_clock, "7d")
    wait_for(lambda: _shows(browser, week), 20, "the 7-day handling rate")
    first = {i["interval"]: i for i in week["response_times"]["intervals"]}
    assigned = _tile(browser, "report_to_assigned_s")
    assert duration(first["report_to_assigned_s"]["median_s"], "zh").split()[0] in assigned
    assert f"n = {first['report_to_assigned_s']['n']} 件" in assigned
    assert "目标 100%" in _tile(browser, "rate") and "目标 100%" in _tile(browser, "coverage-sea")
    assert f"{percent(week['response_times']['deadlines'][0]['share_missed'], 1)}" in _tile(
        browser, "deadlines"
    )
    assert "n = " in _tile(browser, "water") and "%" in _tile(browser, "water")
    simulated = week["incidents"]["simulated"]
    assert simulated > 0 and f"含 {simulated} 件模拟历史案件" in page_text(
        browser, f"#{Ids.SIMULATED}"
    )
    meta = page_text(browser, f"#{Ids.META}")
    assert "统计时段" in meta and "部门：全部" in meta and "生成于" in meta
    # every chart drew, with its n and its definition
    wait_for(
        lambda: len(browser.find_elements(By.CSS_SELECTOR, ".ec-kpi-graph .main-svg")) >= 11,
        20,
        "the charts",
    )
    head = page_text(browser, ".ec-kpi-chart-rate_source .ec-kpi-head")
    assert f"n = {week['handling_rate']['overall']['n']} 件受理案件" in head and "÷" in head
    _screenshot(browser, tmp_path, "kpi-normal.png")
    assert not console_errors(browser)

    # 30 days: the numbers follow
    month = _expected(r, page_clock, "30d")
    assert month["handling_rate"]["overall"]["n"] > week["handling_rate"]["overall"]["n"]
    browser.find_element(
        By.XPATH, f"//*[@id='{Ids.PERIOD}']//label[contains(., '最近30天')]"
    ).click()
    wait_for(lambda: _shows(browser, month), 20, "the 30-day handling rate")

    # one department: the numbers are that department's
    forestry = _expected(r, page_clock, "30d", "forestry")
    assert forestry["handling_rate"]["overall"]["n"] < month["handling_rate"]["overall"]["n"]
    toggle_option(browser, Ids.DEPARTMENT, "林业")
    wait_for(lambda: _shows(browser, forestry), 20, "the forestry handling rate")
    assert "部门：林业" in page_text(browser, f"#{Ids.META}")

    # in English: labels, tiles and charts
    lang = "//*[@id='shell-lang']//label[contains(., '{}')]"
    browser.find_element(By.XPATH, lang.format("English")).click()
    wait_for(lambda: "Handling rate" in _tile(browser, "rate"), 10, "the English tiles")
    wait_for(
        lambda: (
            "Handling rate by source"
            in page_text(browser, ".ec-kpi-chart-rate_source .ec-kpi-head")
        ),
        10,
        "the English chart titles",
    )
    assert "Last 30 days" in page_text(browser, f"#{Ids.PERIOD}")
    browser.find_element(By.XPATH, lang.format("中文")).click()
    wait_for(lambda: "案件处理率" in _tile(browser, "rate"), 10, "the Chinese tiles")

    # the CSV of one chart: exactly its rows, readable by Excel
    downloads = tmp_path / "downloads"
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.find_element(By.CSS_SELECTOR, ".ec-kpi-chart-rate_source .ec-kpi-csv").click()
    (saved,) = wait_for(lambda: list(downloads.glob("kpi-rate_source-*.csv")), 15, "the CSV")
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    lines = raw.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("分组,受理,按时办结")
    by_source = forestry["handling_rate"]["by_source"]
    assert len([x for x in lines[1:] if x]) == len(by_source)
    assert sum(int(x.split(",")[1]) for x in lines[1:] if x) == sum(s["n"] for s in by_source)

    # the report: one column at paper width, then the browser's print dialog
    browser.execute_script("window.print = function () { window.ecPrinted = true; };")
    browser.find_element(By.ID, Ids.REPORT).click()
    wait_for(lambda: browser.execute_script("return window.ecPrinted === true"), 10, "print")
    assert "ec-kpi-printing" in browser.execute_script("return document.body.className")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, ".ec-kpi-controls").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, ".ec-header").is_displayed()
    widths = browser.execute_script(
        "return [...document.querySelectorAll('.ec-kpi-graph .main-svg')]"
        ".map(function (s) { return s.getBoundingClientRect().width; });"
    )
    assert widths and max(widths) <= 1020  # every chart fits the page
    browser.set_window_size(1100, 1400)
    _screenshot(browser, tmp_path, "kpi-print.png")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert not console_errors(browser)

    # the wall screen: the tiles only, large, dark
    browser.set_window_size(1920, 1080)
    browser.get(web + "/kpis?wall=1&period=today&department=forestry")  # a kiosk's URL
    wait_for(
        lambda: "%" in _tile(browser, "rate") or "—" in _tile(browser, "rate"), 20, "the wall tiles"
    )
    assert browser.find_elements(By.CSS_SELECTOR, ".ec-page.ec-wall")
    assert browser.find_elements(By.CSS_SELECTOR, ".ec-kpi-charts") == []  # the tiles only
    assert not browser.find_element(By.CSS_SELECTOR, ".ec-kpi-controls").is_displayed()
    today = _expected(r, page_clock, "today", "forestry")
    wait_for(
        lambda: _shows(browser, today),
        20,
        f"today's figures {_rate_shown(today)}, shown: {_tile(browser, 'rate')!r}",
    )
    size = browser.execute_script(
        "return parseFloat(getComputedStyle(document.querySelector("
        "'.ec-kpi-tile-rate .ec-kpi-tile-value')).fontSize)"
    )
    assert size >= 80  # readable from 5 m
    _screenshot(browser, tmp_path, "kpi-wall.png")
    assert not console_errors(browser)


def test_operators_get_the_refusal(r: redis.Redis, web: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, web, r, "operator", "duty")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "a map")
    browser.get(web + "/kpis")
    wait_for(lambda: "无权" in page_text(browser, ".ec-no-access"), 15, "the refusal")
    assert not browser.find_elements(By.CSS_SELECTOR, ".ec-kpi-tile")
    assert "效能指标" not in page_text(browser, ".ec-nav")
    assert not [e for e in console_errors(browser) if "403" not in e["message"]]


def test_days_the_system_did_not_run_read_no_data_never_zero(
    r: redis.Redis, web_at_noon: str, page_clock: Clock, browser: webdriver.Chrome
) -> None:
    """Issue 17, defect 5: of the last 7 days the system ran today (a worker's heartbeat) and
    three days ago (a closed day); the other five read "no data", are left out of every
    average and trend, and no coverage tile reads 0 %."""
    today = TEST_DAY.strftime("%Y%m%d")
    back3 = (TEST_DAY - dt.timedelta(days=3)).strftime("%Y%m%d")
    LiveStore(r, 3_600_000, 100).heartbeat({"ts_ms": page_clock()}, day=today)
    kpi_days.store_day(r, back3, [], [], local_ms(TEST_DAY, "00:20"))
    places = list(load_coverage().places.values())
    for day in (today, back3):  # a third of the places of each kind visited
        visited = {f"{p.id}|foot|forestry": local_ms(TEST_DAY, "09:00") for p in places[::3]}
        r.zadd(keys.coverage_day(day), visited)
    week = _expected(r, page_clock, "7d")
    assert len(week["days_without_data"]) == 5 and today not in week["days_without_data"]
    assert {row["day"] for row in week["coverage"]} == {today, back3}  # no 0 % rows
    assert week["on_duty"] and {local_day(row["hour_ms"]) for row in week["on_duty"]} <= {
        today,
        back3,
    }

    sign_in(browser, web_at_noon, r, "leader", "boss")
    browser.get(web_at_noon + "/kpis")
    for kind in ("land", "coast", "sea"):
        share = coverage_average(week["coverage"], kind)["share"]
        assert share and share > 0.2, (kind, share)  # three days ago's, not diluted by 0s
        tile = f"coverage-{kind}"
        wait_for(lambda k=tile, v=share: percent(v) in _tile(browser, k), 20, tile)
        assert "5 天系统未运行，无数据" in _tile(browser, tile)
        assert "1 天" in _tile(browser, tile)
    assert not console_errors(browser)
