"""Data-quality gates on assets defined elsewhere, declared in ``defs.yaml``.

``GXGateComponent`` and ``DriftGateComponent`` only add asset checks (``build_gx_checks`` and
``build_drift_check``) to an asset that another component or a Python module defines, the way Dagster's own
``MetadataChecksComponent`` adds checks by asset key: the asset's code stays as it is, the gate is one file
a reviewer reads. Everything the builders validate (an unknown expectation type, a suite file that does not
parse, a drift share out of range) fails when the definitions load, naming the ``defs.yaml`` field.

great_expectations, evidently and pandas are imported by the builders, i.e. when ``build_defs`` runs, never
by importing this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import dagster as dg
from dagster.components import Component, ComponentLoadContext, Model, Resolvable, scaffold_with
from pydantic import Field

from reliability_assets.components._scaffold import TemplateScaffolder


def _asset_key(asset: str) -> dg.AssetKey:
    """``schema/table`` is a two-part key, as in Dagster's own YAML (``ResolvedAssetKey``)."""
    return dg.AssetKey.from_user_string(asset)


def _relative_to(context: ComponentLoadContext, value: str) -> Path:
    """A file named in ``defs.yaml`` is relative to that file's folder, wherever the process runs."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else context.path / path


class GXExpectation(Model):
    """One expectation of a suite, as GX 1.x names it (``suite.to_json_dict()`` entries load too)."""

    expectation: str = Field(description="GX 1.x snake_case type, e.g. expect_column_values_to_not_be_null.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="The expectation's arguments.")
    severity: Literal["critical", "warning", "info"] = Field(
        default="critical",
        description="critical: ERROR check (blocking); warning: <name>_warnings, WARN; info: <name>_info.",
    )
    meta: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    notes: str | list[str] | None = None


class _GXGateScaffolder(TemplateScaffolder):
    template = """\
  # The asset to gate (an existing asset key; "schema/table" for a multi-part key).
  asset: {asset}
  # The check name: critical expectations -> <name> (ERROR), warning -> <name>_warnings, info -> <name>_info.
  name: gx_suite
  # Critical failures stop downstream assets in the same run.
  blocking: true
  # A YAML/JSON file next to this defs.yaml, or the list inline:
  #   suite:
  #     - expectation: expect_column_values_to_not_be_null
  #       kwargs: {column: id}
  suite: suite.yaml
"""
    attributes = {"asset": "{asset}", "name": "gx_suite", "blocking": True, "suite": "suite.yaml"}  # noqa: RUF012

    def write_extra_files(self, target: Path, asset: str) -> None:
        suite = target / "suite.yaml"
        if not suite.exists():
            suite.write_text(
                "# Great Expectations 1.x expectations; severity: critical (default), warning or info.\n"
                "expectations:\n"
                "  - expectation: expect_table_row_count_to_be_between\n"
                "    kwargs: {min_value: 1}\n"
                "  - expectation: expect_column_values_to_not_be_null\n"
                "    kwargs: {column: id}\n"
                "    severity: warning\n",
                encoding="utf-8",
            )


@scaffold_with(_GXGateScaffolder)
class GXGateComponent(Component, Resolvable, Model):
    """A Great Expectations suite as asset checks on an existing asset (``build_gx_checks``).

    One step loads the asset once and validates every expectation; the checks are ``<name>`` (critical,
    ERROR, blocking unless ``blocking: false``), ``<name>_warnings`` (WARN) and ``<name>_info``.
    """

    asset: str = Field(description='The asset to gate: its key, "schema/table" for a multi-part key.')
    suite: list[GXExpectation] | str = Field(
        description="The expectations inline, or a .yaml/.yml/.json suite file relative to this defs.yaml."
    )
    name: str = Field(default="gx_suite", description="Check name (and prefix of the _warnings/_info ones).")
    blocking: bool = Field(default=True, description="Critical failures stop downstream assets in the run.")
    result_format: Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"] = Field(
        default="SUMMARY", description="How much GX reports per failed expectation."
    )
    failure_mode: str | None = Field(
        default=None, description="What a failure is, in a person's terms (incident reviews)."
    )

    def build_defs(self, context: ComponentLoadContext) -> dg.Definitions:
        from reliability_assets import build_gx_checks

        suite: Any = (
            _relative_to(context, self.suite)
            if isinstance(self.suite, str)
            else [e.model_dump(exclude_none=True) for e in self.suite]
        )
        checks = build_gx_checks(
            _asset_key(self.asset),
            suite,
            name=self.name,
            blocking=self.blocking,
            result_format=self.result_format,
            failure_mode=self.failure_mode,
        )
        return dg.Definitions(asset_checks=[checks])


class DriftOverride(Model):
    """A column's own drift test: Evidently's stattest name and/or its threshold."""

    method: str | None = Field(default=None, description="e.g. psi, wasserstein, jensenshannon, chisquare.")
    threshold: float | None = None


class _DriftGateScaffolder(TemplateScaffolder):
    template = """\
  # The asset to watch (an existing asset key returning a DataFrame).
  asset: {asset}
  name: drift
  # The columns to compare (omit: every column); categorical ones are compared as categories.
  # columns: [amount, country]
  # categorical: [country]
  # Fails when this share of the compared columns drifts (Evidently's dataset drift).
  drift_share: 0.5
  # ERROR or WARN (Dagster's check severities); blocking: a drift failure stops downstream assets in the run.
  severity: ERROR
  blocking: false
  # Compared with the last materialization whose checks all passed, or always with a pinned file:
  # reference: baseline
  # baseline: baseline.parquet
