"""One way for every API route to read a JSON body or a flag and to answer a refusal: a
service's `Refused` (its status and message), a `BadQuery` (422) or Werkzeug's own refusals on
`/api/` (a missing CSRF token, a body too large) become `{"error": ...}` JSON, whichever route
raised it, so the routes only parse, call and render."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from services.errors import STORE_DOWN, BadQuery, Refused

RETRY_AFTER_S = 5  # Redis restarts in seconds; the embedded supervisor restarts it at once

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> M:
    """The request's JSON body as `model`, with strict JSON types ("22.5" is not a number) and
    no unknown fields; Refused(400) if it is not an object, Refused(422) naming what is wrong."""
    if not isinstance(request.get_json(silent=True), dict):
        raise Refused(400, "the body must be a JSON object")
    try:
        return model.model_validate_json(request.get_data(), strict=True)
    except ValidationError as e:
        raise _invalid(e) from None


def form_body(model: type[M]) -> M:
    """The request's form fields (multipart or urlencoded) as `model`: text read as the field's
    type ("22.5" is a number here: a form has nothing else), no unknown or repeated fields;
    Refused(422) naming what is wrong."""
    fields = request.form.to_dict(flat=False)
    repeated = sorted(k for k, v in fields.items() if len(v) > 1)
    if repeated:
        raise Refused(422, f"{repeated[0][:40]}: given more than once")
    try:
        return model.model_validate({k: v[0] for k, v in fields.items()})
    except ValidationError as e:
        raise _invalid(e) from None


def _invalid(e: ValidationError) -> Refused:
    errs = e.errors(include_url=False, include_input=False)
    return Refused(
        422,
        "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in errs[:5]),
    )


def query_flag(name: str) -> bool:
    """A 0/1 query parameter (absent: 0). Anything else is refused rather than read as 0: a
    client that sent `open=true` would otherwise get every incident and not know it."""
    value = request.args.get(name, "0")
    if value not in ("0", "1"):
        raise BadQuery(f"{name}: 0 or 1, not {value[:20]!r}")
    return value == "1"


def _refused(e: Refused) -> Any:
    retry = e.extra.get("retry_after_s")
    headers = {"Retry-After": str(retry)} if isinstance(retry, int) else {}
    return jsonify({"error": e.message, **e.extra}), e.status, headers


def _bad_query(e: BadQuery) -> Any:
    return jsonify({"error": str(e)}), 422


def _store_down(_e: Exception) -> Any:
    """JSON for the API and the pages' callbacks alike: a 503 they can read, never a 500 page."""
    body = {"error": "the data store (Redis) is unavailable: try again shortly"}
    return jsonify(body), 503, {"Retry-After": str(RETRY_AFTER_S)}


def _http_error(e: HTTPException) -> Any:
    """Werkzeug's refusals (CSRF token missing: 400, body too large: 413...) as JSON on the API,
    with their headers; pages keep Werkzeug's HTML."""
    if not request.path.startswith("/api/") or e.code is None:
        return e
    resp = jsonify({"error": e.description or e.name})
    resp.status_code = e.code
    for name, value in e.get_headers():
        if name.lower() != "content-type":
            resp.headers[name] = value
    return resp


def install(server: Flask) -> None:
    server.register_error_handler(HTTPException, _http_error)
    server.register_error_handler(Refused, _refused)
    server.register_error_handler(BadQuery, _bad_query)
    for error in STORE_DOWN:
        server.register_error_handler(error, _store_down)
