"""docs/openapi.yaml against the running app, by schemathesis: every operation, called over HTTP
with a cookie session and again with an API token, answers only the statuses, content types and
bodies the document declares, and never a server error.

Cases come from the document: its examples, the coverage phase (boundary and invalid values,
methods the path does not list) and 50 generated ones per operation, valid and invalid, the
same on every run. Path parameters are often ids of real objects (an incident with a caller's
number and a photo, open alerts, a unit, a place), so the answers are not all 404s. Some
operations change what later ones see (assign, transition, dismiss): every answer must still be
a declared one."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import redis
import requests
import schemathesis
from flask import Flask
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.settings import Settings
from dashboard import roles
from domain.roles import OFFICER
from services import reports
from store import devices, users
from store.ops import RaiseAlert
from store.writer import LiveStore
from tests.helpers import (
    CELL,
    CELL_LAT,
    CELL_LON,
    PASSWORD,
    ROOT,
    SEED_TS,
    SPEC,
    make_app,
    open_hotline_incident,
    png,
    seed_one_of_each,
    serve_app,
    write_available_unit,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CONFIG = {
    "seed": 20261118,  # any fixed seed: the same cases on every run
    # generated data the document allows may be slow to make or often filtered out: that is no
    # flakiness to fail on (Hypothesis' health checks are about the test, not the API)
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    "generation": {
        "mode": "all",  # valid and invalid requests: refusals must be declared ones too
        "max-examples": 50,
        "deterministic": True,
        "database": "none",  # nothing carried over from an earlier run
        "with-security-parameters": False,  # our own cookie or token, never generated ones
    },
}
# Loaded at import, as the document is a file: schemathesis.pytest.from_fixture (a schema made
# by a fixture) reads pytest's private Node._nodeid, which pytest 9.2 no longer has.
SCHEMA = schemathesis.openapi.from_path(
    ROOT / "docs" / "openapi.yaml", config=schemathesis.Config.from_dict(CONFIG)
)
# Who calls each operation: the first of these its route allows, so that every operation also
# runs past its role check (dispatch actions, KPIs: a duty chief; owners, the trail: an admin).
ROLE_PREFERENCE = (roles.DISPATCHER, roles.ADMIN, roles.LEADER, roles.OPERATOR, OFFICER)
ANONYMOUS = "anonymous"  # the open routes' caller (citizen reports): no role, no session
# path parameter -> ids that exist; "name@path": those for that path only (set by `caller`)
REAL_IDS: dict[str, list[str]] = {}


@SCHEMA.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    """Half the cases name objects that exist; the rest, whatever the document allows. Drawn
    lazily: the ids exist only once `caller` has seeded them."""
    names = [p.name for p in context.operation.path_parameters]
    if not names:
        return strategy
    path = context.operation.path

    def ids(name: str) -> list[str]:
        return REAL_IDS.get(f"{name}@{path}") or REAL_IDS[name]

    real = st.deferred(lambda: st.fixed_dictionaries({n: st.sampled_from(ids(n)) for n in names}))
    return st.one_of(strategy, real)


@dataclass(frozen=True)
class Caller:
    """The app's address, and signed-in HTTP sessions of every role, all with cookies or all
    with API tokens, with the role each operation is called as."""

    web: str
    sessions: dict[str, requests.Session]
    role_of: dict[tuple[str, str], str]

    def session_for(self, method: str, path: str) -> requests.Session:
        return self.sessions[self.role_of[(method.upper(), path)]]


def cookie_session(web: str, name: str) -> requests.Session:
    """Signed in through the form as a browser is, sending the CSRF token back as a page does."""
    s = requests.Session()
    form = s.get(f"{web}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    resp = s.post(
        f"{web}/login",
        data={"csrf_token": token, "username": name, "password": PASSWORD, "next": "/"},
        allow_redirects=False,
    )
    assert resp.status_code == 302, resp.text
    s.headers["X-CSRFToken"] = s.cookies["_csrf_token"]  # what Dash's renderer sends
    return s


def token_session(r: redis.Redis, name: str) -> requests.Session:
    s = requests.Session()
    _tid, token = users.create_token(r, name)  # what `python run.py users token NAME` makes
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def roles_of_operations(server: Flask) -> dict[tuple[str, str], str]:
    """(METHOD, documented path) -> the role to call it as, from the routes' own role rules."""
    out = {}
    for rule in server.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        allowed = getattr(server.view_functions[rule.endpoint], "roles", frozenset())
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        role = next((x for x in ROLE_PREFERENCE if x in allowed), ANONYMOUS)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out[(method, path)] = role
    return out


def raise_alert(r: redis.Redis, alert_id: str) -> str:
    """A placed water-quality alert, as the worker raises one."""
    fields = {"kind": "water_quality", "severity": "critical", "source": "S-1", "name": "近岸1",
              "lat": 22.55, "lon": 114.5, "message": "COD 9 (class I <= 2)"}  # fmt: skip
    LiveStore(r, 3_600_000, 1000).write(
        [RaiseAlert(alert_id=alert_id, ts=SEED_TS, fields=fields)], SEED_TS
    )
    return alert_id


