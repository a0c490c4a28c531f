"""Helpers shared by the tests: plain functions and constants, imported as
`from tests.helpers import ...`. Fixtures live in conftest.py; no test module imports another."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import h3
import orjson
import paho.mqtt.client as mqtt
import pytest
import redis
import yaml
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from selenium import webdriver
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from werkzeug.serving import make_server

from config.settings import Settings
from dashboard.background import stop_all
from domain.clock import Clock, system_ms
from domain.vocab import LOCAL_TZ
from ingest import sensors, vessels
from ingest import units as unit_handlers
from ingest.context import HandlerContext
from ingest.worker import written_fields
from layouts.shell import Ids as Shell
from store import coverage, users
from store.writer import LiveStore

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py imported as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- time ------------------------------------------------------------------------------------

# The local times of day at which every time-sensitive test runs: just after midnight, the small
# hours, noon and the last minute of the day. 00:05 and 02:00 in Shenzhen (UTC+8) fall on the
# previous UTC date, so these also cross a UTC/local date change.
LOCAL_TIMES = ("00:05", "02:00", "12:00", "23:59")
TEST_DAY = dt.date(2026, 11, 18)  # a Wednesday: the week before it has a weekend


def local_ms(day: dt.date, hhmm: str = "00:00") -> int:
    """Epoch ms of a Shenzhen wall-clock time."""
    hour, minute = map(int, hhmm.split(":"))
    return int(
        dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).timestamp() * 1000
    )


def local_date(ms: int) -> dt.date:
    """The Shenzhen date of an instant."""
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).date()


# -- waiting ---------------------------------------------------------------------------------


def cluster_fixtures() -> tuple[Any, Any]:
    """Fixtures `r` and `settings` of the test cluster (tests/conftest.py: `rc`,
    `cluster_settings`), for a module that runs other modules' tests on it: assigned after its
    imports, they are the ones its tests get."""

    @pytest.fixture
    def r(rc: redis.RedisCluster) -> redis.RedisCluster:
        return rc

    @pytest.fixture
    def settings(cluster_settings: Settings) -> Settings:
        return cluster_settings

    return r, settings


def redis_url(r: Any) -> str:
    """The URL of the server `r` talks to (of a node, for a cluster's client: the cluster)."""
    if isinstance(r, redis.RedisCluster):
        node = r.get_default_node()
        return f"redis://{node.host}:{node.port}/0"
    kw = r.connection_pool.connection_kwargs
    return f"redis://{kw.get('host', '127.0.0.1')}:{kw['port']}/0"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Polls `predicate` every 50 ms until it returns something truthy, and returns that; fails
    after `timeout` seconds. The one polling helper, for what gives no event to wait on: a key
    in Redis, an element on a page, a health check answering."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


# -- MQTT ------------------------------------------------------------------------------------


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK (mosquitto_pub -l does not)."""

    def __init__(self, port: int, auth: tuple[str, str] | None = None) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}"
        )
        if auth:  # (device id, secret): the embedded broker admits only roster identities
            self.client.username_pw_set(*auth)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def subscribe(
    port: int,
    topics: Iterable[str],
    on_message: Callable[[mqtt.MQTTMessage], object],
    clean_session: bool = True,
    timeout: float = 10.0,
    auth: tuple[str, str] | None = None,
) -> mqtt.Client:
    """A connected MQTT client (network loop running) whose QoS 1 subscriptions to `topics` the
    broker has acknowledged (SUBACK) by the time this returns: whatever is published from then
    on reaches `on_message`. The caller disconnects it and stops its loop."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
        clean_session=clean_session,
    )
    acked: dict[int, list[Any]] = {}
    suback = threading.Condition()

    def on_subscribe(_c: mqtt.Client, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        with suback:
            acked[mid] = codes
            suback.notify_all()

    c.on_subscribe = on_subscribe
    c.on_message = lambda _c, _u, m: on_message(m)
    if auth:
        c.username_pw_set(*auth)
    c.connect("127.0.0.1", port)
    c.loop_start()
    result, mid = c.subscribe([(topic, 1) for topic in topics])
    assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None, result
    with suback:
        assert suback.wait_for(lambda: mid in acked, timeout), "no SUBACK from the broker"
    assert not any(code.is_failure for code in acked[mid]), acked[mid]
    return c


# -- the web app over HTTP (Flask's test client) ---------------------------------------------

PASSWORD = "correct horse battery"  # every test account's


def make_app(settings: Settings, clock: Clock = system_ms, **overrides: object) -> Flask:
    """The web app (dashboard.app.create_app) on `clock`, with settings changed by `overrides`."""
    from dashboard.app import create_app  # Dash takes a second to import: only when needed

    return create_app(settings.model_copy(update=overrides), clock)


def serve_app(app: Flask) -> Iterator[str]:
    """The app on a free port in a thread, over real HTTP (listening before this yields its
    address); stopped when the generator is closed."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    stop_all(app)


def client(server: Flask, addr: str = "127.0.0.1") -> FlaskClient:
    """A test client whose requests come from `addr`."""
    c = server.test_client()
    c.environ_base["REMOTE_ADDR"] = addr
    return c


def csrf_from_login_page(c: FlaskClient, **kw: object) -> str:
    """The CSRF token of the sign-in form."""
    page = c.get("/login", **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def login(c: FlaskClient, name: str, password: str = PASSWORD, next_url: str = "/", **kw: object):
    """Posts the sign-in form (with its CSRF token) as a browser would; returns the response."""
    return c.post(
        "/login",
        data={
            "csrf_token": csrf_from_login_page(c, **kw),
            "username": name,
            "password": password,
            "next": next_url,
        },
        **kw,
    )


def signed_in(server: Flask, name: str) -> FlaskClient:
    """A client signed in as the account `name` (the `server` fixture names one after each
    role), holding the _csrf_token cookie that Dash's renderer sends back."""
    c = client(server)
    assert login(c, name).status_code == 302
    c.get("/")  # the page sets the _csrf_token cookie Dash's renderer sends back
    return c


def enter_wall(c: FlaskClient, path: str) -> Any:
    """Opens a wall session's one-time link (`path`, /wall/enter?code=...) as the screen's
    browser does and presses its button; returns the answer (302 to /?wall=1 when it works)."""
    page = c.get(path)
    assert page.status_code == 200, page.status_code
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    code = path.split("code=", 1)[1]
    return c.post("/wall/enter", data={"csrf_token": csrf.group(1), "code": code})  # type: ignore[union-attr]


def wall_signed_in(server: Flask, screen: str = "指挥大厅主屏") -> FlaskClient:
    """A client signed in as a wall screen's session (role wall), issued for `screen` by an
    admin, holding the _csrf_token cookie that Dash's renderer sends back."""
    from dashboard.context import app_context
    from services import walls

    made = walls.issue(app_context(server), screen, "user:admin")
    c = client(server, "10.0.0.50")
    resp = enter_wall(c, made.path)
    assert resp.status_code == 302 and resp.headers["Location"] == "/?wall=1"
    c.get("/")
    return c


def run_users(*args: str, env: dict[str, str], stdin: str) -> subprocess.CompletedProcess:
    """`python run.py users ARGS` with `stdin` as its input."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "users", *args],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def post_json(c: FlaskClient, path: str, body: object, csrf: bool = True) -> tuple[int, dict]:
    """POSTs `body` as JSON to an API route (with the CSRF header a session needs, unless told
    not to); returns the status and the JSON answer ({} if none)."""
    cookie = c.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if csrf and cookie else {}
    resp = c.post(path, data=orjson.dumps(body), headers=headers, content_type="application/json")
    return resp.status_code, resp.get_json(silent=True) or {}


def _prop(spec: str) -> dict[str, Any]:
    ident, prop = spec.rsplit(".", 1)
    return {"id": orjson.loads(ident) if ident.startswith("{") else ident, "property": prop}


def _value(dep_item: dict[str, Any]) -> Any:
    """What the renderer sends for an input: a value, or for a wildcard (ALL) id the list of
    matching components, none of which are on the page yet."""
    ident = dep_item["id"]
    if isinstance(ident, dict) and ["ALL"] in ident.values():
        return []
    return {**dep_item, "value": None}


def callback_body(dep: dict[str, Any]) -> dict[str, Any]:
    """The body Dash's renderer would post for one entry of /_dash-dependencies."""
    out = dep["output"]
    outputs: Any = (
        [_prop(o) for o in out.strip(".").split("...")] if out.startswith("..") else _prop(out)
    )
    return {
        "output": out,
        "outputs": outputs,
        "changedPropIds": [],
        "inputs": [_value(i) for i in dep["inputs"]],
        "state": [_value(s) for s in dep["state"]],
    }


def post_callback(c: FlaskClient, body: dict[str, Any], csrf: bool = True) -> Any:
    """POSTs one callback to /_dash-update-component as Dash's renderer does, with the CSRF
    header from the cookie (unless told not to); returns the response."""
    cookie = c.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if csrf and cookie else {}
    return c.post("/_dash-update-component", json=body, headers=headers)


def callback_response(c: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    """The outputs a callback answers with (it must answer 200)."""
    resp = post_callback(c, body)
    assert resp.status_code == 200, resp.data
    return resp.get_json()["response"]


# -- the API's contract (docs/openapi.yaml) --------------------------------------------------

SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))


