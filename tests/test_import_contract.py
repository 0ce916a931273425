"""The import contracts in pyproject ([tool.importlinter], run by `make lint`) hold today and catch a new
forbidden route: a copy of the package with one forbidden import added breaks its contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
#: resources/ and sensors/ are inside through symlinks; the copy follows them (real directories).
PACKAGES = ("reliability_assets",)

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is in the dev extra")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_packages(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_contracts_hold_on_the_repository() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        (
            "reliability_assets/resources/paths.py",
            "reliability_assets.sensors.views",
            "reference above sensors above resources",
        ),
        (
            "reliability_assets/resources/paths.py",
            "reliability_assets.alerts",
            "resources import no framework module",
        ),
        (
            "reliability_assets/sensors/views.py",
            "reliability_assets.reference.definitions",
            "framework modules do not import the reference pipeline",
        ),
        (
            "reliability_assets/alerts.py",
            "reliability_assets.reference.settings",
            "framework modules do not import the reference pipeline",
        ),
        (
            "reliability_assets/reference/analytics/kpis.py",
            "reliability_assets.incidents",
            "the reference pipeline uses the public API only",
        ),
    ],
)
def test_a_new_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    copy = _copy_packages(tmp_path)
    target = copy / module
    target.write_text(target.read_text() + f"\nimport {forbidden}  # noqa\n")
    result = _lint_imports(copy)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout
