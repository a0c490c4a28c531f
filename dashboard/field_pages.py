"""The officer's field app, `/field`: one page for a phone held in one hand, Chinese first with
English beside it, plain HTML and one script (assets/public/field.js), no Dash: it must load
at sea on a weak signal. Installable: a web app manifest and a service worker that keeps the
page and its script for when there is no signal at all (the script queues what the officer
does meanwhile). Only field staff reach it (view.roles); the console sends them here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template_string, send_from_directory
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from dashboard import phone_map
from dashboard.i18n import t
from dashboard.report_pages import PUBLIC_ASSETS, STYLE
from domain import incidents as model
from domain.roles import FIELD_STAFF

bp = Blueprint("field_pages", __name__)


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="theme-color" content="#0b5d1e">
<link rel="manifest" href="/field/manifest.webmanifest" crossorigin="use-credentials">
<title>外勤 · Field · 大鹏生态执法</title><style>{{ style }}</style>
<link rel="stylesheet" href="{{ leaflet_css }}">
<link rel="stylesheet" href="/field/field.css"></head><body>
<header><h1>外勤 · Field</h1><span id="field-net" role="status">在线 · Online</span></header>
<p><span id="field-who">{{ name }}</span> · 单位 Unit <strong id="field-unit">{{ unit }}</strong>
 · <span id="field-duty">下班 · Off duty</span></p>
<div class="row"><button type="button" id="field-on">上班 · On duty</button>
<button type="button" id="field-off" class="secondary">下班 · Off duty</button></div>
<p id="field-where" class="note">尚未定位 · No position yet</p>
<section id="field-task" class="card" aria-live="assertive">
<h2>当前任务 · Task</h2><p id="field-task-body">暂无任务 · No task</p>
<div id="field-map-box" class="map-box">
<div id="field-map" class="phone-map" data-tiles="{{ tiles }}" role="region"
 aria-label="地图：任务地点与我的位置 · Map: the task's place and mine"></div>
<button type="button" id="field-map-size" class="secondary" aria-pressed="false">
放大地图 · Larger map</button></div>
<p id="field-task-nav"></p>
<label for="field-note">说明 · Note</label>
<textarea id="field-note" rows="2" maxlength="500"
 placeholder="现场情况 · What you found"></textarea>
<label for="field-photo">照片 · Photo</label>
<input id="field-photo" type="file" accept="image/jpeg,image/png,image/webp"
 capture="environment" multiple>
<div class="row"><button type="button" id="field-ack" disabled>接受 · Accept</button>
<button type="button" id="field-arrived" disabled>到达 · Arrived</button></div>
<button type="button" id="field-handled" disabled>处置完毕 · Handled</button>
</section>
<section id="field-messages" class="card" aria-live="polite">
<h2>消息 · Messages</h2><ol id="field-thread" class="thread"></ol>
<label for="field-reply-text">回复指挥中心 · Reply to the centre</label>
<textarea id="field-reply-text" rows="2" maxlength="500"></textarea>
<button type="button" id="field-reply-send" class="secondary">发送 · Send</button>
</section>
<section id="field-beat" class="card">
<h2>巡查 · Patrol</h2>
<p class="note">我负责的网格与岸段（勾选本次巡查的）· My places (tick those patrolled)</p>
<ul id="field-places" class="places"></ul>
<button type="button" id="field-log-send" class="secondary">
提交巡查记录 · Submit patrol log</button>
<ol id="field-logs" class="thread"></ol>
</section>
<section id="field-finding" class="card">
<h2>发现问题 · Report a finding</h2>
<label for="field-finding-type">什么问题 · What</label>
<select id="field-finding-type">
{% for value, label in types %}<option value="{{ value }}">{{ label }}</option>{% endfor %}
</select>
<label for="field-finding-text">描述 · Description</label>
<textarea id="field-finding-text" rows="2" maxlength="2000"></textarea>
<label for="field-finding-photo">照片 · Photo</label>
<input id="field-finding-photo" type="file" accept="image/jpeg,image/png,image/webp"
 capture="environment" multiple>
<button type="button" id="field-finding-send">在此处上报 · Report it here</button>
</section>
<p id="field-queue" class="note">待发送 0 · Waiting to send 0</p>
<p id="field-status" role="status" aria-live="polite"></p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<button type="submit" class="secondary">退出 · Sign out</button></form>
<script id="field-labels" type="application/json">{{ labels | tojson }}</script>
<script src="{{ leaflet_js }}"></script>
<script src="/public/map/phone-map.js"></script>
<script src="/field/field-map.js"></script>
<script src="/field/field.js"></script>
</body></html>"""


def _both(key: str) -> str:
    return f"{t(key, 'zh')} · {t(key, 'en')}"


def page() -> Any:
    account = current_user.account
    labels = {
        "types": {x.value: _both(f"incident.type.{x.value}") for x in model.IncidentType},
        "states": {x.value: _both(f"incident.state.{x.value}") for x in model.State},
    }
    html = render_template_string(
        PAGE,
        types=list(labels["types"].items()),
        style=STYLE,
        name=account.name,
        unit=account.unit or "",
        labels=labels,
        csrf=generate_csrf(),
        tiles=phone_map.tiles_url(),
        leaflet_css=phone_map.leaflet_url("leaflet.css"),
        leaflet_js=phone_map.leaflet_url("leaflet.js"),
    )
    return html, 200, {"Cache-Control": "no-cache"}


def script() -> Any:
    return send_from_directory(PUBLIC_ASSETS, "field.js", mimetype="text/javascript")


def map_script() -> Any:
    return send_from_directory(PUBLIC_ASSETS, "field-map.js", mimetype="text/javascript")


def style() -> Any:
    return send_from_directory(PUBLIC_ASSETS, "field.css", mimetype="text/css")


def worker() -> Any:
    resp = send_from_directory(PUBLIC_ASSETS, "field-sw.js", mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/field"  # its scope: the page and its files
    resp.headers["Cache-Control"] = "no-cache"  # a new version is picked up at the next load
    return resp


def manifest() -> Any:
    doc = {
        "name": "大鹏生态执法 外勤 · Dapeng field",
        "short_name": "外勤 Field",
        "start_url": "/field",
        "scope": "/field",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5d1e",
        "lang": "zh-CN",
        "icons": [{"src": "/field/icon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    resp = jsonify(doc)
    resp.mimetype = "application/manifest+json"
    return resp


def icon() -> Any:
    return send_from_directory(PUBLIC_ASSETS, "field-icon.svg", mimetype="image/svg+xml")


for rule, view in (
    ("/field", page),
    ("/field/field.js", script),
    ("/field/field-map.js", map_script),
    ("/field/field.css", style),
    ("/field/sw.js", worker),
    ("/field/manifest.webmanifest", manifest),
    ("/field/icon.svg", icon),
):
    view.roles = FIELD_STAFF  # type: ignore[attr-defined]  # checked by dashboard.security
    bp.add_url_rule(rule, view_func=view, methods=["GET"])
