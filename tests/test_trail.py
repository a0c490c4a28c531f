"""The audit trail view (issue 13): leaders and admins see the trail of an incident, unit or
account with each entry's status and the overall one (pending until the worker signs a head,
then verified, broken once an entry is changed, moved or removed in Redis); other roles are
refused on the API and the page; a duty chief opening an incident sees its timeline check.
Real Redis, the real app, the real signer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from domain import audit
from domain.audit import Chain
from ingest.audit_signer import HeadSigner
from layouts.dispatch import Ids as DispatchIds
from layouts.trail import Ids
from services import trail as service
from services.context import build
from services.errors import Refused
from store import audit as log
from store import incident_audit, incidents, keys
from tests.helpers import (
    NEW_INCIDENT,
    assert_matches_spec,
    callback_response,
    client,
    open_hotline_incident,
    post_callback,
    post_json,
    routed_page,
    signed_in,
)

RECORD = Chain.RECORD.value


def sign_heads(r: redis.Redis, data_dir: Path) -> None:
    """What the worker does every AUDIT_SIGN_EVERY_S: sign both chains' heads (now)."""
    for chain in Chain:
        r.delete(keys.audit_signer(chain.value))  # the period's turn, taken by an earlier run
    keep = {Chain.RECORD: 1_827, Chain.ACCESS: 366}
    now = time.time_ns() // 1_000_000
    HeadSigner(r, data_dir, every_s=300, keep_days=keep, clock=lambda: now).tick()


def open_with_note(chief: FlaskClient) -> str:
    status, inc = post_json(chief, "/api/v1/incidents", NEW_INCIDENT)
    assert status == 201, inc
    path = f"/api/v1/incidents/{inc['id']}"
    assert post_json(chief, path + "/notes", {"text": "到场核实"})[0] == 201
    assert post_json(chief, path + "/transition", {"to": "triaged"})[0] == 200
    return inc["id"]


def get_trail(c: FlaskClient, ref: str) -> dict[str, Any]:
    resp = c.get("/api/v1/audit/trail", query_string={"ref": ref})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert_matches_spec(body, "/api/v1/audit/trail")
    return body


def pointers(r: redis.Redis, ref: str, chain: str = RECORD) -> list[tuple[str, int]]:
    raw = r.lrange(keys.audit_ref(chain, ref), 0, -1)
    return [(p.decode().split(":")[0], int(p.decode().split(":")[1])) for p in raw]


def stored(r: redis.Redis, where: tuple[str, int]) -> dict[str, Any]:
    return orjson.loads(r.lindex(keys.audit_day(RECORD, where[0]), where[1]))


def store_at(r: redis.Redis, where: tuple[str, int], entry: dict[str, Any]) -> None:
    r.lset(keys.audit_day(RECORD, where[0]), where[1], audit.canonical(entry))


def test_a_leader_sees_the_trail_pending_then_verified(
    server: Flask, r: redis.Redis, settings: Settings
) -> None:
    chief, leader = signed_in(server, "dispatcher"), signed_in(server, "leader")
    incident_id = open_with_note(chief)
    ref = f"incident:{incident_id}"
    body = get_trail(leader, ref)
    assert body["status"] == "pending" and not body["problems"]
    assert [e["action"] for e in body["entries"]] == [
        "incident.opened",
        "incident.note",
        "incident.moved",
    ]
    assert all(e["hash_ok"] and e["link_ok"] and e["object"] == ref for e in body["entries"])
    assert all(e["status"] == "pending" and not e["signed"] for e in body["entries"])
    assert all(e["actor"] == "user:dispatcher" for e in body["entries"])
    assert body["timeline"]["status"] == "verified"

    sign_heads(r, settings.data_dir)
    body = get_trail(signed_in(server, "admin"), ref)
    assert body["status"] == "verified", body["problems"]
    assert all(e["status"] == "verified" and e["signed"] for e in body["entries"])
    assert body["chains"]["record"]["signatures"] == "verified"
    assert body["chains"]["record"]["signed_seq"] >= body["entries"][-1]["seq"]

    # a newer act is pending until the next head; older entries stay verified
    post_json(chief, f"/api/v1/incidents/{incident_id}/notes", {"text": "补充"})
    body = get_trail(leader, ref)
    assert body["status"] == "pending"
    assert [e["status"] for e in body["entries"]] == ["verified"] * 3 + ["pending"]

    # an account's trail: its acts (record chain) and its sign-ins (access chain)
    who = get_trail(leader, "user:dispatcher")
    assert {"incident.opened", "incident.note"} <= {e["action"] for e in who["entries"]}
    assert {e["chain"] for e in who["entries"]} == {"record", "access"}
    assert get_trail(leader, "unit:U-NONE")["status"] == "empty"


