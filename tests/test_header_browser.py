"""The header is one row at 1366x768 in both languages (issue 17, defect 3), for the role with
the most links (an admin) and an operator, and the live map keeps at least 85 % of the
viewport's height under it. At 1920 the wall screen's header is one row too."""

from __future__ import annotations

import pytest
import redis
from selenium import webdriver

from tests.helpers import (
    console_errors,
    screen,
    sign_in,
    sign_out_in,
    switch_language,
    wait_for,
)

# per element of the header: its box; and the page's, and the map's height
MEASURE = """
var h = document.querySelector('.ec-header'), m = document.querySelector('.leaflet-container');
if (!h) { return {counts: 0}; }  // the page is (re)loading
var boxes = [...h.children].filter(e => e.offsetParent !== null)
  .concat([...h.querySelectorAll('.ec-count, .ec-nav-link')])
  .map(e => e.getBoundingClientRect()).filter(b => b.width > 0);  // not the wall's hidden links
// what a reader sees side by side: no two of them may overlap
var row = [...h.querySelectorAll('.ec-title, .ec-nav-link, .ec-count, .ec-freshness, .ec-sound,'
  + ' .ec-lang label, #shell-logout')]
  .map(e => e.getBoundingClientRect()).filter(b => b.width > 0).sort((a, b) => a.left - b.left);
var overlaps = row.slice(1).filter((b, i) => b.left < row[i].right - 1).length;
return {height: h.getBoundingClientRect().height, scroll: h.scrollWidth, width: h.clientWidth,
        overlaps: overlaps,
        tops: boxes.map(b => b.top), bottoms: boxes.map(b => b.bottom),
        counts: h.querySelectorAll('.ec-count').length,
        map: m ? m.getBoundingClientRect().height : 0, viewport: window.innerHeight};
"""


def _one_row(browser: webdriver.Chrome, what: str) -> dict:
    wait_for(lambda: browser.execute_script(MEASURE)["counts"] >= 9, 15, f"the counts of {what}")
    m = browser.execute_script(MEASURE)
    # one row: every box of the header spans its middle line, and nothing sticks out
    middle = m["height"] / 2
    assert all(t < middle < b for t, b in zip(m["tops"], m["bottoms"], strict=True)), (what, m)
    assert m["scroll"] <= m["width"], (what, m)
    assert m["overlaps"] == 0, (what, m)  # squeezed is not fitted: nothing drawn over another
    return m


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_the_header_is_one_row_at_1366_and_the_map_keeps_the_screen(
    r: redis.Redis, web: str, browser: webdriver.Chrome, role: str
) -> None:
    screen(browser, 1366, 768)
    sign_in(browser, web, r, role, f"{role}1")
    for lang in ("zh", "en"):
        browser.get(web + "/")
        switch_language(browser, lang)
        m = _one_row(browser, f"{role} {lang}")
        assert m["height"] < 70, m
        assert m["map"] >= 0.85 * m["viewport"], m
    assert not console_errors(browser)
    sign_out_in(browser)


def test_the_wall_screens_header_is_one_row_at_1920(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    screen(browser, 1920, 1080)
    sign_in(browser, web, r, "operator", "wall1")
    for lang in ("zh", "en"):
        browser.get(web + "/")
        switch_language(browser, lang)
        browser.get(web + "/?wall=1")
        _one_row(browser, f"wall {lang}")
    assert not console_errors(browser)
