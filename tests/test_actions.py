"""docs/architecture.md's table of state-changing actions is true of the code: each listed
callback and API route exists and calls its service function, and no callback or route reaches
the store or Redis itself (the health endpoint aside)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from config.settings import Settings
from tests.helpers import ROOT, SPEC, make_app

READS_REDIS_ITSELF = {"dashboard.health"}  # the health endpoint pings Redis and reads the beat


def action_rows() -> list[dict[str, str]]:
    """The table under "Every action through one door" in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("### Every action through one door", 1)[1].split("\n#", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ") and "---" not in ln]
    head, *body = ([c.strip().strip("`") for c in ln.strip("|").split("|")] for ln in lines)
    return [dict(zip(head, row, strict=True)) for row in body]


ROWS = action_rows()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_srv: Any) -> Flask:
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{redis_srv.port}/0",
        mqtt_url="mqtt://127.0.0.1:1",
        data_dir=tmp_path_factory.mktemp("var"),
        _env_file=None,
    )
    return make_app(settings)


def service_function(dotted: str) -> Callable[..., Any]:
    module, name = dotted.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def calls(function: Callable[..., Any], target: Callable[..., Any]) -> bool:
    """Whether `function`'s own code calls `target` (by name or as an attribute of its module),
    resolved through the globals of the module that defines `function`."""
    function = inspect.unwrap(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    names = function.__globals__
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and names.get(f.id) is target:
            return True
        if (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and isinstance(names.get(f.value.id), types.ModuleType)
            and getattr(names[f.value.id], f.attr, None) is target
        ):
            return True
    return False


def callbacks_of(server: Flask) -> Iterator[Callable[..., Any]]:
    for entry in server.extensions["dash"].callback_map.values():
        if entry.get("callback") is not None:
            yield inspect.unwrap(entry["callback"])


def callback_named(server: Flask, dotted: str) -> Callable[..., Any]:
    module, name = dotted.rsplit(".", 1)
    found = [f for f in callbacks_of(server) if f.__module__ == module and f.__name__ == name]
    assert len(found) == 1, f"{dotted}: {len(found)} registered callbacks by that name"
    return found[0]


def route(server: Flask, text: str) -> Callable[..., Any]:
    method, path = text.split(" ", 1)
    rule_text = re.sub(r"\{(\w+)\}", r"<\1>", path)
    found = [r for r in server.url_map.iter_rules() if r.rule == rule_text and method in r.methods]
    assert len(found) == 1, f"{text}: {len(found)} routes"
    return server.view_functions[found[0].endpoint]


def test_the_table_lists_the_actions() -> None:
    assert len(ROWS) >= 10 and all(r["service function"].startswith("services.") for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r["action"] for r in ROWS])
def test_each_listed_callback_and_route_calls_its_service(server: Flask, row: dict) -> None:
    target = service_function(row["service function"])
    for dotted in filter(None, (c.strip() for c in row["callbacks"].split(","))):
        if dotted != "—":
            assert calls(callback_named(server, dotted), target), f"{dotted} -> {target}"
    if row["API route"] != "—":
        view = route(server, row["API route"])
        assert calls(view, target), f"{row['API route']} -> {target}"


def _reaches_the_store(function: Callable[..., Any]) -> list[str]:
    return [
        name
        for name, value in function.__globals__.items()
        if isinstance(value, types.ModuleType)
        and (value.__name__.split(".")[0] in {"store", "redis"})
    ]


def test_no_callback_or_route_reaches_the_store_itself(server: Flask) -> None:
    functions = [*callbacks_of(server), *server.view_functions.values()]
    ours = [
        inspect.unwrap(f)
        for f in functions
        if inspect.unwrap(f).__module__.split(".")[0] in {"dashboard", "callbacks", "layouts"}
        and inspect.unwrap(f).__module__ not in READS_REDIS_ITSELF
    ]
    assert len(ours) > 30
    bad = {f"{f.__module__}.{f.__name__}": _reaches_the_store(f) for f in ours}
    assert not {k: v for k, v in bad.items() if v}


def test_every_api_route_is_documented_and_every_documented_one_exists(server: Flask) -> None:
    served = {
        (m.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule))
        for r in server.url_map.iter_rules()
        if r.rule.startswith("/api/")
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(m, p) for p, ops in SPEC["paths"].items() for m in ops if m != "parameters"}
    assert served == documented
