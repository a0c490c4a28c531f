"""Callbacks stay small: module-level functions of at most 60 lines and at most 8 outputs, so
each reads on one screen and can be tested on its own (issue 11's bar, kept by this test)."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest
from dash import Output

from tests.helpers import ROOT

MAX_LINES, MAX_OUTPUTS = 60, 8
MODULES = sorted(p.stem for p in (ROOT / "callbacks").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_no_function_in_callbacks_is_longer_than_60_lines(module: str) -> None:
    tree = ast.parse((ROOT / "callbacks" / f"{module}.py").read_text(encoding="utf-8"))
    long = {
        node.name: node.end_lineno - node.lineno + 1  # type: ignore[operator]
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_LINES  # type: ignore[operator]
    }
    assert not long, long


@pytest.mark.parametrize("module", MODULES)
def test_every_callback_is_module_level_with_at_most_8_outputs(module: str) -> None:
    mod = importlib.import_module(f"callbacks.{module}")
    marked = [
        f for _, f in inspect.getmembers(mod, inspect.isfunction) if hasattr(f, "dash_wiring")
    ]
    assert marked or module == "shell"
    for f in marked:
        outputs = [a for a in f.dash_wiring.args if isinstance(a, Output)]
        outputs += [o for a in f.dash_wiring.args if isinstance(a, list) for o in a]
        assert 1 <= len(outputs) <= MAX_OUTPUTS, (f.__name__, len(outputs))
        assert f.__qualname__ == f.__name__  # not a closure inside register()


def test_register_only_wires() -> None:
    for module in MODULES:
        tree = ast.parse((ROOT / "callbacks" / f"{module}.py").read_text(encoding="utf-8"))
        (register,) = [
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "register"
        ]
        nested = [
            n for n in ast.walk(register) if isinstance(n, ast.FunctionDef) and n is not register
        ]
        assert not nested, (module, [n.name for n in nested])
