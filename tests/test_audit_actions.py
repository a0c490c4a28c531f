"""Every action of docs/architecture.md's action table writes an audit entry (issue 13): the
test performs each listed service function for real and finds its entry in the log. A row
added to the table without a way to perform it here fails, so the table and the log cannot
drift apart. The units' own reports (ingest) are covered in tests/test_report_times.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from config.settings import Settings
from domain.audit import ACTIONS, Chain
from domain.clock import system_ms
from domain.payloads import PatrolLog
from services import (
    accounts,
    alerts,
    coverage,
    devices,
    field,
    incidents,
    messages,
    personal,
    walls,
)
from services.context import AppContext, build
from store import audit as log
from store.ops import RaiseAlert
from store.writer import LiveStore
from tests.helpers import NEW_INCIDENT, PASSWORD, png, write_available_unit
from tests.test_actions import ROWS

HOUR_MS = 3_600_000


@pytest.fixture
def ctx(redis_srv: Any, tmp_path: Path, r: redis.Redis) -> AppContext:
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
        mqtt_url="mqtt://127.0.0.1:1",
        data_dir=tmp_path / "var",
        _env_file=None,
    )
    return build(settings)


def _incident(ctx: AppContext) -> str:
    return incidents.open_incident(ctx, incidents.NewIncident(**NEW_INCIDENT), "chief")["id"]


def _alert(ctx: AppContext, n: int = 1) -> str:
    alert_id, now = f"wq:S-1:{n}:1", system_ms()
    fields = {
        "kind": "water_quality",
        "severity": "critical",
        "source": "S-1",
        "name": "近岸1",
        "lat": 22.52,
        "lon": 114.54,
        "message": "COD 9",
    }
    LiveStore(ctx.redis, HOUR_MS, 1000).write([RaiseAlert(alert_id, now, fields)], now)
    return alert_id


def _assigned(ctx: AppContext) -> str:
    incident_id = _incident(ctx)
    write_available_unit(ctx.redis, "U-9", "foot", 22.521, 114.541)
    incidents.assign_units(ctx, incident_id, incidents.Assignment(units=["U-9"]), "chief")
    return incident_id


def _officer(ctx: AppContext) -> accounts.Account:
    """An officer bound to U-9, an available unit of the roster."""
    devices.add(ctx.redis, "U-9", "unit", system_ms())
    write_available_unit(ctx.redis, "U-9", "foot", 22.521, 114.541)
    accounts.add_user(ctx.redis, "li", "officer", PASSWORD, unit="U-9")
    return accounts.account(ctx, "li")  # type: ignore[return-value]


def _read_by_the_phone(ctx: AppContext) -> None:
    officer = _officer(ctx)
    (sent,) = messages.to_units(ctx, "chief", ["U-9"], "注意安全")
    field.read(ctx, officer, [sent["id"]])


def _photos_from_the_phone(ctx: AppContext) -> None:
    officer = _officer(ctx)
    incident_id = _assigned(ctx)
    field.add_photos(ctx, officer, incident_id, "现场", [("scene.png", png())], "photo-0001")


def _finding(ctx: AppContext) -> None:
    found = field.Finding(type="noise", lat=22.52, lon=114.54, description="夜间施工")
    field.report_finding(ctx, _officer(ctx), found, [], "find-0001")


def _patrol_log(ctx: AppContext) -> None:
    write_available_unit(ctx.redis, "U-8", "foot", 22.521, 114.541)
    now = system_ms()
    place = next(iter(ctx.coverage.places))
    body = PatrolLog(unit_id="U-8", ts=now, from_ms=now - HOUR_MS, to_ms=now, places=(place,))
    coverage.submit_patrol_log(ctx, body, "chief", "api")


def _signed_in(ctx: AppContext) -> str:
    accounts.add_user(ctx.redis, "duty", "dispatcher", PASSWORD)
    return accounts.sign_in(ctx, "duty", PASSWORD, "10.0.0.1")


def _code(issued: walls.Issued) -> str:
    """The one-time code in a wall session's sign-in link."""
    return issued.path.split("code=", 1)[1]


