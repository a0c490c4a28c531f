"""The coverage page in a real browser (Debian's chromium, the fixtures of tests/conftest.py):
a leader sees the three figures, the heatmap hexagon where a unit patrolled, the blind spots with
their owners, switches the window and a filter, and the page logs no console errors."""

from __future__ import annotations

from pathlib import Path

import h3
import redis
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from domain.clock import Clock
from domain.coverage import PatrolClaim, reconcile
from domain.coverage_places import CoverageGeography, load_coverage
from ingest.coverage import grid_resolution
from layouts.coverage import Ids
from store import coverage, patrol_logs
from tests.helpers import (
    CELL,
    console_errors,
    page_text,
    sign_in,
    toggle_option,
    wait_for,
    write_available_unit,
    write_patrol_unit,
)

H = 3_600_000


def _stay(uid: str, lon: float, lat: float, t0: int, seconds: int) -> list[coverage.UnitPosition]:
    """A unit lingering around a point, a position every 10 s (a few metres apart)."""
    return [
        coverage.UnitPosition(uid, t0 + s * 1000, lon + (s % 60) * 1e-6, lat)
        for s in range(0, seconds + 1, 10)
    ]


def write_patrols(
    r: redis.Redis, cov: CoverageGeography, now: int, cells: int = 1, days: int = 0
) -> None:
    """Foot patrols through `cells` land cells (CELL first, for 20 minutes) in the last hour;
    with `days`, also boats and coast walks on earlier days, for a fuller picture."""
    res = grid_resolution(cov)
    land = [CELL, *[pid for pid in cov.land_ids if pid != CELL][: cells - 1]]
    for i, pid in enumerate(land):
        write_patrol_unit(r, f"F-{i}")
        lat, lon = h3.cell_to_latlng(pid)
        coverage.record(r, _stay(f"F-{i}", lon, lat, now - 50 * 60_000, 1200 - 15 * i), cov, res)
    for d in range(days):
        t0 = now - (d + 1) * 24 * H
        write_patrol_unit(r, f"B-{d}", kind="boat", department="fishery_maritime")
        write_patrol_unit(r, f"C-{d}", department="marine_fisheries")
        for j, pid in enumerate(cov.sea_ids[: 40 - 5 * d]):
            lat, lon = h3.cell_to_latlng(pid.removeprefix("sea-"))
            coverage.record(r, _stay(f"B-{d}", lon, lat, t0 + j * 1_800_000, 300), cov, res)
        for j, pid in enumerate(cov.coast_ids[: 30 - 4 * d]):
            point = cov.geoms[pid].interpolate(0.5, normalized=True)
            coverage.record(r, _stay(f"C-{d}", point.x, point.y, t0 + j * 1_800_000, 300), cov, res)


def write_flagged_log(r: redis.Redis, cov: CoverageGeography, now: int) -> None:
    """A log whose track stayed in CELL but claims a coast segment it never reached."""
    lat, lon = h3.cell_to_latlng(CELL)
    track = [(p.ts_ms, p.lon, p.lat) for p in _stay("F-0", lon, lat, now - 50 * 60_000, 1200)]
    claim = PatrolClaim("F-0", now - H, now, (CELL, "coast-nanao-03"), "foot")
    patrol_logs.save(r, claim, reconcile(claim, track, cov, cov.rules), by="chief", source="api")


def _presence_paths(browser: webdriver.Chrome) -> int:
    return browser.execute_script(
        "return document.querySelectorAll('.leaflet-coverage-presence-pane path').length"
    )


def _title_count(browser: webdriver.Chrome) -> int:
    text = page_text(browser, f"#{Ids.TABLE_TITLE}")
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else -1