"""
    attributes = {"asset": "{asset}", "name": "drift", "drift_share": 0.5}  # noqa: RUF012


@scaffold_with(_DriftGateScaffolder)
class DriftGateComponent(Component, Resolvable, Model):
    """An Evidently drift check on an existing asset (``build_drift_check``).

    The check reads and writes its references in the reliability store: the Definitions it is loaded into
    need the ``reliability`` resource (``reliability_definitions`` provides it).
    """

    asset: str = Field(description='The asset to watch: its key, "schema/table" for a multi-part key.')
    name: str = Field(default="drift", description="The check's name.")
    columns: list[str] | None = Field(default=None, description="Columns to compare; omitted: every column.")
    categorical: list[str] = Field(default_factory=list, description="Columns compared as categories.")
    overrides: dict[str, DriftOverride] | None = Field(
        default=None, description="Per column: {method, threshold} (Evidently's stattest names)."
    )
    reference: Literal["last_passing", "baseline"] = Field(
        default="last_passing",
        description="last_passing: the last materialization whose checks passed (the baseline until one "
        "exists); baseline: always the pinned baseline file.",
    )
    baseline: str | None = Field(
        default=None, description="A Parquet or CSV file relative to this defs.yaml: the pinned reference."
    )
    drift_share: float = Field(default=0.5, description="Fails when this share of columns drifts, in (0, 1].")
    severity: Literal["ERROR", "WARN"] = Field(
        default="ERROR", description="Dagster's check severity when drift is found (bad data: ERROR)."
    )
    blocking: bool = Field(default=False, description="A failure stops downstream assets in the same run.")
    failure_mode: str | None = Field(
        default=None, description="What a failure is, in a person's terms (incident reviews)."
    )
    sample_size: int | None = Field(
        default=None, description="Rows compared per side (above 1,000); omitted: the framework's default."
    )
    compare_all_rows: bool = Field(default=False, description="Compare every row (no sampling).")
    seed: int = 0

    def build_defs(self, context: ComponentLoadContext) -> dg.Definitions:
        from reliability_assets import build_drift_check

        options: dict[str, Any] = {}
        if self.compare_all_rows:
            options["sample_size"] = None
        elif self.sample_size is not None:
            options["sample_size"] = self.sample_size
        if self.baseline is not None:
            options["baseline"] = _relative_to(context, self.baseline)
        check = build_drift_check(
            _asset_key(self.asset),
            name=self.name,
            columns=self.columns,
            categorical=self.categorical,
            overrides={c: o.model_dump(exclude_none=True) for c, o in (self.overrides or {}).items()},
            reference=self.reference,
            drift_share=self.drift_share,
            severity=self.severity,
            blocking=self.blocking,
            seed=self.seed,
            failure_mode=self.failure_mode,
            **options,
        )
        return dg.Definitions(asset_checks=[check])