def schema_validator(path: str, method: str = "get", status: str = "200") -> Draft202012Validator:
    """A validator for the JSON that docs/openapi.yaml promises for one route and status."""
    registry = Registry().with_resource("urn:spec", Resource.opaque(SPEC))
    where = ("paths", path, method, "responses", status, "content", "application/json", "schema")
    # a JSON pointer to the schema, written inline or a $ref: "~" and "/" escaped (RFC 6901)
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in where)
    return Draft202012Validator({"$ref": f"urn:spec#/{pointer}"}, registry=registry)


def assert_matches_spec(body: object, path: str, method: str = "get", status: str = "200") -> None:
    """The answer matches what docs/openapi.yaml promises for that route."""
    errors = list(schema_validator(path, method, status).iter_errors(body))
    assert not errors, errors[:3]


# -- data written as the worker writes it ----------------------------------------------------

SEED_TS = 1_764_300_000_000


def seed_one_of_each(r: redis.Redis) -> None:
    """One unit, one vessel and one sensor with a reading, at SEED_TS."""
    store = LiveStore(r, 3_600_000, 1000)
    profile = {"kind": "seawater", "water_class": "I", "name": "近岸1", "lon": 114.5, "lat": 22.5}
    ctx = HandlerContext(received_ms=SEED_TS, sensor_profile=lambda _s: profile)
    store.write(
        unit_handlers.handle_profile(
            "U-1",
            orjson.dumps(
                {
                    "unit_id": "U-1",
                    "ts": SEED_TS,
                    "name": "巡查一组",
                    "department": "forestry",
                    "kind": "foot",
                    "level": "community",
                    "subdistrict": "nanao",
                }
            ),
            ctx,
        ),
        SEED_TS,
    )
    store.write(
        unit_handlers.handle_position(
            "U-1",
            orjson.dumps(
                {
                    "unit_id": "U-1",
                    "seq": 3,
                    "ts": SEED_TS,
                    "lat": 22.6,
                    "lon": 114.45,
                    "status": "available",
                }
            ),
            ctx,
        ),
        SEED_TS,
    )
    store.write(
        vessels.handle_nmea("rx", b"!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C", ctx),
        SEED_TS,
    )
    store.write(
        sensors.handle_profile(
            "S-1",
            orjson.dumps(
                {
                    "sensor_id": "S-1",
                    "ts": SEED_TS,
                    "name": "近岸1",
                    "kind": "seawater",
                    "lat": 22.5,
                    "lon": 114.5,
                    "water_class": "I",
                }
            ),
            ctx,
        ),
        SEED_TS,
    )
    store.write(
        sensors.handle_reading(
            "S-1",
            orjson.dumps(
                {"sensor_id": "S-1", "seq": 1, "ts": SEED_TS, "values": {"COD": 3.1, "pH": 8.0}}
            ),
            ctx,
        ),
        SEED_TS,
    )