def _phone_read(ctx: AppContext) -> None:
    body = incidents.NewIncident(**NEW_INCIDENT, reporter_phone="13812345678")
    incident_id = incidents.open_incident(ctx, body, "chief")["id"]
    personal.reporter_phone(ctx, incident_id, "chief")


def _past_track_read(ctx: AppContext) -> None:
    write_available_unit(ctx.redis, "U-7", "foot", 22.521, 114.541)
    now = system_ms()
    personal.unit_track(ctx, "U-7", now - 36 * HOUR_MS, now, "leader")


# service function -> (how to perform it, the audit action it must write)
PERFORM: dict[str, tuple[Callable[[AppContext], Any], str]] = {
    "services.incidents.open_incident": (_incident, "incident.opened"),
    "services.incidents.assign_units": (_assigned, "incident.assigned"),
    "services.incidents.move": (
        lambda c: incidents.move(c, _incident(c), incidents.Move(to="triaged"), "chief"),
        "incident.moved",
    ),
    "services.incidents.add_note": (
        lambda c: incidents.add_note(c, _incident(c), incidents.Note(text="到场"), "chief"),
        "incident.note",
    ),
    "services.incidents.add_evidence": (
        lambda c: incidents.add_evidence(c, _incident(c), png(), "a.png", "", "chief"),
        "incident.evidence",
    ),
    "services.alerts.acknowledge": (
        lambda c: alerts.acknowledge(c, _alert(c), "op"),
        "alert.acknowledged",
    ),
    "services.alerts.dismiss": (
        lambda c: alerts.dismiss(c, _alert(c), "false_alarm", "chief"),
        "alert.dismissed",
    ),
    "services.alerts.open_incident": (
        lambda c: alerts.open_incident(c, _alert(c), "chief"),
        "alert.closed",
    ),
    "services.coverage.reassign_owner": (
        lambda c: coverage.reassign_owner(c, next(iter(c.coverage.places)), "李四", "admin"),
        "place.owner_reassigned",
    ),
    "services.coverage.submit_patrol_log": (_patrol_log, "patrol_log.submitted"),
    "services.personal.reporter_phone": (_phone_read, "personal.phone_read"),
    "services.personal.unit_track": (_past_track_read, "personal.track_read"),
    "services.accounts.sign_in": (_signed_in, "account.signed_in"),
    "services.accounts.sign_out": (
        lambda c: accounts.sign_out(c, _signed_in(c)),
        "account.signed_out",
    ),
    "services.accounts.add_user": (
        lambda c: accounts.add_user(c.redis, "new", "operator", PASSWORD),
        "account.created",
    ),
    "services.accounts.new_token": (
        lambda c: (
            accounts.add_user(c.redis, "leader", "leader", PASSWORD),
            accounts.new_token(c.redis, "leader"),
        ),
        "account.token_created",
    ),
    "services.accounts.revoke_tokens": (
        lambda c: (
            accounts.add_user(c.redis, "admin2", "admin", PASSWORD),
            accounts.new_token(c.redis, "admin2"),
            accounts.revoke_tokens(c.redis, "admin2"),
        ),
        "account.tokens_revoked",
    ),
    "services.accounts.set_role": (
        lambda c: (
            accounts.add_user(c.redis, "wu", "operator", PASSWORD),
            accounts.set_role(c.redis, "wu", "dispatcher", by="user:admin"),
        ),
        "account.role_changed",
    ),
    "services.accounts.disable": (
        lambda c: (
            accounts.add_user(c.redis, "wu", "operator", PASSWORD),
            accounts.disable(c.redis, "wu", by="user:admin"),
        ),
        "account.disabled",
    ),
    "services.accounts.enable": (
        lambda c: (
            accounts.add_user(c.redis, "wu", "operator", PASSWORD),
            accounts.disable(c.redis, "wu", by="user:admin"),
            accounts.enable(c.redis, "wu", by="user:admin"),
        ),
        "account.enabled",
    ),
    "services.accounts.revoke_token": (
        lambda c: (
            accounts.add_user(c.redis, "wu", "operator", PASSWORD),
            accounts.revoke_token(c.redis, "wu", accounts.new_token(c.redis, "wu")[0]),
        ),
        "account.token_revoked",
    ),
    "services.walls.issue": (
        lambda c: walls.issue(c, "指挥大厅主屏", "user:admin"),
        "wall.issued",
    ),
    "services.walls.enter": (
        lambda c: walls.enter(c, _code(walls.issue(c, "指挥大厅主屏", "user:admin")), "10.0.0.5"),
        "wall.signed_in",
    ),
    "services.walls.revoke": (
        lambda c: walls.revoke(c, walls.issue(c, "指挥大厅主屏", "user:admin").id, "user:admin"),
        "wall.revoked",
    ),
    "services.devices.add": (
        lambda c: devices.add(c.redis, "boat-7", "unit", system_ms()),
        "device.added",
    ),
    "services.messages.to_units": (
        lambda c: (
            write_available_unit(c.redis, "U-7", "boat", 22.5, 114.6),
            messages.to_units(c, "chief", ["U-7"], "返航"),
        ),
        "message.sent",
    ),
    "services.field.reply": (
        lambda c: field.reply(c, _officer(c), "收到", "reply-0001"),
        "message.reply",
    ),
    "services.field.read": (_read_by_the_phone, "message.read"),
    "services.field.add_photos": (_photos_from_the_phone, "incident.evidence"),
    "services.field.report_finding": (_finding, "incident.opened"),
    "services.devices.revoke": (
        lambda c: (
            devices.add(c.redis, "boat-8", "unit", system_ms()),
            devices.revoke(c.redis, "boat-8", system_ms()),
        ),
        "device.revoked",
    ),
}


