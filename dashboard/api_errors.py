"""One way for every API route to read a JSON body and to answer a refusal: a service's
`Refused` (its status and message) or `BadQuery` (422) becomes `{"error": ...}` JSON, whichever
route raised it, so the routes only parse, call and render."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask, jsonify, request
from pydantic import BaseModel, ValidationError

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
        errs = e.errors(include_url=False, include_input=False)
        raise Refused(
            422,
            "; ".join(f"{'.'.join(map(str, x['loc'])) or 'body'}: {x['msg']}" for x in errs[:5]),
        ) from None


def _refused(e: Refused) -> Any:
    return jsonify({"error": e.message, **e.extra}), e.status


def _bad_query(e: BadQuery) -> Any:
    return jsonify({"error": str(e)}), 422


def _store_down(_e: Exception) -> Any:
    """JSON for the API and the pages' callbacks alike: a 503 they can read, never a 500 page."""
    body = {"error": "the data store is unavailable: try again shortly"}
    return jsonify(body), 503, {"Retry-After": str(RETRY_AFTER_S)}


def install(server: Flask) -> None:
    server.register_error_handler(Refused, _refused)
    server.register_error_handler(BadQuery, _bad_query)
    for error in STORE_DOWN:
        server.register_error_handler(error, _store_down)
