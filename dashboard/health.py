"""`GET /healthz`: is the data plane alive? No login, no secrets: only states, ages and counts."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify

from dashboard.context import app_context
from dashboard.map_data import heartbeat_age_s
from infra.connections import broker_reachable
from store import reader

bp = Blueprint("health", __name__)

HEARTBEAT_MAX_AGE_S = 5.0


@bp.get("/healthz")
def healthz():
    settings = current_app.config["SETTINGS"]
    r: redis.Redis = app_context().redis
    body: dict = {"redis": {"ok": False}, "broker": {"ok": False}, "ingest": {"ok": False}}
    try:
        r.ping()
        body["redis"]["ok"] = True
        stats = reader.ingest_stats(r)
        beat = stats["heartbeat"]
        age = (app_context().now_ms() - float(beat["ts_ms"])) / 1000 if beat.get("ts_ms") else None
        body["ingest"] = {
            "ok": age is not None
            and age < HEARTBEAT_MAX_AGE_S
            and beat.get("broker_connected") == "1",
            "heartbeat_age_s": None if age is None else round(age, 2),
            "broker_connected": beat.get("broker_connected") == "1",
            "backlog": int(beat.get("backlog", 0)),
            # messages the embedded broker accepted that no worker has applied yet
            "inbox": reader.inbox_length(r),
            # informative, not part of "ok": a quiet night can be healthy
            "last_message_age_s": heartbeat_age_s(beat, app_context().now_ms(), "last_message_ms"),
        }
        body["messages"] = stats["messages"]
        body["writes"] = stats["writes"]
        body["deadletter"] = {
            "total": sum(stats["deadletter_by_reason"].values()),
            "by_reason": stats["deadletter_by_reason"],
        }
        # valid messages that carry nothing the product uses (an AIS type it does not read)
        body["ignored"] = {
            "total": sum(stats["ignored_by_reason"].values()),
            "by_reason": stats["ignored_by_reason"],
        }
        body["live"] = reader.counts(r)
        # what the embedded broker refused, per identity and reason: a device publishing where
        # it may not cannot be told (MQTT 3.1.1), so this is where an operator sees it
        refused = reader.broker_refusals(r)
        body["broker"]["refused"] = refused
        body["broker"]["refused_total"] = sum(sum(v.values()) for v in refused.values())
    except redis.exceptions.RedisError as e:
        body["redis"]["error"] = type(e).__name__
    body["broker"]["ok"] = broker_reachable(settings.effective_mqtt_url, timeout=0.5)
    ok = all(body[k]["ok"] for k in ("redis", "broker", "ingest"))
    body["status"] = "ok" if ok else "degraded"
    return jsonify(body), 200 if ok else 503