def test_a_leader_sees_coverage_the_heatmap_and_blind_spots_and_filters_them(
    r: redis.Redis, web_at_noon: str, page_clock: Clock, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    web = web_at_noon
    cov = load_coverage()
    now = page_clock()
    write_patrols(r, cov, now)
    write_flagged_log(r, cov, now)
    first = min((p for p in cov.places.values() if p.id != CELL), key=lambda p: p.label)
    coverage.set_owner(r, first, "李四（测试）", "admin", now)  # on the table's first page
    browser.set_window_size(1920, 1080)
    sign_in(browser, web, r, "leader", "boss")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"), 15, "a map")
    browser.get(web + "/coverage")
    wait_for(
        lambda: len(browser.find_elements(By.CSS_SELECTOR, ".ec-cov-figure")) == 3,
        15,
        "the three figures",
    )
    figures = page_text(browser, f"#{Ids.FIGURES}")
    for label in (
        "陆域网格覆盖率",
        "岸线覆盖率",
        "海域巡查覆盖率",
        "目标 100%",
        "已巡 1 / 共 93 处",
    ):
        assert label in figures, label
    assert "葵涌" in page_text(browser, f"#{Ids.SUBDISTRICTS}")
    # the heatmap: one hexagon where the unit walked, its cell's tooltip names it and its owner
    wait_for(lambda: _presence_paths(browser) == 1, 15, "the presence hexagon")
    # the units on patrol, pushed and drawn in place as on every map (assets/live.js)
    write_available_unit(r, "U-COV", "foot", 22.60, 114.45)
    wait_for(
        lambda: browser.execute_script("return window.ecocommand.map.live.item('units', 'U-COV')"),
        15,
        "the live unit on the coverage map",
    )
    hexagon = browser.find_element(By.CSS_SELECTOR, ".leaflet-coverage-presence-pane path")
    ActionChains(browser).move_to_element(hexagon).perform()
    wait_for(lambda: "kuichong-10" in page_text(browser, ".leaflet-tooltip"), 10, "the tooltip")
    tip = page_text(browser, ".leaflet-tooltip")
    assert cov.places[CELL].owner in tip and "巡查时长" in tip and "小时前" in tip
    assert (
        browser.execute_script(
            "return document.querySelectorAll('.leaflet-coverage-blind-pane path').length"
        )
        > 100
    )
    # the blind spots: every place but the patrolled one, never visited first, with the owner
    wait_for(lambda: _title_count(browser) == len(cov.places) - 1, 10, "the blind-spot count")
    wait_for(
        lambda: "李四（测试）" in page_text(browser, f"#{Ids.TABLE}"), 10, "the reassigned owner"
    )
    table = page_text(browser, f"#{Ids.TABLE}")
    assert "从未巡查" in table and "责任人" in table and cov.places[CELL].label not in table
    assert "轨迹未到达" in page_text(browser, f"#{Ids.LOGS}")  # the flagged patrol log
    assert browser.find_elements(By.ID, Ids.REASSIGN) == []  # in an admin's page only
    browser.save_screenshot(str(tmp_path / "coverage.png"))
    # the CSV the page exports carries the owner and the last visit
    downloads = tmp_path / "downloads"
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.find_element(By.ID, Ids.CSV).click()
    (saved,) = wait_for(lambda: list(downloads.glob("blind-spots-*.csv")), 10, "the CSV file")
    exported = saved.read_bytes().decode("utf-8-sig")
    assert "责任人" in exported and "上次巡查" in exported and "李四（测试）" in exported
    assert exported.count("\r\n") == len(cov.places)  # a header and every blind spot

    # the window: the last 7 days; then only boats, which patrolled nowhere
    before = page_text(browser, f"#{Ids.RANGE}")
    browser.find_element(
        By.XPATH, f"//*[@id='{Ids.WINDOW}']//label[contains(., '最近7天')]"
    ).click()
    wait_for(lambda: page_text(browser, f"#{Ids.RANGE}") != before, 10, "the 7-day range")
    assert "已巡 1 / 共 93 处" in page_text(browser, f"#{Ids.FIGURES}")
    assert _presence_paths(browser) == 1
    toggle_option(browser, Ids.KINDS, "船巡")
    wait_for(lambda: _presence_paths(browser) == 0, 10, "no boat presence")
    wait_for(lambda: _title_count(browser) == len(cov.places), 10, "the cell a blind spot again")
    assert "已巡 0 / 共 93 处" in page_text(browser, f"#{Ids.FIGURES}")
    assert not console_errors(browser)
