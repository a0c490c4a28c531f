"""Acknowledging and closing alerts: atomic in Redis, recorded with who and when, and allowed
only to the roles of the design's table when posted straight to the callbacks."""

from __future__ import annotations

import json
from typing import Any

import redis
from flask.testing import FlaskClient

from config.settings import Settings
from dashboard import roles
from layouts.map import Ids
from store import alerts, keys, snapshots, users
from store.ops import RaiseAlert
from store.writer import LiveStore
from tests.helpers import PASSWORD, make_app, post_callback, signed_in
from views.map import ACK, CLOSE, CONFIRM, DISMISS_REASONS, feed_view

HOUR_MS = 3_600_000


def _raise(r: redis.Redis, alert_id: str = "wq:S-1:1:1", severity: str = "critical") -> str:
    LiveStore(r, HOUR_MS, 1000).write(
        [
            RaiseAlert(
                alert_id=alert_id,
                ts=1_764_300_000_000,
                fields={
                    "kind": "water_quality",
                    "severity": severity,
                    "source": "S-1",
                    "name": "近岸1",
                    "lat": 22.5,
                    "lon": 114.5,
                    "message": "COD 9 (class I <= 2)",
                },
            )
        ],
        1_764_300_000_000,
    )
    return alert_id


def test_acknowledge_once_then_close_once(r: redis.Redis) -> None:
    a = _raise(r)
    v = snapshots.version(r)
    assert alerts.acknowledge(r, a, "duty", 1000, HOUR_MS) == alerts.Outcome.DONE
    assert alerts.acknowledge(r, a, "other", 2000, HOUR_MS) == alerts.Outcome.ALREADY
    (open_alert,) = snapshots.open_alerts(r)
    assert (open_alert["ack_by"], open_alert["ack_ms"]) == ("duty", 1000)
    assert snapshots.version(r) == v + 1  # the pages see the change
    assert alerts.close(r, a, "chief", 3000, HOUR_MS, "x" * 500) == alerts.Outcome.DONE
    assert alerts.close(r, a, "chief", 4000, HOUR_MS) == alerts.Outcome.NOT_OPEN
    assert alerts.acknowledge(r, a, "late", 5000, HOUR_MS) == alerts.Outcome.NOT_OPEN
    assert snapshots.open_alerts(r) == []
    record = r.hgetall(keys.alert(a))
    assert record[b"closed_by"] == b"chief" and len(record[b"close_reason"]) == alerts.MAX_REASON
    events = [f[b"type"] for _id, f in r.xrange(keys.EVENTS)]
    assert events == [b"alert_ack", b"alert_close"]


def test_unknown_or_hostile_ids_write_nothing(r: redis.Redis) -> None:
    before = r.dbsize()
    for bad in ("nope", "}{evil", "x" * 10_000, ""):
        assert alerts.acknowledge(r, bad, "duty", 1, HOUR_MS) == alerts.Outcome.NOT_OPEN
        assert alerts.close(r, bad, "duty", 1, HOUR_MS) == alerts.Outcome.NOT_OPEN
    assert r.dbsize() == before


def _buttons(tree: Any) -> list[dict[str, str]]:
    found = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack += node
        elif hasattr(node, "children"):
            if isinstance(getattr(node, "id", None), dict):
                found.append(node.id)
            stack.append(node.children)
    return found


def test_the_feed_offers_each_role_only_its_actions() -> None:
    items = [
        {"id": "a1", "severity": "critical", "kind": "water_quality", "ts": 1},
        {"id": "a2", "severity": "warning", "kind": "geofence", "ack_by": "duty"},
    ]
    kinds = {
        role: sorted((b["type"], b["id"]) for b in _buttons(feed_view(items, "en", role, False)))
        for role in roles.ROLES
    }
    assert kinds["operator"] == [(ACK, "a1")]
    assert kinds["dispatcher"] == sorted(
        [(ACK, "a1")] + [(CLOSE, a) for a in ("a1", "a2") for _reason in DISMISS_REASONS]
    )
    located = [{**items[0], "lat": 22.5, "lon": 114.5}]
    assert (CONFIRM, "a1") in [
        (b["type"], b["id"]) for b in _buttons(feed_view(located, "en", "dispatcher", False))
    ]
    assert kinds["leader"] == kinds["admin"] == []
    assert _buttons(feed_view(items, "en", "dispatcher", True)) == []  # the wall screen


