"""Baseline: the reliability store's tables as ``create_all`` made them before migrations existed.

Frozen here (not imported from the modules that define the tables today), so later changes to those
modules need their own revision. A store created by ``create_all`` (no version table) is adopted, not
re-created: its tables are kept with their rows, missing tables and indexes are added, and a table
lacking a baseline column stops the upgrade with the table and columns named.

Tables, by the module that defines them: resources.store (breaker_state, rate_buckets, response_cache,
dead_letters, quarantine), resources.resilience.history (endpoint_history), reliability_assets.registry
(model_versions, model_champions, model_champion_moves), reliability_assets.remediation_plans
(remediation_plans), reliability_assets.incidents (incidents, incident_heads, incident_evaluations,
incident_reviews), reliability_assets.kept_frames (kept_frames), reliability_assets.alerts (alert_inbox,
alert_cooldowns, alert_deliveries).

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.schema import CreateIndex, CreateTable

revision = "0001_baseline"
down_revision: str | None = None
branch_labels = None
depends_on = None

baseline = sa.MetaData()
C = sa.Column
S, T, F, N, J, B = sa.String, sa.Text, sa.Float, sa.Integer, sa.JSON, sa.LargeBinary


def _table(name: str, *items: sa.schema.SchemaItem) -> sa.Table:
    return sa.Table(name, baseline, *items)


_table(
    "breaker_state",
    C("name", S(200), primary_key=True),
    C("state", S(16), nullable=False),
    C("window", J, nullable=False),
    C("open_until", F, nullable=False),
    C("open_reason", T, nullable=False),
    C("half_open_in_flight", N, nullable=False),
    C("half_open_successes", N, nullable=False),
    C("transitions", N, nullable=False),
    C("updated_at", F, nullable=False),
)
_table(
    "rate_buckets",
    C("name", S(200), primary_key=True),
    C("tokens", F, nullable=False),
    C("updated_at", F, nullable=False),
    C("blocked_until", F, nullable=False),
)
_table(
    "response_cache",
    C("key", S(128), primary_key=True),
    C("tier", S(200), nullable=False),
    C("response", J, nullable=False),
    C("created_at", F, nullable=False),
)
_table(
    "dead_letters",
    C("key", S(128), primary_key=True),
    C("source", S(200), nullable=False),
    C("reason", T, nullable=False),
    C("request", J, nullable=False),
    C("attempts", J, nullable=False),
    C("status", S(16), nullable=False),
    C("note", T, nullable=False),
    C("created_at", F, nullable=False),
    C("updated_at", F, nullable=False),
)
_table(
    "quarantine",
    C("key", S(128), primary_key=True),
    C("source", S(200), nullable=False),
    C("reason", T, nullable=False),
    C("payload", J, nullable=False),
    C("created_at", F, nullable=False),
)
_table(
    "endpoint_history",
    C("name", S(300), primary_key=True),
    C("latencies", J, nullable=False),
    C("retries", J, nullable=False),
    C("updated_at", F, nullable=False),
)
_table(
    "model_versions",
    C("id", N, primary_key=True, autoincrement=True),
    C("name", S(200), nullable=False),
    C("version", S(200), nullable=False),
    C("status", S(16), nullable=False),
    C("metrics", J, nullable=False),
    C("data_version", S(200)),
    C("run_id", S(200)),
    C("created_at", F, nullable=False),
    C("checks_detail", T, nullable=False),
    C("checks_run_id", S(200)),
    C("checks_at", F),
    C("artifact_sha256", S(64), nullable=False),
    C("artifact", B, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
)
_table(
    "model_champions",
    C("name", S(200), primary_key=True),
    C("version", S(200)),
    C("moves", N, nullable=False),
    C("updated_at", F, nullable=False),
)
_table(
    "model_champion_moves",
    C("id", N, primary_key=True, autoincrement=True),
    C("name", S(200), nullable=False),
    C("seq", N, nullable=False),
    C("at", F, nullable=False),
    C("from_version", S(200)),
    C("to_version", S(200), nullable=False),
    C("kind", S(16), nullable=False),
    C("reason", T, nullable=False),
    C("run_id", S(200)),
    sa.UniqueConstraint("name", "seq", name="uq_model_champion_moves_name_seq"),
)
_table(
    "remediation_plans",
    C("key", S(300), primary_key=True),
    C("trigger_run_id", S(64), nullable=False),
    C("action", S(16), nullable=False),
    C("job", S(200), nullable=False),
    C("assets", J, nullable=False),
    C("checks", J, nullable=False),
    C("incident_ids", J, nullable=False),
    C("target", S(200)),
    C("run_id", S(64)),
    C("status", S(16), nullable=False),
    C("note", T, nullable=False),
    C("created_at", F, nullable=False),
    C("updated_at", F, nullable=False),
    sa.Index("ix_remediation_plans_status", "status"),
    sa.Index("ix_remediation_plans_trigger_run_id", "trigger_run_id"),
)
_table(
    "incidents",
    C("id", S(16), primary_key=True),
    C("asset", S(400), nullable=False),
    C("check_name", S(400), nullable=False),
    C("severity", S(16), nullable=False),
    C("status", S(16), nullable=False),
    C("opened_at", F, nullable=False),
    C("last_failed_at", F, nullable=False),
    C("created_at", F, nullable=False),
    C("detected_at", F),
    C("mitigated_at", F),
    C("resolved_at", F),
    C("resolved_by", S(16)),
    C("occurrences", N, nullable=False),
    C("first_run_id", S(200), nullable=False),
    C("last_run_id", S(200), nullable=False),
    C("triage_tier", S(200), nullable=False),
    C("description", T, nullable=False),
    C("evidence", T, nullable=False),
    C("triage", T, nullable=False),
    C("actions", J, nullable=False),
    sa.Index("ix_incidents_asset_check_status", "asset", "check_name", "status"),
    sa.Index("ix_incidents_opened_at", "opened_at"),
)
_table(
    "incident_heads",
    C("key", S(610), primary_key=True),
    C("incident_id", S(16)),
)
_table(
    "incident_evaluations",
    C("key", S(64), primary_key=True),
    C("incident_id", S(200), nullable=False),
    C("evaluation_id", S(200), nullable=False),
    C("run_id", S(200), nullable=False),
    C("failed_at", F, nullable=False),
)
_table(
    "incident_reviews",
    C("incident_id", S(16), primary_key=True),
    C("failure_mode", T, nullable=False),
    C("root_cause", T, nullable=False),
    C("remediation", T, nullable=False),
    C("author", T, nullable=False),
    C("derived", J, nullable=False),
    C("updated_at", F, nullable=False),
)
_table(
    "kept_frames",
    C("key", S(400), primary_key=True),
    C("asset", S(200), nullable=False),
    C("purpose", S(200), nullable=False),
    C("run_id", S(64), nullable=False),
    C("state", S(16), nullable=False),
    C("rows", N, nullable=False),
    C("source_rows", N, nullable=False),
    C("frame", B, nullable=False),
    C("note", T, nullable=False),
    C("created_at", F, nullable=False),
    C("updated_at", F, nullable=False),
    sa.Index("ix_kept_frames_asset", "asset"),
)
_table(
    "alert_inbox",
    C("seq", N, primary_key=True, autoincrement=True),
    C("id", S(32), nullable=False, unique=True),
    C("asset", S(400), nullable=False),
    C("check_name", S(200), nullable=False),
    C("severity", S(8), nullable=False),
    C("title", T, nullable=False),
    C("body", T, nullable=False),
    C("run_id", S(200)),
    C("run_url", T),
    C("incident_id", S(200)),
    C("meta", J, nullable=False),
    C("status", S(16), nullable=False),
    C("repeats", N, nullable=False),
    C("suppressed_by", S(32)),
    C("created_at", F, nullable=False),
    sa.Index("ix_alert_inbox_asset_seq", "asset", "seq"),
)
_table(
    "alert_cooldowns",
    C("key", S(64), primary_key=True),
    C("alert_id", S(32)),
    C("severity", S(8), nullable=False),
    C("sent_at", F, nullable=False),
    C("repeats", N, nullable=False),
)
_table(
    "alert_deliveries",
    C("id", N, primary_key=True, autoincrement=True),
    C("alert_id", S(32), nullable=False),
    C("channel", S(64), nullable=False),
    C("status", S(16), nullable=False),
    C("attempts", N, nullable=False),
    C("last_error", T, nullable=False),
    C("next_attempt_at", F, nullable=False),
    C("updated_at", F, nullable=False),
    sa.UniqueConstraint("alert_id", "channel", name="uq_alert_deliveries_alert_channel"),
    sa.Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
)


def upgrade() -> None:
    inspector = None if context.is_offline_mode() else sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names()) if inspector else set()
    for table in baseline.sorted_tables:
        if table.name not in existing:
            op.execute(CreateTable(table))
            for index in table.indexes:
                op.execute(CreateIndex(index))
            continue
        assert inspector is not None
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column.name for column in table.columns if column.name not in columns]
        if missing:
            raise RuntimeError(
                f"the existing table {table.name} lacks the columns {', '.join(missing)} of the baseline "
                "schema (it was created by an older version). Fix: copy out the rows you need and drop the "
                f"table, then open the store again to re-create it."
            )
        indexes = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                op.execute(CreateIndex(index))


def downgrade() -> None:
    for table in reversed(baseline.sorted_tables):
        op.drop_table(table.name)
