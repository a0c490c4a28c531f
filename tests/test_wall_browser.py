"""The wall screen (`/?wall=1`) in a real browser at 1920x1080 (issue 17, defect 10): the open
incidents are listed above the alerts, most urgent and overdue first; the district fills the
map; land and sea are told apart in the dark theme; a legend and a clock in Shenzhen time; no
"tiles unavailable" strip; in Chinese and English, with no console errors."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import redis
from selenium import webdriver

from dashboard import map_data
from domain.vocab import LOCAL_TZ
from layouts.map import DARK_BASEMAP_STYLES, Ids
from layouts.shell import Ids as Shell
from tests.helpers import (
    console_errors,
    open_hotline_incident,
    page_text,
    screen,
    sign_in,
    wait_for,
)

WALL_SEA = "#0a1c2c"  # .ec-wall .ec-map's background in assets/map.css


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_wall_screen_shows_what_the_room_is_handling(
    r: redis.Redis, web: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    open_hotline_incident(r, priority=1, type="waste_dumping")  # the most urgent: listed first
    open_hotline_incident(r, priority=3)
    screen(browser, 1920, 1080)
    sign_in(browser, web, r, "operator", "hall")
    browser.get(web + "/?wall=1")
    listed = f"#{Ids.WALL_INCIDENTS}"
    wait_for(lambda: "未办结案件 2" in page_text(browser, listed), 15, "the open incidents")
    rows = page_text(browser, listed).splitlines()
    first = next(i for i, line in enumerate(rows) if "非法倾倒" in line)
    assert first < next(i for i, line in enumerate(rows) if "盗伐林木" in line), rows
    assert "待派遣" in page_text(browser, listed)  # nobody sent yet
    assert (
        browser.find_element("id", Ids.WALL_INCIDENTS).location["y"]
        < (browser.find_element("id", Ids.FEED_TITLE).location["y"])
    )  # above the alerts

    # the clock: Shenzhen time, ticking
    clock = f"#{Ids.CLOCK}"
    wait_for(lambda: re.fullmatch(r"\d\d-\d\d \d\d:\d\d:\d\d", page_text(browser, clock)), 5)
    shown = dt.datetime.strptime(page_text(browser, clock), "%m-%d %H:%M:%S")
    now = dt.datetime.now(LOCAL_TZ)
    assert (shown.month, shown.day) == (now.month, now.day) or now.hour == 0
    minutes = lambda d: d.hour * 60 + d.minute  # noqa: E731
    assert abs(minutes(shown) - minutes(now)) <= 1

    # the legend says what the colours mean; no tiles strip on the wall
    legend = page_text(browser, f"#{Ids.LEGEND}")
    assert "待命" in legend and "在现场" in legend and "告警位置" in legend
    assert not browser.find_element("id", Ids.TILES_NOTE).is_displayed()

    # the district fills the map (it took about a third of its width at the desk's zoom)
    wait_for(lambda: browser.execute_script("return window.ecocommand.map.live.view();"), 15)
    view = browser.execute_script("return window.ecocommand.map.live.view();")
    (s, w), (n, e) = map_data.district_bounds()
    (vs, vw), (vn, ve) = view["bounds"]
    assert vs <= s and vw <= w and vn >= n and ve >= e, view  # all of it in view
    assert max((e - w) / (ve - vw), (n - s) / (vn - vs)) >= 0.8, view

    # land and sea told apart in the dark theme: WCAG's 3:1 for shapes that carry meaning
    assert _contrast(DARK_BASEMAP_STYLES["land"]["fillColor"], WALL_SEA) >= 3
    sea = browser.execute_script(
        "return getComputedStyle(document.querySelector('.ec-wall .ec-map')).backgroundColor;"
    )
    assert sea == "rgb(10, 28, 44)", sea  # WALL_SEA, as the stylesheet has it
    browser.save_screenshot(str(tmp_path / "wall-zh.png"))
    browser.save_screenshot("/tmp/wall-zh.png")
    assert not console_errors(browser)

    # in English (the wall has no switch: the account's language is set on a desk page)
    browser.get(web + "/")
    wait_for(lambda: page_text(browser, f"#{Shell.NAV}"), 15, "the desk page")
    browser.find_element("xpath", f"//*[@id='{Shell.LANG}']//label[contains(., 'English')]").click()
    wait_for(lambda: "Live map" in page_text(browser, f"#{Shell.NAV}"), 15, "English")
    browser.get(web + "/?wall=1")
    wait_for(lambda: "Open incidents: 2" in page_text(browser, listed), 15, "English list")
    assert "Waste dumping" in page_text(browser, listed)
    assert "On scene" in page_text(browser, f"#{Ids.LEGEND}")
    browser.save_screenshot("/tmp/wall-en.png")
    assert not console_errors(browser)