def test_a_host_without_the_public_key_never_calls_a_trail_verified(
    server: Flask, r: redis.Redis, tmp_path: Path
) -> None:
    """The heads are signed by a worker whose key this web host does not have: the entries are
    intact and covered, but nobody checked the signatures, and the trail says so."""
    chief, leader = signed_in(server, "dispatcher"), signed_in(server, "leader")
    ref = f"incident:{open_with_note(chief)}"
    sign_heads(r, tmp_path / "another-host")
    body = get_trail(leader, ref)
    assert body["status"] == "unchecked" and not body["problems"]
    assert body["chains"]["record"]["signatures"] == "unchecked"
    assert all(e["signed"] and e["status"] == "unchecked" for e in body["entries"])


def test_other_roles_are_refused_and_refs_are_checked(server: Flask) -> None:
    url = "/api/v1/audit/trail?ref=incident:INC-20261118-0001"
    assert client(server).get(url).status_code == 401
    for role in ("operator", "dispatcher"):
        resp = signed_in(server, role).get(url)
        assert resp.status_code == 403 and resp.get_json()["error"], role
    leader = signed_in(server, "leader")
    for bad in (
        "",
        "incident:",
        "incident",
        "vessel:412000000",  # not a kind with a trail
        "incident:INC 1",
        "incident:" + "x" * 65,
        "user:wang/../x",
        "user:<script>",
    ):
        resp = leader.get("/api/v1/audit/trail", query_string={"ref": bad})
        assert resp.status_code == 422 and "kind:id" in resp.get_json()["error"], bad
    assert leader.get("/api/v1/audit/trail").status_code == 422
    assert service.parse_ref("user:li.wang@bureau") == "user:li.wang@bureau"
    with pytest.raises(Refused):
        service.make_ref("incident", "  ")


def _broken(c: FlaskClient, ref: str) -> dict[str, Any]:
    body = get_trail(c, ref)
    assert body["status"] == "broken", body
    assert body["problems"]
    return body


def test_a_tampered_entry_breaks_the_trail(
    server: Flask, r: redis.Redis, settings: Settings
) -> None:
    chief, leader = signed_in(server, "dispatcher"), signed_in(server, "leader")
    incident_id = open_with_note(chief)
    ref = f"incident:{incident_id}"
    sign_heads(r, settings.data_dir)
    assert get_trail(leader, ref)["status"] == "verified"
    opened, noted, moved = pointers(r, ref)
    original = {w: r.lindex(keys.audit_day(RECORD, w[0]), w[1]) for w in (opened, noted, moved)}

    def restore() -> None:
        for w, raw in original.items():
            r.lset(keys.audit_day(RECORD, w[0]), w[1], raw)
        assert get_trail(leader, ref)["status"] == "verified"

    # changed, hash left as it was: that entry fails its own hash
    e = stored(r, opened)
    store_at(r, opened, {**e, "actor": "user:mallory"})
    body = _broken(leader, ref)
    bad = [x for x in body["entries"] if x["status"] == "broken"]
    assert [x["seq"] for x in bad] == [e["seq"]] and not bad[0]["hash_ok"]
    assert f"record entry {e['seq']}: changed" in body["problems"][0]
    restore()

    # changed and re-hashed: the next entry's link no longer holds, and the changed entry is
    # named by its own (its trail shows it even where the next entry is about something else)
    e = stored(r, opened)
    forged = {**e, "digest": "0" * 64}
    store_at(r, opened, {**forged, "hash": audit.entry_hash(forged)})
    body = _broken(leader, ref)
    nxt = stored(r, noted)
    broken = [x for x in body["entries"] if x["status"] == "broken"]
    assert [x["seq"] for x in broken] == [e["seq"], nxt["seq"]]
    assert "the entry after it does not name it" in broken[0]["problem"]
    assert broken[0]["hash_ok"] and broken[0]["link_ok"]  # all it holds on its own
    restore()

    # the newest entry re-hashed: it differs from the head signed for it
    e = stored(r, moved)
    forged = {**e, "actor": "user:mallory"}
    store_at(r, moved, {**forged, "hash": audit.entry_hash(forged)})
    body = _broken(leader, ref)
    assert "differs from the head signed for it" in body["problems"][0]
    restore()

    # an entry removed from its day's list: the trail's positions no longer hold
    key = keys.audit_day(RECORD, noted[0])
    r.lset(key, noted[1], b"__gone__")
    r.lrem(key, 1, b"__gone__")
    _broken(leader, ref)


