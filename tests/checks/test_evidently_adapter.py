"""The Evidently adapter pinned to Evidently's own preset, and the package's imports of its dependencies
held to their public APIs (``evidently.legacy`` only in the adapter)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reliability_assets.checks import evidently_adapter
from reliability_assets.checks.evidently_adapter import Kind

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = Path(evidently_adapter.__file__).resolve()
PACKAGE_DIRS = [
    ROOT / name for name in ("reliability_assets", "resources", "sensors") if (ROOT / name).is_dir()
]


def columns(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Kind]]:
    """A reference and a (slightly shifted) current frame of ``n`` rows: a continuous number, a number
    with 2 and with 4 values, a binary and a 6-value category."""
    rng = np.random.default_rng(seed)

    def draw(shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "num_continuous": rng.normal(4 * shift, 1.0, n),
                "num_two_values": rng.choice([0, 1], n, p=[0.5 - shift, 0.5 + shift]),
                "num_four_values": rng.choice([1, 2, 3, 4], n),
                "cat_binary": rng.choice(["yes", "no"], n, p=[0.5 + shift, 0.5 - shift]),
                "cat_six_values": rng.choice(list("abcdef"), n),
            }
        )

    kinds: dict[str, Kind] = {
        "num_continuous": "numerical",
        "num_two_values": "numerical",
        "num_four_values": "numerical",
        "cat_binary": "categorical",
        "cat_six_values": "categorical",
    }
    return draw(0.0), draw(0.08), kinds


def report_columns(
    current: pd.DataFrame, reference: pd.DataFrame, kinds: dict[str, Kind], metrics: list[Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Per column, what a public ``Report`` (the ``DataDriftPreset`` unless ``metrics`` are given) says:
    its method as the config shows it (the display name when Evidently chose it, else the name given),
    threshold, score, verdict and the test's description."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c, k in kinds.items() if k == "numerical"],
        categorical_columns=[c for c, k in kinds.items() if k == "categorical"],
    )
    snapshot = Report(metrics or [DataDriftPreset()], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    data = snapshot.dict()
    by_id = {m["id"]: m for m in data["metrics"]}
    seen: dict[str, dict[str, Any]] = {}
    for test in data["tests"]:
        metric = by_id[test["metric_config"]["metric_id"]]
        config = metric["config"]
        if "column" in config:
            seen[config["column"]] = {
                "display_name": config["method"],
                "threshold": config["threshold"],
                "score": metric["value"],
                "drifted": test["status"] == "FAIL",
                "description": test["description"],
            }
    return seen


# Evidently's rule (reference <= 1,000 values: K-S, or chi-square / Z for <= 5 values; more: normed
# Wasserstein, or Jensen-Shannon for <= 5 values and for categories), written down so a change shows here.
EXPECTED = {
    500: {
        "num_continuous": "ks",
        "num_two_values": "z",
        "num_four_values": "chisquare",
        "cat_binary": "z",
        "cat_six_values": "chisquare",
    },
    3000: {
        "num_continuous": "wasserstein",
        "num_two_values": "jensenshannon",
        "num_four_values": "jensenshannon",
        "cat_binary": "jensenshannon",
        "cat_six_values": "jensenshannon",
    },
}


@pytest.mark.parametrize("n", sorted(EXPECTED))
def test_default_methods_thresholds_and_scores_are_the_presets(n: int) -> None:
    reference, current, kinds = columns(n, seed=n)
    preset = report_columns(current, reference, kinds)
    assert set(preset) == set(kinds)
    for column, kind in kinds.items():
        chosen = evidently_adapter.default_method(reference[column], current[column], kind)
        assert chosen.name == EXPECTED[n][column], column
        assert (chosen.display_name, chosen.threshold) == (
            preset[column]["display_name"],
            preset[column]["threshold"],
        ), column
        outcome = evidently_adapter.run_test(reference[column], current[column], kind)
        assert outcome.score == pytest.approx(preset[column]["score"], rel=1e-9, abs=1e-12), column
        assert (outcome.threshold, outcome.drifted) == (chosen.threshold, preset[column]["drifted"]), column
    # the shift is large enough that at least one column drifts and small enough that not all do
    assert 0 < sum(c["drifted"] for c in preset.values()) < len(kinds)


def test_a_named_method_and_threshold_are_what_value_drift_reports() -> None:
    from evidently.metrics import ValueDrift

    reference, current, kinds = columns(3000, seed=7)
    picks = {
        "num_continuous": ("ks", None),
        "cat_six_values": ("psi", 0.2),
        "cat_binary": ("chisquare", 0.01),
    }
    report = report_columns(
        current,
        reference,
        kinds,
        [ValueDrift(column=c, method=m, threshold=t) for c, (m, t) in picks.items()],
    )
    for column, (name, threshold) in picks.items():
        kind = kinds[column]
        named = evidently_adapter.method(name, kind)
        assert report[column]["display_name"] == named.name == name
        assert f"The drift detection method is {named.display_name}." in report[column]["description"]
        outcome = evidently_adapter.run_test(reference[column], current[column], kind, name, threshold)
        expected_threshold = named.threshold if threshold is None else threshold
        assert outcome.threshold == report[column]["threshold"] == expected_threshold
        assert outcome.score == pytest.approx(report[column]["score"], rel=1e-9, abs=1e-12)
        assert outcome.drifted == report[column]["drifted"]
    with pytest.raises(ValueError, match="no_such_method"):
        evidently_adapter.method("no_such_method", "numerical")
    with pytest.raises(ValueError):  # a numbers-only method asked for a category
        evidently_adapter.method("wasserstein", "categorical")


def test_the_evidently_pin_goes_with_the_adapter() -> None:
    pins = re.findall(r'"evidently==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pins == [evidently_adapter.PINNED_VERSION]
    assert evidently_adapter.version() == evidently_adapter.PINNED_VERSION


# -- imports of dependencies: public APIs only --------------------------------------------------------


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module (and ``from`` name) a file imports, dotted, with its line; string arguments of
    ``importlib.import_module``/``__import__`` count too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"})
            )
        ):
            yield node.lineno, node.args[0].value


def offences(source: str, *, legacy_allowed: bool) -> list[str]:
    found = []
    for line, module in imported_modules(ast.parse(source)):
        parts = module.split(".")
        if parts[0] not in {"openai", "evidently", "tenacity"}:
            continue
        if parts[:2] == ["evidently", "legacy"] and not legacy_allowed:
            found.append(f"{line}: {module} (evidently.legacy outside the adapter)")
        elif any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts):
            found.append(f"{line}: {module} (a private module or name)")
        elif parts[:2] == ["tenacity", "RetryCallState"]:
            found.append(f"{line}: {module} (tenacity's call state is built by Retrying, not by us)")
    return found


def package_files() -> list[Path]:
    return sorted(p.resolve() for d in PACKAGE_DIRS for p in d.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_scan_catches_what_it_forbids() -> None:
    bad = """
from openai.lib._parsing._completions import type_to_response_format_param
from evidently.legacy.core import ColumnType
from evidently import legacy
import importlib
importlib.import_module("evidently.legacy.calculations.stattests.registry")
def f():
    from tenacity import RetryCallState
"""
    assert [o.split(" ")[0] for o in offences(bad, legacy_allowed=False)] == [
        "2:", "3:", "4:", "6:", "8:",
    ]  # fmt: skip
    good = "from openai.lib import type_to_response_format_param\nfrom evidently import __version__\n"
    assert offences(good, legacy_allowed=False) == []
    adapter_imports = {m for _, m in imported_modules(ast.parse(ADAPTER.read_text()))}
    assert any(m.startswith("evidently.legacy.") for m in adapter_imports)  # the scan sees the real one
    assert ADAPTER in package_files()


def test_only_the_adapter_imports_evidently_legacy_and_no_private_dependency_api_is_used() -> None:
    problems = {
        str(path.relative_to(ROOT)): found
        for path in package_files()
        if (found := offences(path.read_text(), legacy_allowed=path == ADAPTER))
    }
    assert problems == {}
