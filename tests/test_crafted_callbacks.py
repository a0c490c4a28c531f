"""Callbacks posted by hand, as an attacker would (issue: hardening): odd pattern-matching ids
and values are refused quietly (204: nothing to update), never a 500, and the role check still
applies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.helpers import post_callback, signed_in

CHARTS: list[Any] = [["ALL"], {"x": 1}, None, 7, "no-such-chart", "x" * 5000, "handling_rate"]


def _download_body(chart: Any, clicks: Any = 1) -> dict[str, Any]:
    ident = {"chart": chart, "type": "kpi-csv"}
    key = json.dumps(ident, separators=(",", ":"), sort_keys=True)
    state = [
        {"id": "kpi-period", "property": "value", "value": "7d"},
        {"id": "kpi-dates", "property": "start_date", "value": None},
        {"id": "kpi-dates", "property": "end_date", "value": None},
        {"id": "kpi-department", "property": "value", "value": None},
        {"id": "kpi-subdistrict", "property": "value", "value": None},
    ]
    return {
        "output": "kpi-download.data",
        "outputs": {"id": "kpi-download", "property": "data"},
        "changedPropIds": [f"{key}.n_clicks"],
        "inputs": [[{"id": ident, "property": "n_clicks", "value": clicks}]],
        "state": state,
    }


@pytest.mark.parametrize("chart", CHARTS, ids=range(len(CHARTS)))
def test_a_crafted_kpi_download_never_gives_a_server_error(server: Flask, chart: Any) -> None:
    c = signed_in(server, "leader")
    resp = post_callback(c, _download_body(chart))
    assert resp.status_code < 500, resp.data[:300]
    if chart != "handling_rate":
        assert resp.status_code == 204
    # another role is refused whatever the id
    assert post_callback(signed_in(server, "operator"), _download_body(chart)).status_code == 403
