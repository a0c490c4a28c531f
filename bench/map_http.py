"""The map benchmark's HTTP side: sign in through the real form, call the map refresh callback
the way Dash's renderer does (body built from /_dash-dependencies, X-CSRFToken from the
`_csrf_token` cookie), and the raw baseline: the same data straight from Redis, serialised with
orjson."""

from __future__ import annotations

import gzip
import re
import time
from typing import Any

import orjson
import redis
import requests

from store import keys

REFRESH_OUTPUT = "map-counts.children"  # how the map refresh callback is recognised
_CSRF_FIELD = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


class WebClient:
    """A signed-in requests.Session against the web app."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.s = requests.Session()

    def sign_in(self, name: str, password: str) -> None:
        form = self.s.get(f"{self.base}/login", timeout=30)
        found = _CSRF_FIELD.search(form.text)
        if form.status_code != 200 or not found:
            raise RuntimeError(f"GET /login gave {form.status_code} without a CSRF token")
        r = self.s.post(
            f"{self.base}/login",
            timeout=30,
            allow_redirects=False,
            data={"csrf_token": found[1], "next": "/", "username": name, "password": password},
        )
        if r.status_code != 302:
            raise RuntimeError(f"sign-in refused: {r.status_code} {r.text[:200]}")
        self.s.get(f"{self.base}/", timeout=30)  # a signed-in response sets _csrf_token
        if not self.s.cookies.get("_csrf_token"):
            raise RuntimeError("no _csrf_token cookie after signing in")

    def get_json(self, path: str) -> Any:
        r = self.s.get(f"{self.base}{path}", timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, body: dict[str, Any]) -> tuple[requests.Response, float]:
        """(response, request time in ms); the body is sent as the renderer sends it."""
        data = orjson.dumps(body)
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": self.s.cookies.get("_csrf_token") or "",
        }
        t0 = time.perf_counter()
        r = self.s.post(
            f"{self.base}/_dash-update-component", data=data, headers=headers, timeout=60
        )
        _ = r.content  # the whole body read
        return r, (time.perf_counter() - t0) * 1000


def _outputs(output: str) -> list[tuple[str, str]]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(p.rsplit(".", 1)) for p in parts]  # type: ignore[misc]


class Callback:
    """One callback as /_dash-dependencies describes it, and request bodies for it."""

    def __init__(
        self, dependencies: list[dict[str, Any]], layout: Any, needle: str = REFRESH_OUTPUT
    ) -> None:
        found = [
            d for d in dependencies if needle in [f"{i}.{p}" for i, p in _outputs(d["output"])]
        ]
        if len(found) != 1:
            raise RuntimeError(
                f"expected one callback with output {needle} in "
                f"/_dash-dependencies, found {len(found)}"
            )
        self.spec = found[0]
        self.output = self.spec["output"]
        self.outputs = _outputs(self.output)
        for dep in self.spec.get("inputs", []) + self.spec.get("state", []):
            if not isinstance(dep.get("id"), str) or dep["id"].startswith("{"):
                raise RuntimeError(
                    f"the map refresh callback has a pattern-matching input "
                    f"({dep['id']}): bench/map_http.py does not build those"
                )
        self.values = layout_values(layout)
        # Inputs and states with no value in the page's layout (parts a callback renders)
        # go as null, as the renderer sends a prop nobody set.
        self.unset = [
            f"{d['id']}.{d['property']}"
            for d in self.spec.get("inputs", []) + self.spec.get("state", [])
            if (d["id"], d["property"]) not in self.values and d["property"] != "n_intervals"
        ]

    def body(self, n: int, state: dict[tuple[str, str], Any] | None = None) -> dict[str, Any]:
        """A tick of the poll (`n_intervals` = n). States that are also outputs (the version
        seen) come from `state`, else null: a null version forces a full answer."""

        def value(d: dict[str, Any], is_state: bool) -> Any:
            key = (d["id"], d["property"])
            if d["property"] == "n_intervals":
                return n
            if is_state and key in self.outputs:
                return (state or {}).get(key)
            return self.values.get(key)

        inputs = [{**d, "value": value(d, False)} for d in self.spec.get("inputs", [])]
        states = [{**d, "value": value(d, True)} for d in self.spec.get("state", [])]
        outs = [{"id": i, "property": p} for i, p in self.outputs]
        first = self.spec["inputs"][0]
        return {
            "output": self.output,
            "outputs": outs if len(outs) > 1 else outs[0],
            "inputs": inputs,
            "state": states,
            "changedPropIds": [f"{first['id']}.{first['property']}"],
        }

    def state_from(self, answer: dict[str, Any]) -> dict[tuple[str, str], Any]:
        """The outputs of an answer that the callback also reads back as State."""
        resp = answer.get("response", {})
        return {(i, p): resp[i][p] for i, p in self.outputs if p in resp.get(i, {})}


def layout_values(layout: Any) -> dict[tuple[str, str], Any]:
    """(id, prop) -> value of every component with a string id in a /_dash-layout tree."""
    out: dict[tuple[str, str], Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                walk(x)
        elif isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict):
                ident = props.get("id")
                if isinstance(ident, str):
                    for k, v in props.items():
                        if k not in ("id", "children"):
                            out[(ident, k)] = v
                for v in props.values():
                    walk(v)

    walk(layout)
    return out


def count_features(doc: Any) -> int:
    """GeoJSON features anywhere in a callback answer."""
    if isinstance(doc, list):
        return sum(count_features(x) for x in doc)
    if isinstance(doc, dict):
        if doc.get("type") == "Feature":
            return 1
        return sum(count_features(x) for x in doc.values())
    return 0


def raw_snapshot(r: redis.Redis) -> bytes:
    """The raw baseline: what the callback reads (store/snapshots.py: one pipelined HGETALL
    over each index's members, and the open alerts), decoded and serialised with orjson. No
    typing, no GeoJSON, no Dash."""
    out: dict[str, Any] = {}
    for kind in ("unit", "vessel", "sensor"):
        ids = [x.decode() for x in r.smembers(keys.index(kind))]
        pipe = r.pipeline(transaction=False)
        for entity_id in ids:
            pipe.hgetall(keys.state(kind, entity_id))
        out[kind] = [
            {k.decode(): v.decode("utf-8", "replace") for k, v in h.items()} for h in pipe.execute()
        ]
    ids = [x.decode() for x in r.zrevrange(keys.ALERTS_OPEN, 0, 199)]
    pipe = r.pipeline(transaction=False)
    for alert_id in ids:
        pipe.hgetall(keys.alert(alert_id))
    out["alerts"] = [
        {k.decode(): v.decode("utf-8", "replace") for k, v in h.items()} for h in pipe.execute()
    ]
    return orjson.dumps(out)


def timed_baseline(r: redis.Redis) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    data = raw_snapshot(r)
    return data, (time.perf_counter() - t0) * 1000


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))
