"""The one place that uses ``evidently.legacy``: Evidently's choice of a column's drift method, and one
drift test run on its own.

Why legacy. ``drift_eval`` picks each column's method on *every* row, then compares a sample, and
recomputes a column near its threshold on every row. Evidently 0.7.23's public API (``evidently``,
``evidently.metrics``, ``evidently.presets``) offers both only as a side effect of running a ``Report``
with ``ValueDrift(method=None)``: the whole drift with its histograms (~1.5 s a column at 1M rows instead
of ~0.2 s, and the cost the sampling exists to avoid). ``ValueDrift`` itself calls the legacy stattest
registry (``evidently/metrics/column_statistics.py``), and no public module re-exports it. The column types
come from the public ``evidently.ColumnType`` (the same enum the legacy code takes).

The pin. ``pyproject.toml`` pins ``evidently==0.7.23`` (``PINNED_VERSION``) with this module:
tests/test_evidently_adapter.py checks, against Evidently's own ``DataDriftPreset`` run through the public
``Report`` API, that the methods and thresholds chosen here are the preset's, and that a test run here
scores as the preset does. An upgrade that moves the registry, renames a method or changes a default
fails there, and only this module changes with it. No other module may import ``evidently.legacy`` (the
same test scans the package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

#: The Evidently release this adapter is written and tested against (pyproject pins the same).
PINNED_VERSION = "0.7.23"

Kind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class Method:
    """A drift method as Evidently names it: ``name`` is what ``ValueDrift(method=...)`` takes,
    ``display_name`` what its reports show (e.g. "K-S p_value"), ``threshold`` its default."""

    name: str
    display_name: str
    threshold: float


@dataclass(frozen=True)
class TestOutcome:
    """One drift test's result: its score (a p-value or a distance, by method), the threshold it was
    judged against, and Evidently's verdict."""

    __test__ = False  # not a pytest class

    score: float
    threshold: float
    drifted: bool


def _column_type(kind: Kind) -> Any:
    from evidently import ColumnType

    return {"numerical": ColumnType.Numerical, "categorical": ColumnType.Categorical}[kind]


def _method(stattest: Any) -> Method:
    return Method(stattest.name, stattest.display_name, float(stattest.default_threshold))


def default_method(reference: pd.Series, current: pd.Series, kind: Kind) -> Method:
    """The method Evidently's drift preset picks for a column of these (missing-free) values: it reads
    the reference's size and the number of distinct values in both."""
    from evidently.legacy.calculations.stattests.registry import get_stattest

    return _method(get_stattest(reference, current, _column_type(kind), None))


def method(name: str, kind: Kind) -> Method:
    """A registered method by name; ``ValueError`` when Evidently has none of that name for ``kind``."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest

    return _method(get_registered_stattest(name, _column_type(kind)))


def run_test(
    reference: pd.Series,
    current: pd.Series,
    kind: Kind,
    name: str | None = None,
    threshold: float | None = None,
) -> TestOutcome:
    """Run method ``name`` on (missing-free) values, as ``ValueDrift``'s own test does, without rendering
    a report. ``name=None``: the method Evidently picks for these values (by name, Evidently finds only a
    method registered for ``kind``; its default for a number with few values is registered for
    categories); ``threshold=None``: the method's default."""
    from evidently.legacy.calculations.stattests.registry import get_stattest

    column_type = _column_type(kind)
    outcome = get_stattest(reference, current, column_type, name)(reference, current, column_type, threshold)
    return TestOutcome(float(outcome.drift_score), float(outcome.actual_threshold), bool(outcome.drifted))


def version() -> str:
    """The installed Evidently's version (reported with every drift result)."""
    from evidently import __version__

    return str(__version__)