def write_available_unit(
    r: redis.Redis,
    unit_id: str,
    kind: str,
    lat: float,
    lon: float,
    department: str = "forestry",
    skills: tuple[str, ...] = (),
) -> None:
    """A unit's profile and an available position, both at this moment, written and announced
    as the worker does."""
    now = time.time_ns() // 1_000_000
    store, ctx = LiveStore(r, 3_600_000, 1000), HandlerContext(received_ms=now)
    profile = {
        "unit_id": unit_id,
        "ts": now,
        "name": unit_id,
        "department": department,
        "kind": kind,
        "level": "community",
        "skills": list(skills),
    }
    position = {"unit_id": unit_id, "seq": 1, "ts": now, "lat": lat, "lon": lon}
    position["status"] = "available"
    ops = unit_handlers.handle_profile(unit_id, orjson.dumps(profile), ctx)
    ops += unit_handlers.handle_position(unit_id, orjson.dumps(position), ctx)
    out = store.write(ops, now)
    # and announced as the worker announces a batch's changes (the live pictures read them)
    store.count_messages({"applied": 2}, {}, written_fields(ops, out.verdicts))


# -- incidents -------------------------------------------------------------------------------

NEW_INCIDENT = {
    "type": "illegal_logging",
    "priority": 1,
    "lat": 22.52,
    "lon": 114.54,
    "description": "七娘山 盗伐",
}


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (what a browser can decode), made here so the test needs no file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# -- coverage --------------------------------------------------------------------------------