def _entries_since(r: redis.Redis, seqs: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for chain in Chain:
        out += [e for _d, e in log.entries(r, chain.value) if e["seq"] > seqs[chain.value]]
    return out


@pytest.mark.parametrize("row", ROWS, ids=[r["action"] for r in ROWS])
def test_each_action_of_the_table_writes_its_audit_entry(ctx: AppContext, row: dict) -> None:
    function = row["service function"]
    assert function in PERFORM, f"{function}: listed in the table, but not performed here"
    perform, action = PERFORM[function]
    assert action in ACTIONS
    before = {c.value: log.head(ctx.redis, c.value).seq for c in Chain}
    perform(ctx)
    written = _entries_since(ctx.redis, before)
    assert action in [e["action"] for e in written], (function, written)


def test_a_refused_act_writes_nothing(ctx: AppContext) -> None:
    incident_id = _incident(ctx)
    before = log.head(ctx.redis, Chain.RECORD.value).seq
    with pytest.raises(incidents.Refused):
        incidents.move(ctx, incident_id, incidents.Move(to="handled"), "chief")
    with pytest.raises(incidents.Refused):
        alerts.acknowledge(ctx, "wq:none:1:1", "op")
    assert log.head(ctx.redis, Chain.RECORD.value).seq == before


def test_failed_sign_ins_are_recorded_without_growing_on_guessed_names(ctx: AppContext) -> None:
    accounts.add_user(ctx.redis, "duty", "dispatcher", PASSWORD)
    for name in ("duty", "nobody-1", "nobody-2"):
        with pytest.raises(accounts.Refused):
            accounts.sign_in(ctx, name, "wrong password!", "10.0.0.9")
    access = [e for _d, e in log.entries(ctx.redis, Chain.ACCESS.value)]
    failed = [e for e in access if e["action"] == "account.sign_in_failed"]
    assert [e["object"] for e in failed] == ["user:duty", "user:(unknown)", "user:(unknown)"]
    assert {e["actor"] for e in failed} == {"addr:10.0.0.9"}
