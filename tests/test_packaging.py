"""The wheel a user installs: one namespace (no bare ``resources`` or ``sensors``), the public API, and the
reference code location loading from the installed files (its Components' YAML and dg.toml included)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("reliability_assets-*.whl")
    return path


def test_the_wheel_installs_one_namespace_with_its_data_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"reliability_assets"}
    for expected in (
        "reliability_assets/resources/llm.py",
        "reliability_assets/resources/migrations/script.py.mako",
        "reliability_assets/sensors/check_failures.py",
        "reliability_assets/reference/dg.toml",
        "reliability_assets/reference/defs/churn_scores_gate/defs.yaml",
        "reliability_assets/deploy/dagster_postgres.yaml",
    ):
        assert expected in names, expected
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[dagster_dg_cli.registry_modules]" in text and "reliability_assets.components" in text


def test_from_the_installed_wheel_the_api_imports_and_no_bare_package_does(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    code = """
import importlib.util, reliability_assets as r
from reliability_assets import reliability_definitions, ResilientLLM, build_drift_check
assert r.__file__.startswith(TARGET), r.__file__
assert importlib.util.find_spec("resources") is None and importlib.util.find_spec("sensors") is None
from reliability_assets.reference.definitions import defs
checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key.path == ["churn_scores"]}
assert "gx_suite" in checks, checks  # the Component, loaded through the installed dg.toml
print(len(r.__all__))
""".replace("TARGET", repr(str(target)))
    # The wheel's files come first on the path; the dependencies from this venv; not run from the repository.
    env = {**os.environ, "PYTHONPATH": str(target), "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip()) >= 15