def test_a_forged_head_breaks_the_trail(server: Flask, r: redis.Redis, settings: Settings) -> None:
    chief, leader = signed_in(server, "dispatcher"), signed_in(server, "leader")
    ref = f"incident:{open_with_note(chief)}"
    head = {"chain": RECORD, "seq": 10_000, "hash": "f" * 64, "ts": 1, "day": "20991231"}
    r.rpush(keys.audit_heads(RECORD), audit.canonical({**head, "kind": "periodic", "sig": "AA=="}))
    sign_heads(r, settings.data_dir)  # the key is made: signatures are checked from now on
    body = _broken(leader, ref)
    assert "bad signature" in body["problems"][0]


# -- the page -------------------------------------------------------------------------------


def _lookup(c: FlaskClient, kind: str, ident: str) -> dict[str, Any]:
    output = (
        f"..{Ids.STATUS}.children...{Ids.TIMELINE}.children...{Ids.TABLE}.children..."
        f"{Ids.MESSAGE}.children.."
    )
    body = {
        "output": output,
        "outputs": [
            {"id": i, "property": "children"}
            for i in (Ids.STATUS, Ids.TIMELINE, Ids.TABLE, Ids.MESSAGE)
        ],
        "changedPropIds": [f"{Ids.SHOW}.n_clicks"],
        "inputs": [
            {"id": Ids.SHOW, "property": "n_clicks", "value": 1},
            {"id": Ids.IDENT, "property": "value", "value": ident},
        ],
        "state": [{"id": Ids.KIND, "property": "value", "value": kind}],
    }
    return callback_response(c, body)


def test_the_page_is_for_leaders_and_admins_only(server: Flask) -> None:
    for role in ("operator", "dispatcher"):
        page = routed_page(signed_in(server, role), "/trail")
        assert "您的角色无权查看此页面" in page and Ids.TABLE not in page, role
        assert "审计追溯" not in page and '"/trail"' not in page  # no link to it either
    page = routed_page(signed_in(server, "leader"), "/trail", "?ref=incident:INC-20261118-0007")
    assert Ids.TABLE in page and "INC-20261118-0007" in page and '"/trail"' in page


def test_the_page_shows_the_trail_with_its_badge(
    server: Flask, r: redis.Redis, settings: Settings
) -> None:
    chief, leader = signed_in(server, "dispatcher"), signed_in(server, "leader")
    incident_id = open_with_note(chief)
    out = orjson.dumps(_lookup(leader, "incident", f" {incident_id} ")).decode()
    assert "待签名" in out and "立案" in out and "与审计日志一致" in out
    assert '"data-status":"pending"' in out
    sign_heads(r, settings.data_dir)
    out = orjson.dumps(_lookup(leader, "incident", incident_id)).decode()
    assert '"data-status":"verified"' in out and "已核验" in out
    assert "请选择对象类型" in orjson.dumps(_lookup(leader, "incident", "a b")).decode()
    assert post_trail_as(signed_in(server, "dispatcher")) == 403


def post_trail_as(c: FlaskClient) -> int:
    output = (
        f"..{Ids.STATUS}.children...{Ids.TIMELINE}.children...{Ids.TABLE}.children..."
        f"{Ids.MESSAGE}.children.."
    )
    return post_callback(c, {"output": output, "inputs": [], "state": []}).status_code


# -- the dispatch page: the timeline check when an incident is opened ------------------------


def _show(c: FlaskClient, incident_id: str) -> str:
    deps = c.get("/_dash-dependencies").get_json()
    (dep,) = [d for d in deps if f"{DispatchIds.DETAIL}.children" in d["output"]]
    outs = dep["output"].strip(".").split("...")
    body = {
        "output": dep["output"],
        "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outs],
        "changedPropIds": [f"{DispatchIds.SELECTED}.data"],
        "inputs": [
            {"id": DispatchIds.SELECTED, "property": "data", "value": incident_id},
            {"id": DispatchIds.CHANGED, "property": "data", "value": None},
            {"id": DispatchIds.SEEN, "property": "data", "value": None},
        ],
        "state": [],
    }
    return orjson.dumps(callback_response(c, body)[DispatchIds.DETAIL]).decode()


def test_opening_an_incident_shows_its_timeline_check(server: Flask, r: redis.Redis) -> None:
    chief = signed_in(server, "dispatcher")
    incident_id = open_with_note(chief)
    shown = _show(chief, incident_id)
    assert "时间线已核验" in shown and '"data-status":"verified"' in shown
    assert "/trail?ref=" not in shown  # a duty chief may not open the trail page
    assert "/trail?ref=incident:" in _show(signed_in(server, "leader"), incident_id)
    assert "data-status" not in _show(signed_in(server, "operator"), incident_id)
    # the timeline changed behind the log's back: the check says so
    r.xadd(keys.incident_timeline(incident_id), {"from": "triaged", "to": "closed", "by": "x"})
    assert '"data-status":"differs"' in _show(chief, incident_id)


