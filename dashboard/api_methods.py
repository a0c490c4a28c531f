"""Which methods an `/api/` path takes, for the requests no API route serves as asked: OPTIONS,
and a method the path does not have (TRACE, DELETE, GET where only POST is an operation).

Flask alone would get these wrong for the API: Dash's catch-all page route (`/<path:path>`, GET)
matches every path, so Flask's automatic OPTIONS would list GET everywhere and a GET where the
API has only POST would reach the pages. RFC 9110: a method the target does not support is 405
with `Allow` naming those it does; docs/openapi.yaml is the list of operations.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

# the methods an API route may have (HEAD comes with GET, OPTIONS is answered here)
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed() -> list[str]:
    """The methods the API's own routes take at this request's path: none if the path is no
    API route at all."""
    adapter = current_app.create_url_adapter(request)
    found = set()
    for method in ROUTE_METHODS:
        try:
            rule, _args = adapter.match(method=method, return_rule=True)  # type: ignore[union-attr]
        except HTTPException:  # not found, not allowed, a redirect: no route for this method
            continue
        if rule.rule.startswith("/api/"):  # not Dash's catch-all page route
            found.add(method)
    if "GET" in found:
        found.add("HEAD")
    return sorted(found | {"OPTIONS"}) if found else []


def answer() -> Response:
    """OPTIONS: 204 with `Allow`. Any other method no API route serves here: 405 with `Allow`,
    or 404 when the path is no API route."""
    methods = allowed()
    if not methods:
        resp = jsonify({"error": "no such API route"})
        resp.status_code = 404
        return resp
    if request.method == "OPTIONS":
        resp = current_app.response_class(status=204)
    else:
        resp = jsonify({"error": f"{request.method} is not an operation of this path"})
        resp.status_code = 405
    resp.headers["Allow"] = ", ".join(methods)
    return resp
