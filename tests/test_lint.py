"""ruff, as configured in pyproject.toml (lint rules with a complexity limit of 12, and the
formatter), finds nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.parametrize(
    "command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"]
)
def test_ruff_is_clean(command: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_complexity_limit_is_on() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-settings", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert "max_complexity = 12" in out.stdout.replace("linter.mccabe.", "")
    assert "C901" in out.stdout or "complex-structure" in out.stdout