def _click(c: FlaskClient, pattern: str, alert_id: str, note: Ids, **more: str) -> int:
    button = {"id": {"id": alert_id, "type": pattern, **more}, "property": "n_clicks", "value": 1}
    prop_id = json.dumps(button["id"], separators=(",", ":"), sort_keys=True) + ".n_clicks"
    output = f"{note}.children" + ("@" + _duplicate_hash(c, pattern) if pattern == CONFIRM else "")
    body = {
        "output": output,
        "outputs": {"id": note, "property": "children"},
        "changedPropIds": [prop_id],
        "inputs": [[button]],
        "state": [],
    }
    return post_callback(c, body).status_code


def test_direct_posts_act_only_for_the_allowed_roles(settings: Settings, r: redis.Redis) -> None:
    for role in roles.ROLES:
        users.create_user(r, role, role, PASSWORD)
    server = make_app(settings)
    a = _raise(r)
    as_role = {role: signed_in(server, role) for role in roles.ROLES}
    assert _click(as_role["leader"], ACK, a, Ids.ACK_NOTE) == 403
    why = {"reason": "false_alarm"}
    assert _click(as_role["operator"], CLOSE, a, Ids.CLOSE_NOTE, **why) == 403  # a chief's
    assert _click(as_role["admin"], CLOSE, a, Ids.CLOSE_NOTE, **why) == 403
    assert snapshots.open_alerts(r)[0].get("ack_by") is None
    assert _click(as_role["operator"], ACK, a, Ids.ACK_NOTE) == 200
    assert snapshots.open_alerts(r)[0]["ack_by"] == "operator"
    assert _click(as_role["dispatcher"], CLOSE, a, Ids.CLOSE_NOTE, reason="nonsense") == 204
    assert _click(as_role["dispatcher"], CLOSE, a, Ids.CLOSE_NOTE, **why) == 200
    assert snapshots.open_alerts(r) == []
    assert r.hget(keys.alert(a), "close_reason") == b"false_alarm"
    # a click on an alert that is no longer open changes nothing and says so
    assert _click(as_role["dispatcher"], CLOSE, a, Ids.CLOSE_NOTE, **why) == 200
    assert _click(as_role["dispatcher"], CLOSE, "x" * 1000, Ids.CLOSE_NOTE, **why) == 204


def _duplicate_hash(c: FlaskClient, pattern: str) -> str:
    """Dash keys a callback with allow_duplicate by its output plus a hash: find it."""
    deps = c.get("/_dash-dependencies").get_json()
    (dep,) = [
        d
        for d in deps
        if f'"type":"{pattern}"' in str(d["inputs"]).replace("'", '"').replace(" ", "")
    ]
    return dep["output"].split("@", 1)[1]


def test_a_duty_chief_turns_an_alert_into_an_incident(settings: Settings, r: redis.Redis) -> None:
    from store import incidents

    users.create_user(r, "chief", roles.DISPATCHER, PASSWORD)
    users.create_user(r, "duty", roles.OPERATOR, PASSWORD)
    server = make_app(settings)
    a = _raise(r)
    assert _click(signed_in(server, "duty"), CONFIRM, a, Ids.CLOSE_NOTE) == 403
    assert _click(signed_in(server, "chief"), CONFIRM, a, Ids.CLOSE_NOTE) == 200
    (inc,) = incidents.listing(r)
    assert (inc["type"], inc["source"], inc["priority"], inc["alert_id"]) == (
        "water_pollution",
        "sensor_alert",
        1,
        a,
    )
    assert snapshots.open_alerts(r) == []
    assert r.hget(keys.alert(a), "close_reason") == f"incident {inc['id']}".encode()