CELL = "87411cc4cffffff"  # kuichong-10, all land
CELL_LAT, CELL_LON = h3.cell_to_latlng(CELL)
PATROL_T0 = 1_790_000_000_000  # 2026-09-21 22:13:20 in Shenzhen


def write_patrol_unit(
    r: redis.Redis,
    uid: str,
    kind: str = "foot",
    department: str = "forestry",
    status: str = "available",
) -> None:
    """A unit's profile and status at PATROL_T0, written as the worker writes them."""
    ctx = HandlerContext(received_ms=PATROL_T0)
    LiveStore(r, 3_600_000, 100).write(
        unit_handlers.handle_profile(
            uid,
            orjson.dumps(
                {
                    "unit_id": uid,
                    "ts": PATROL_T0,
                    "name": uid,
                    "department": department,
                    "kind": kind,
                    "level": "community",
                }
            ),
            ctx,
        )
        + unit_handlers.handle_status(
            uid, orjson.dumps({"unit_id": uid, "ts": PATROL_T0, "status": status}), ctx
        ),
        PATROL_T0,
    )


def walk_around_cell(
    uid: str, seconds: int, step_s: int = 10, t0: int = PATROL_T0, speed: float | None = None
) -> list[coverage.UnitPosition]:
    """A slow walk around CELL's centre (a few metres per step)."""
    return [
        coverage.UnitPosition(uid, t0 + s * 1000, CELL_LON + s * 1e-6, CELL_LAT, speed)
        for s in range(0, seconds + 1, step_s)
    ]


# -- the browser (selenium) ------------------------------------------------------------------


def sign_in(
    browser: webdriver.Chrome, web: str, r: redis.Redis, role: str = "operator", name: str = "duty"
) -> None:
    """Makes the account `name` with `role` and signs it in through the form."""
    users.create_user(r, name, role, PASSWORD)
    browser.get(web + "/")  # anonymous: sent to the sign-in form
    wait_for(lambda: "/login" in browser.current_url, 10, "the sign-in page")
    browser.find_element(By.ID, "username").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The click returns before the form is answered: a get() now would race the POST, be sent
    # to the sign-in page, and the POST's redirect would then land on "/" instead.
    wait_for(lambda: "/login" not in browser.current_url, 15, "signed in")


def click_marker(browser: webdriver.Chrome, layer: str, ident: str) -> None:
    """A real click where the live map draws `ident`'s marker (the page matches the click to the
    marker). The place is read in the page's own coordinates and clicked there in one go: an
    offset from the map element's centre would move when the map's box changes size between
    the read and the click (the stale banner coming, the entity list folding)."""
    at = wait_for(
        lambda: browser.execute_script(
            "var p = window.ecocommand.map.live.containerPoint(arguments[0], arguments[1]);"
            "if (!p) { return null; }"
            "var live = window.ecocommand.map.live.layers[arguments[0]].on._map;"
            "var box = live.getContainer().getBoundingClientRect();"
            "return {x: Math.round(box.left + p.x), y: Math.round(box.top + p.y)};",
            layer,
            ident,
        ),
        10,
        f"{ident}'s marker on the map",
    )
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(at["x"], at["y"]).click()
    actions.perform()


def page_text(browser: webdriver.Chrome, css: str) -> str:
    """The text of the first element matching `css` ('' if none)."""
    # One script call: the live page re-renders between a find and a read (stale elements).
    return browser.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css
    )


