"""The citizen's pages, for anyone on a phone: `/report` (what, where, a description, up to 3
photos, an optional phone number; assets/public/report.js solves the challenge and sends the
form to /api/v1/reports) and `/report/track/<code>` (the case's stages, rendered here: it works
without script). Chinese first, English beside it; plain HTML, no Dash: a citizen's phone on a
weak signal loads a few KB, not the console's bundles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, render_template_string, send_from_directory

from dashboard import phone_map
from dashboard.context import app_context
from dashboard.i18n import t
from domain import incidents as model
from domain.vocab import LOCAL_TZ
from services import reports as service
from services.errors import Refused

bp = Blueprint("report_pages", __name__)
PUBLIC_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "public"

STYLE = """body{font-family:sans-serif;margin:0 auto;max-width:32em;padding:0 1em 2em;
font-size:18px;line-height:1.45;color:#111;background:#fff}h1{font-size:1.35em;margin:.8em 0 .3em}
label{display:block;font-weight:bold;margin:.9em 0 .25em}select,textarea,input,button{
font-size:1em;width:100%;box-sizing:border-box;padding:.55em;border:2px solid #333;
border-radius:6px;background:#fff;color:#111}button{background:#0b5d1e;color:#fff;
border-color:#0b5d1e;margin-top:1em;min-height:3em;font-weight:bold}button.secondary{
background:#fff;color:#0b5d1e}p.note{color:#333;font-size:.9em}#report-status{
margin-top:1em;font-weight:bold}.error{color:#b00020}.done{color:#0b5d1e}ol.stages{padding-left:
1.2em}ol.stages li{margin:.4em 0}.when{color:#333;font-size:.9em}.phone-map{height:13em;
border:2px solid #333;border-radius:6px;margin:.4em 0}.phone-map.leaflet-container{
background:#b5d0e0}.coords{display:flex;gap:.5em}.coords div{flex:1;min-width:0}fieldset{
border:0;padding:0;margin:0}legend{font-weight:bold;margin:.9em 0 .25em;padding:0}"""

FORM = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>随手拍 · Report · 大鹏生态执法</title><style>{{ style }}</style>
<link rel="stylesheet" href="{{ leaflet_css }}"></head><body>
<h1>随手拍举报 · Report what you see</h1>
<p class="note">无需注册。我们会核实后处理，并给您一个查询码。· No account needed: we check
each report, and you get a code to follow it.</p>
<form id="report-form" novalidate>
<label for="report-type">什么问题 · What</label>
<select id="report-type" name="type" required>
{% for value, label in types %}<option value="{{ value }}">{{ label }}</option>{% endfor %}
</select>
<fieldset id="report-place">
<legend>在哪里 · Where</legend>
<p class="note" id="report-map-help">在地图上点一下选定位置，可拖动标记微调 · Tap the map to set the
place; drag the pin to adjust</p>
<div id="report-map" class="phone-map" data-tiles="{{ tiles }}" role="region"
 aria-label="地图：方向键移动，回车选定中心 · Map: arrow keys move it, Enter picks the centre">
</div>
<button type="button" id="report-locate" class="secondary">使用我的位置 · Use my position</button>
<p id="report-where" class="note" aria-live="polite">尚未定位 · No position yet</p>
<div class="coords"><div><label for="report-lat">纬度 · Lat</label>
<input id="report-lat" name="lat" inputmode="decimal" autocomplete="off" maxlength="12"
 placeholder="22.55"></div>
<div><label for="report-lon">经度 · Lon</label>
<input id="report-lon" name="lon" inputmode="decimal" autocomplete="off" maxlength="12"
 placeholder="114.48"></div></div>
</fieldset>
<label for="report-description">描述 · Description</label>
<textarea id="report-description" name="description" rows="4" maxlength="2000"
 placeholder="看到了什么、具体位置 · What you saw, and where exactly"></textarea>
<label for="report-photos">照片（最多3张）· Photos (up to 3)</label>
<input id="report-photos" name="photo" type="file" accept="image/jpeg,image/png,image/webp"
 multiple>
<label for="report-phone">电话（可选）· Phone (optional)</label>
<input id="report-phone" name="phone" type="tel" maxlength="20" autocomplete="tel">
<button type="submit" id="report-send">提交 · Send</button>
<p id="report-status" role="status" aria-live="polite"></p>
</form>
<script src="{{ leaflet_js }}"></script>
<script src="/public/map/phone-map.js"></script>
<script src="/report/report.js"></script>
</body></html>"""

TRACK = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>举报进度 · Report {{ code }}</title><style>{{ style }}</style></head><body>
<h1>举报进度 · Your report</h1>
{% if missing %}<p class="error" role="alert">没有这个查询码 · No report has this code</p>
{% else %}<p>查询码 · Code: <strong id="track-code">{{ code }}</strong></p>
<p>{{ kind }}</p>
<ol class="stages" id="track-stages">
{% for s in stages %}<li><strong>{{ s.label }}</strong>
 <span class="when" data-ms="{{ s.at_ms or '' }}">{{ s.when }}</span>
{% if s.reason %}<br>原因 · Reason: {{ s.reason }}{% endif %}</li>{% endfor %}
</ol>{% endif %}
<p><a href="/report">再报一件 · Report something else</a></p>
</body></html>"""

STAGES = {
    "received": ("已收到", "Received"),
    "verified": ("已核实", "Verified"),
    "sent": ("已派出处置", "Someone is on the way"),
    "handled": ("已处置", "Handled"),
    "closed": ("已办结", "Closed"),
    "rejected": ("不予受理", "Not taken up"),
    "transferred": ("已移交其他部门", "Passed to another department"),
}


def _both(key: str) -> str:
    return f"{t(key, 'zh')} · {t(key, 'en')}"


@bp.get("/report")
def form() -> Any:
    types = [(x.value, _both(f"incident.type.{x.value}")) for x in model.IncidentType]
    return render_template_string(
        FORM,
        style=STYLE,
        types=types,
        tiles=phone_map.tiles_url(),
        leaflet_css=phone_map.leaflet_url("leaflet.css"),
        leaflet_js=phone_map.leaflet_url("leaflet.js"),
    )


@bp.get("/report/report.js")
def script() -> Any:
    return send_from_directory(PUBLIC_ASSETS, "report.js", mimetype="text/javascript")


@bp.get("/report/track/<code>")
def track(code: str) -> Any:
    ctx = app_context()
    try:
        seen = service.progress(ctx, code[:64])
    except Refused:
        return render_template_string(TRACK, style=STYLE, missing=True, code=code[:64]), 404
    stages = [
        {
            "label": " · ".join(STAGES[s["stage"]]),
            "at_ms": s.get("at_ms"),
            "when": _when(s.get("at_ms")),
            "reason": s.get("reason"),
        }
        for s in seen["stages"]
    ]
    kind = _both(f"incident.type.{seen['type']}") if seen.get("type") else ""
    page = render_template_string(
        TRACK, style=STYLE, missing=False, code=seen["code"], kind=kind, stages=stages
    )
    return page, 200, {"Cache-Control": "no-store"}


def _when(at_ms: int | None) -> str:
    """Local (Shenzhen) time, as the citizen lives it."""
    if not at_ms:
        return ""
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