def test_a_units_trail_holds_its_own_reports_and_what_was_read_of_it(
    server: Flask, r: redis.Redis
) -> None:
    """A unit reports under its device identity (the same id): its trail shows both."""
    from store import audit as audit_log

    now = time.time_ns() // 1_000_000
    audit_log.append(r, "device:U-5", "incident.reported", "incident:INC-1", {"to": "x"}, now)
    audit_log.append(r, "user:boss", "personal.track_read", "unit:U-5", {"from_ms": 1}, now + 1)
    body = get_trail(signed_in(server, "leader"), "unit:U-5")
    assert [(e["actor"], e["action"]) for e in body["entries"]] == [
        ("device:U-5", "incident.reported"),
        ("user:boss", "personal.track_read"),
    ]
    assert body["status"] == "pending" and not body["problems"]


def test_two_chiefs_reassigning_at_once_each_record_their_own_act(r: redis.Redis) -> None:
    """Both assignments are written before either is recorded (two web processes): each
    entry holds its own chief's event, and the timeline check finds every event recorded."""
    incident_id = open_hotline_incident(r)
    now = time.time_ns() // 1_000_000
    incident_audit.record_event(
        r, "user:chief", "incident.opened", incident_id, "reported", now, "chief"
    )
    for chief, unit in (("alice", "U-1"), ("bob", "U-2")):
        out = incidents.assign(
            r,
            incident_id,
            [unit],
            ["reported", "assigned"],
            by=chief,
            at_ms=now,
            priority=2,
            notices={unit: {"incident_id": incident_id}},
        )
        assert out.ok, out
    for chief in ("alice", "bob"):
        incident_audit.record_event(
            r, f"user:{chief}", "incident.assigned", incident_id, "assigned", now, chief
        )
    entries = {
        e["actor"]: e["digest"]
        for e in log.trail(r, RECORD, f"incident:{incident_id}")
        if e["action"] == "incident.assigned"
    }
    events = {
        f["by"]: audit.digest_of(incident_audit.event_change(i, f))
        for i, f in incidents.raw_events(r, incident_id)
        if f.get("to") == "assigned"
    }
    assert entries == {"user:alice": events["alice"], "user:bob": events["bob"]}
    assert incident_audit.timeline_check(r, incident_id)["status"] == "verified"


def test_pruned_days_leave_trails_whole_but_a_day_deleted_inside_the_retention_shows(
    r: redis.Redis, settings: Settings
) -> None:
    """Retention prunes old days and the trails' pointers into them with them, so a trail
    stays verified; a pointer left into a day that is gone counts as pruned history past the
    retention, and as a deletion inside it."""
    now = time.time_ns() // 1_000_000
    day_ms = 24 * 3_600_000
    for i in range(40):  # four days, the oldest three to be pruned
        log.append(
            r,
            "user:li",
            "incident.note",
            "incident:INC-1",
            {"i": i},
            now - 4 * day_ms + i * day_ms // 10,
        )
    keep = {Chain.RECORD: 1, Chain.ACCESS: 1}
    HeadSigner(r, settings.data_dir, every_s=300, keep_days=keep, clock=lambda: now).tick()
    c = Chain.RECORD.value
    kept = log.days(r, c)
    pointers = [p.decode() for p in r.lrange(keys.audit_ref(c, "incident:INC-1"), 0, -1)]
    assert {p.split(":")[0] for p in pointers} == set(kept)  # the pruned days' trimmed away
    ctx = build(settings.model_copy(update={"audit_keep_record_days": 1}))
    assert service.trail(ctx, "incident:INC-1")["status"] == "verified"
    # a pointer left (before pruning trimmed) into a pruned day: history, past the retention
    r.lpush(keys.audit_ref(c, "incident:INC-1"), "20200101:0")
    assert service.trail(ctx, "incident:INC-1")["status"] == "verified"
    # the oldest kept day deleted: its entries are gone inside the retention (5 years here)
    r.delete(keys.audit_day(c, kept[0]))
    r.zrem(keys.audit_days(c), kept[0])
    body = service.trail(build(settings), "incident:INC-1")
    assert body["status"] == "broken"
    assert (
        f"the entries of day {kept[0]} are gone, inside the 1827 days kept" in body["problems"][0]
    )
