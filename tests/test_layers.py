"""The layering rule (pyproject.toml's import-linter contracts, docs/architecture.md) holds, and
the check really fails when a lower layer imports a higher one or a page reaches past services."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # the analysed packages are the ones under `root` (first on the path), not the installed ones
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_are_kept() -> None:
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "BROKEN" not in out.stdout and "KEPT" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("store/keys.py", "import ingest.worker", "Layers"),
        ("domain/geo.py", "from services import context", "Layers"),
        ("callbacks/map.py", "from store import keys", "Pages and API never touch Redis"),
        ("dashboard/api.py", "import redis", "Pages and API never touch Redis"),
    ],
)
def test_a_forbidden_import_breaks_the_check(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0  # the copy is as good as the original
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # a violation\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0
    broken = out.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and module.replace("/", ".").removesuffix(".py") in broken
