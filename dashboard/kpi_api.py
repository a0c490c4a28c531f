"""The leadership KPIs (docs/openapi.yaml, GET /api/v1/kpis): handling rate, response times,
deadline shares, workload, units on duty, patrol coverage and water quality over a period,
for one department and/or sub-district or all. A thin adapter over services/kpis.py, which the
KPI page calls too.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from dashboard.context import app_context
from dashboard.roles import KPI_VIEWERS
from services import kpis as service

bp = Blueprint("kpi_api", __name__, url_prefix="/api/v1")


def kpis_view() -> Any:
    args = request.args
    body = service.query_report(
        app_context(),
        args.get("from"),
        args.get("to"),
        args.get("department"),
        args.get("subdistrict"),
    )
    return jsonify(body)


kpis_view.roles = KPI_VIEWERS  # type: ignore[attr-defined]  # checked by dashboard.security
bp.add_url_rule("/kpis", view_func=kpis_view, methods=["GET"])
