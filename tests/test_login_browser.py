"""The sign-in page has the product's look (issue 17, defect 12): the console's dark header with
the product's title in the reader's language, a centred card, a clear error; usable at
1920x1080, 1366x768 and on a 360x800 phone, in Chinese and English; the language chosen there
is the console's after sign-in. Screenshots go to /tmp (and the wall screen's sign-in page)."""

from __future__ import annotations

from pathlib import Path

import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from config.settings import Settings
from layouts.shell import Ids as Shell
from services import walls
from services.context import build
from store import users
from tests.helpers import PASSWORD, console_errors, page_text, screen, wait_for

SHOTS = Path("/tmp")
SIZES = ((1920, 1080, False), (1366, 768, False), (360, 800, True))
TITLES = {"zh": "生态综合执法指挥中心", "en": "Ecological Enforcement Command Centre"}

LOOK = """
var bar = document.querySelector('.bar'), card = document.querySelector('.card'),
    b = card.getBoundingClientRect(), button = document.querySelector('button');
return {bar: getComputedStyle(bar).backgroundColor, left: b.left, right: b.right,
        width: window.innerWidth, scroll: document.documentElement.scrollWidth,
        bottom: button.getBoundingClientRect().bottom, height: window.innerHeight,
        buttonHeight: button.getBoundingClientRect().height};
"""


def check_look(browser: webdriver.Chrome, what: str) -> None:
    m = browser.execute_script(LOOK)
    assert m["bar"] == "rgb(20, 32, 46)", (what, m)  # the console's header colour
    assert m["scroll"] <= m["width"], (what, m)  # nothing sideways
    assert abs(m["left"] - (m["width"] - m["right"])) <= 2, (what, m)  # centred
    assert m["bottom"] <= m["height"], (what, m)  # the button is on the first screen
    assert m["buttonHeight"] >= 40, (what, m)  # a finger finds it


def test_the_sign_in_page_in_both_languages_at_three_sizes(
    r: redis.Redis, web: str, browser: webdriver.Chrome
) -> None:
    users.create_user(r, "duty", "operator", PASSWORD)
    for lang in ("zh", "en"):
        for width, height, mobile in SIZES:
            screen(browser, width, height, mobile)
            browser.get(f"{web}/login?lang={lang}")
            wait_for(lambda: browser.find_elements(By.ID, "username"), 10, "the form")
            assert page_text(browser, "#signin-brand") == TITLES[lang]
            check_look(browser, f"{lang} {width}")
            browser.save_screenshot(str(SHOTS / f"login-{lang}-{width}x{height}.png"))
        assert not console_errors(browser)
        # a wrong password: said clearly, in the page's language, the name kept
        browser.find_element(By.ID, "username").send_keys("duty")
        browser.find_element(By.ID, "password").send_keys("not the password")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        want = "用户名或密码错误" if lang == "zh" else "Wrong user name or password"
        wait_for(lambda: want in page_text(browser, "#signin-error"), 10, "the error")  # noqa: B023
        assert browser.find_element(By.ID, "username").get_attribute("value") == "duty"
        check_look(browser, f"{lang} error")
        browser.save_screenshot(str(SHOTS / f"login-{lang}-error-360x800.png"))
        # the only one: the refused form's own answer, 401 as it should be
        assert [e["message"].split(" - ")[0] for e in console_errors(browser)] == [f"{web}/login"]
    # English chosen on the sign-in page: the console opens in English
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "/login" not in browser.current_url, 15, "signed in")
    wait_for(lambda: "Live map" in page_text(browser, f"#{Shell.NAV}"), 15, "English")


def test_the_switch_on_the_sign_in_page_keeps_where_to_go(
    web: str, browser: webdriver.Chrome
) -> None:
    browser.get(f"{web}/kpis?period=7d")  # anonymous: sent to sign in, then back there
    wait_for(lambda: "/login" in browser.current_url, 10, "the sign-in page")
    browser.find_element(By.ID, "signin-lang").click()
    wait_for(lambda: page_text(browser, "#signin-brand") == TITLES["en"], 10, "English")
    field = browser.find_element(By.CSS_SELECTOR, "input[name=next]")
    assert field.get_attribute("value") == "/kpis?period=7d"


def test_the_wall_screen_sign_in_page(
    web: str, settings: Settings, browser: webdriver.Chrome
) -> None:
    made = walls.issue(build(settings), "指挥大厅主屏", "user:admin")
    for lang in ("zh", "en"):
        for width, height, mobile in SIZES[:2]:
            screen(browser, width, height, mobile)
            browser.get(f"{web}{made.path}&lang={lang}")
            wait_for(lambda: page_text(browser, "#wall-screen") == "指挥大厅主屏", 10, "it")
            check_look(browser, f"wall {lang} {width}")
            browser.save_screenshot(str(SHOTS / f"wall-enter-{lang}-{width}x{height}.png"))
    assert not console_errors(browser)