def screen(browser: webdriver.Chrome, width: int, height: int, mobile: bool = False) -> None:
    """The page's viewport, whatever the window (headless Chromium's window is not the page)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def switch_language(
    browser: webdriver.Chrome, lang: str, nav: tuple[str, str] = ("态势地图", "Live map")
) -> None:
    """Switches the page to `lang` with the header's switch, if it is not in it already, and
    waits for the header's link `nav` (zh, en) in that language."""
    wait_for(lambda: page_text(browser, f"#{Shell.NAV}"), 15, "the page")
    name = "English" if lang == "en" else "中文"
    other = f"//*[@id='{Shell.LANG}']//label[contains(., '{name}')]"
    found = [e for e in browser.find_elements(By.XPATH, other) if e.is_displayed()]
    if found:  # the switch offers only the language the page is not in
        found[0].click()
    want = nav[1] if lang == "en" else nav[0]
    wait_for(lambda: want in page_text(browser, f"#{Shell.NAV}"), 15, lang)


def console_errors(browser: webdriver.Chrome) -> list[dict]:
    """The console's errors and CSP violations since the last call."""
    return [
        e
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]
    ]


def toggle_option(browser: webdriver.Chrome, dropdown: str, text: str) -> None:
    """Pick (or un-pick) one option of a multi-select dcc.Dropdown, as a user clicks it."""
    browser.find_element(By.ID, dropdown).click()
    option = (
        f"//label[contains(@class, 'dash-dropdown-option')]"
        f"[.//span[normalize-space(text())='{text}']]"
    )
    wait_for(lambda: browser.find_elements(By.XPATH, option), 10, f"the option {text}")
    browser.find_element(By.XPATH, option).click()
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


# -- the devices command -----------------------------------------------------------------------

# the environment of a `run.py devices` run: none of this machine's settings for Redis or brokers
_DEVICES_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("REDIS_", "MQTT_", "EMBEDDED_", "TOPIC_", "DATA_DIR"))
}


def run_devices(redis_port: int, *args: str) -> subprocess.CompletedProcess:
    """`python run.py devices ARGS` against the Redis on `redis_port`, as an admin runs it."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "devices", *args],
        env={**_DEVICES_ENV, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def add_device(redis_port: int, device_id: str, kind: str) -> str:
    """Adds a device through the command; returns the password it printed."""
    out = run_devices(redis_port, "add", device_id, "--kind", kind)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[1].removeprefix("password: ")


def dispatch_notice(
    unit_id: str, lon: float, lat: float, *, incident: str, ts: int, kind: str
) -> bytes:
    """A dispatch notice as the centre publishes it (domain.payloads.DispatchNotice)."""
    return orjson.dumps(
        {
            "incident_id": incident,
            "unit_id": unit_id,
            "ts": ts,
            "type": kind,
            "priority": 1,
            "domain": "land",
            "lat": lat,
            "lon": lon,
            "summary": "",
            "assigned_by": "chief",
        }
    )


# -- pages -----------------------------------------------------------------------------------

PAGES_ROUTER = ".._pages_content.children..._pages_store.data.."  # Dash pages' router callback


def routed_page(c: FlaskClient, pathname: object, search: object = "") -> str:
    """The page Dash's router builds for this address, as its JSON text."""
    body = {
        "output": PAGES_ROUTER,
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "state": [],
    }
    return json.dumps(callback_response(c, body)["_pages_content"]["children"], ensure_ascii=False)


def sign_out_in(browser: webdriver.Chrome) -> None:
    """Click the header's sign-out and wait for the sign-in page."""
    from layouts.shell import Ids as Shell

    browser.find_element(By.ID, Shell.LOGOUT).click()
    wait_for(lambda: "/login" in browser.current_url, 10, "signed out")


def open_hotline_incident(r: redis.Redis, **fields: object) -> str:
    """An illegal-logging report from the hotline, opened now by `chief` in the store."""
    from store import incidents

    base = {
        "type": "illegal_logging",
        "priority": 2,
        "source": "hotline",
        "domain": "land",
        "description": "北侧山坡有人砍伐",
        "lat": 22.52,
        "lon": 114.54,
    }
    return incidents.create(r, {**base, **fields}, "chief", time.time_ns() // 1_000_000).detail