def seed(r: redis.Redis, chief: requests.Session, web: str) -> dict[str, list[str]]:
    """Real objects for the operations to find: path parameter -> ids that exist. The unit
    U-DP-101 is the one the document's patrol log example names."""
    seed_one_of_each(r)
    write_available_unit(r, "U-DP-101", "foot", CELL_LAT, CELL_LON)
    incident = open_hotline_incident(r, reporter_phone="13812348000")
    resp = chief.post(
        f"{web}/api/v1/incidents/{incident}/evidence",
        files={"file": ("scene.png", png(), "image/png")},
        data={"caption": "现场"},
    )
    assert resp.status_code == 201, resp.text
    return {
        "incident_id": [incident],
        "sha256": [resp.json()["sha256"]],
        "alert_id": [raise_alert(r, f"wq:S-1:1:{n}") for n in range(3)],
        # its own: acknowledge and dismiss run first and would have closed the others
        "alert_id@/api/v1/alerts/{alert_id}/incident": [
            raise_alert(r, f"wq:S-1:2:{n}") for n in range(2)
        ],
        "unit_id": ["U-1", "U-DP-101"],
        "mmsi": ["366053209"],  # the vessel seed_one_of_each writes
        "place_id": [CELL],
        "code": [citizen_report(web)],
        "kind": ["position", "status", "task"],
    }


def citizen_report(web: str) -> str:
    """A citizen's report as the page sends it; its tracking code."""
    anyone = requests.Session()
    ch = anyone.get(f"{web}/api/v1/reports/challenge").json()
    form = {"type": "noise", "lat": CELL_LAT, "lon": CELL_LON, "challenge": ch["challenge"]}
    form["nonce"] = reports.solve(ch["challenge"], ch["bits"])
    resp = anyone.post(f"{web}/api/v1/reports", data=form)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["code"])


@pytest.fixture(scope="module", params=["cookie", "token"])
def caller(
    request: pytest.FixtureRequest, redis_srv: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Caller]:
    """One app over HTTP with real objects for all the operations of one kind of caller.
    DATA_DIR is relative to the working directory, as `.env` often gives it: evidence files
    must still be found (they once answered 500 then)."""
    data_dir = Path(os.path.relpath(tmp_path_factory.mktemp("var"), ROOT))
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
        mqtt_url="mqtt://127.0.0.1:1",  # nothing listens: dispatch notices are best effort
        data_dir=data_dir,
        _env_file=None,
    )
    r = redis.Redis(port=redis_srv.port)
    r.flushall()
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    devices.add(r, "U-DP-101", "unit", 0)  # the field app's officer is bound to it
    users.create_user(r, OFFICER, OFFICER, PASSWORD, unit="U-DP-101")
    server = make_app(settings)
    served = serve_app(server)
    web = next(served)
    REAL_IDS.update(seed(r, cookie_session(web, roles.DISPATCHER), web))
    if request.param == "cookie":
        sessions = {role: cookie_session(web, role) for role in (*roles.ROLES, OFFICER)}
    else:
        sessions = {role: token_session(r, role) for role in (*roles.ROLES, OFFICER)}
    sessions[ANONYMOUS] = requests.Session()
    yield Caller(web, sessions, roles_of_operations(server))
    for s in sessions.values():
        s.close()
    served.close()
    r.close()


@SCHEMA.parametrize()
def test_every_operation_answers_what_the_document_declares(
    case: schemathesis.Case, caller: Caller
) -> None:
    case.call_and_validate(
        base_url=caller.web,
        session=caller.session_for(case.operation.method, case.operation.path),
        checks=CHECKS,
        timeout=30,
    )


DOCUMENTED = {
    path: sorted(m.upper() for m in ops if m != "parameters") for path, ops in SPEC["paths"].items()
}


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
def test_other_methods_are_405_naming_the_documented_ones(caller: Caller, path: str) -> None:
    """RFC 9110: a method the target lacks is 405 with `Allow`; OPTIONS lists the same (Dash's
    page route matches every path with GET, which Flask's own answer would add)."""
    url = caller.web + path.format(**{n: ids[0] for n, ids in REAL_IDS.items() if "@" not in n})
    methods = DOCUMENTED[path]
    allow = sorted({*methods, "OPTIONS", *(["HEAD"] if "GET" in methods else [])})
    session = caller.session_for(methods[0], path)
    options = session.options(url)
    assert options.status_code == 204, (path, options.status_code)
    assert sorted(options.headers["Allow"].split(", ")) == allow
    for method in {"TRACE", "DELETE", "PATCH", "GET", "POST", "PUT"} - set(methods):
        resp = session.request(method, url)
        assert resp.status_code == 405, (method, path, resp.status_code)
        assert sorted(resp.headers["Allow"].split(", ")) == allow
        assert resp.headers["Content-Type"] == "application/json" and resp.json()["error"]


def test_evidence_is_served_with_a_relative_data_dir(caller: Caller) -> None:
    """The file attached while seeding, read back whole, from DATA_DIR given relative."""
    incident, sha = REAL_IDS["incident_id"][0], REAL_IDS["sha256"][0]
    path = f"/api/v1/incidents/{incident}/evidence/{sha}"
    resp = caller.session_for("GET", "/api/v1/incidents/{incident_id}/evidence/{sha256}").get(
        caller.web + path
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
    assert resp.content == png()
