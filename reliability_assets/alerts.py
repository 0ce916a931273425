"""Alerts for failed checks: one interface over Slack, Microsoft Teams, e-mail and webhooks (via apprise),
with a local inbox that is always on, so alerting works offline and nothing is lost when a channel is down.

Channels are apprise URLs in ``RELIABILITY_ALERT_{SLACK,TEAMS,EMAIL,WEBHOOK}_URL`` (each optional; a plain
``http(s)://`` URL on the webhook channel receives the alert as JSON). Every alert lands in ``alert_inbox``.
A repeat for the same (asset, check) within the cooldown is kept there as ``suppressed`` instead of being
sent again, unless its severity is higher (WARN -> ERROR). Each (alert, channel) is a row in
``alert_deliveries``: a failed send stays ``pending`` with a backoff and ``retry_pending()`` sends it again,
until ``max_attempts`` (then ``failed``). ``send()`` never raises because of a channel and waits at most
about ``timeout_s`` for all of them together (channels are notified in parallel). Delivery is at least
once: a receiver that got the message but answered too late gets it again on retry.

A *standing* entry (``standing()``) is a state, not an event: e.g. "no model configured". It is one inbox row
per (asset, check) while the state lasts, whatever the number of runs that show it, stays out of the
channels (nobody is paged for a configuration), and ``clear_standing()`` marks it ``cleared`` when it ends.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import select

from reliability_assets.alert_channels import (  # re-exported: alerts is the public module
    ENV_VARS,
    AlertConfigError,
    channels_from_env,
    plugin,
    validate_channels,
)
from reliability_assets.resources.redaction import redact, redacted_logger
from reliability_assets.resources.store import ReliabilityStore, ensure_tables, metadata

if TYPE_CHECKING:
    from apprise import Apprise

log = redacted_logger(__name__)
__all__ = ["ENV_VARS", "Alert", "AlertConfigError", "AlertOutcome", "AlertRouter", "validate_channels"]

_SEVERITY_RANK = {"WARN": 1, "ERROR": 2}
_NOTIFY_TYPES = {"WARN": "warning", "ERROR": "failure"}  # apprise's NotifyType values
alert_inbox = sa.Table(
    "alert_inbox",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # arrival order
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("asset", sa.String(400), nullable=False),
    sa.Column("check_name", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.Column("run_url", sa.Text),
    sa.Column("incident_id", sa.String(200)),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sent | suppressed | standing | cleared
    sa.Column("repeats", sa.Integer, nullable=False, default=0),  # sent: repeats so far; suppressed: its rank
    sa.Column("suppressed_by", sa.String(32)),  # the sent alert a suppressed one repeats
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_alert_inbox_asset_seq", "asset", "seq"),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=False, default=""),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("alert_id", "channel", name="uq_alert_deliveries_alert_channel"),
    sa.Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
)

alert_cooldowns = sa.Table(  # one row per (asset, check), locked while an alert is routed
    "alert_cooldowns",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # sha256 of asset and check
    sa.Column("alert_id", sa.String(32)),  # the last alert sent to the channels
    sa.Column("severity", sa.String(8), nullable=False, default=""),
    sa.Column("sent_at", sa.Float, nullable=False, default=0.0),
    sa.Column("repeats", sa.Integer, nullable=False, default=0),
)
_TABLES = (alert_inbox, alert_deliveries, alert_cooldowns)
_ALERT_COLUMNS = ("asset", "severity", "title", "body", "run_id", "run_url", "incident_id")


@dataclass(frozen=True)
class Alert:
    asset: str
    check: str
    severity: str  # "ERROR" | "WARN"
    title: str
    body: str  # markdown: per-column evidence etc.
    run_id: str | None = None
    run_url: str | None = None  # the run in the Dagster UI
    incident_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in _SEVERITY_RANK:
            raise ValueError(f"Alert severity must be 'ERROR' or 'WARN', got {self.severity!r}")


@dataclass(frozen=True)
class AlertOutcome:
    alert_id: str
    suppressed: bool
    channels: Mapping[str, str]  # channel -> "delivered" | "pending" | "failed"; empty when suppressed


@dataclass(frozen=True)
class InboxEntry:
    id: str
    alert: Alert
    status: str  # "sent" | "suppressed"
    repeats: int  # sent: how many repeats were suppressed since; suppressed: which repeat this is
    suppressed_by: str | None  # the sent alert a suppressed one repeats
    created_at: float


@dataclass(frozen=True)
class Delivery:
    alert_id: str
    channel: str
    status: str  # "pending" | "delivered" | "failed"
    attempts: int
    last_error: str
    next_attempt_at: float
    updated_at: float


class AlertRouter:
    """Routes alerts to the inbox and the configured channels. ``channels``: name -> apprise URL
    (None reads the environment). ``timeout_s`` bounds one send; ``backoff_s`` is the first retry delay
    (doubling after each failure)."""

    def __init__(
        self,
        store: ReliabilityStore | None = None,
        *,
        channels: Mapping[str, str] | None = None,
        cooldown_s: float = 3600.0,
        max_attempts: int = 5,
        timeout_s: float = 5.0,
        backoff_s: float = 60.0,
    ) -> None:
        if max_attempts < 1 or timeout_s <= 0 or cooldown_s < 0 or backoff_s < 0:
            raise ValueError("need max_attempts >= 1, timeout_s > 0, cooldown_s >= 0 and backoff_s >= 0")
        self.store = store or ReliabilityStore()
        ensure_tables(self.store, *_TABLES)
        self.cooldown_s, self.max_attempts = cooldown_s, max_attempts
        self.timeout_s, self.backoff_s = timeout_s, backoff_s
        from_env = channels is None
        urls = channels_from_env() if channels is None else dict(channels)
        self.channels: tuple[str, ...] = tuple(urls)
        self._apprise: Apprise | None = None
        if urls:
            import apprise  # 0.2 s with its plugins: only when a channel is configured

            asset = apprise.AppriseAsset(service_timeout=timeout_s)  # a hard cap per service
            self._apprise = apprise.Apprise(asset=asset)
            for name, url in urls.items():
                where = ENV_VARS[name] if from_env else f"alert channel {name!r}"
                self._apprise.add(plugin(name, url, asset, timeout_s, where))

    def send(self, alert: Alert, *, routes: Sequence[str] | None = None) -> AlertOutcome:
        """Record the alert and send it to ``routes`` (channel names; None = all configured). A route that
        is not configured is skipped (the alert is in the inbox)."""
        names = self._routes(routes)
        alert_id, now = uuid.uuid4().hex, time.time()
        key = hashlib.sha256(f"{alert.asset}\x00{alert.check}".encode()).hexdigest()
        row = {name: getattr(alert, name) for name in _ALERT_COLUMNS} | {"check_name": alert.check}
        row |= dict(id=alert_id, meta=dict(alert.metadata), status="sent", repeats=0, created_at=now)
        with self.store.transaction() as connection:
            defaults = {"alert_id": None, "severity": "", "sent_at": 0.0, "repeats": 0}
            last = self.store.locked_row(connection, alert_cooldowns, key, defaults)
            suppressed = (
                last["alert_id"] is not None
                and now - last["sent_at"] < self.cooldown_s
                and _SEVERITY_RANK[alert.severity] <= _SEVERITY_RANK.get(last["severity"], 0)
            )
            if suppressed:
                repeats = last["repeats"] + 1
                self.store.update_row(connection, alert_cooldowns, key, {"repeats": repeats})
                connection.execute(
                    alert_inbox.update().where(alert_inbox.c.id == last["alert_id"]).values(repeats=repeats)
                )
                row.update(status="suppressed", repeats=repeats, suppressed_by=last["alert_id"])
            else:
                values = {"alert_id": alert_id, "severity": alert.severity, "sent_at": now, "repeats": 0}
                self.store.update_row(connection, alert_cooldowns, key, values)
                if names:  # claimed for the send below: a concurrent retry_pending leaves them alone
                    pending = {"alert_id": alert_id, "status": "pending", "attempts": 0, "last_error": ""}
                    pending |= {"next_attempt_at": now + self._lease, "updated_at": now}
                    connection.execute(alert_deliveries.insert(), [{**pending, "channel": n} for n in names])
            connection.execute(alert_inbox.insert().values(row))
        if suppressed:
            log.info("alert %s on %s/%s suppressed (repeat %d)", alert_id, alert.asset, alert.check, repeats)
            return AlertOutcome(alert_id, True, {})
        statuses = self._record(alert_id, self._notify(row, names)) if names else {}
        return AlertOutcome(alert_id, False, statuses)

    def standing(self, alert: Alert) -> tuple[str, bool]:
        """Keep one standing inbox entry for ``alert``'s (asset, check): its id, and True when it was
        created now (False: it was already standing). Never sent to a channel."""
        where = (
            (alert_inbox.c.asset == alert.asset)
            & (alert_inbox.c.check_name == alert.check)
            & (alert_inbox.c.status == "standing")
        )
        row = {name: getattr(alert, name) for name in _ALERT_COLUMNS} | {"check_name": alert.check}
        with self.store.transaction() as connection:
            key = hashlib.sha256(f"{alert.asset}\x00{alert.check}\x00standing".encode()).hexdigest()
            defaults = {"alert_id": None, "severity": "", "sent_at": 0.0, "repeats": 0}
            self.store.locked_row(connection, alert_cooldowns, key, defaults)  # one writer per entry
            found = connection.execute(select(alert_inbox.c.id).where(where).limit(1)).scalar()
            if found is not None:
                return str(found), False
            alert_id = uuid.uuid4().hex
            row |= dict(id=alert_id, meta=dict(alert.metadata), status="standing", repeats=0)
            connection.execute(alert_inbox.insert().values(row | {"created_at": time.time()}))
        log.info("standing alert %s on %s/%s", alert_id, alert.asset, alert.check)
        return alert_id, True

    def clear_standing(self, *, asset: str, check: str) -> bool:
        """The standing state of (asset, check) ended: its entry becomes ``cleared``. True if one was."""
        where = (
            (alert_inbox.c.asset == asset)
            & (alert_inbox.c.check_name == check)
            & (alert_inbox.c.status == "standing")
        )
        with self.store.transaction() as connection:
            return bool(
                connection.execute(alert_inbox.update().where(where).values(status="cleared")).rowcount
            )

    def standing_entries(self) -> list[InboxEntry]:
        """Every entry still standing, newest first."""
        query = (
            select(alert_inbox).where(alert_inbox.c.status == "standing").order_by(alert_inbox.c.seq.desc())
        )
        with self.store.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [_entry(dict(r)) for r in rows]

    def version(self) -> tuple[int, int]:
        """Cheap fingerprint of the inbox: (newest seq, standing entries). Changes with every new alert and
        every standing entry raised or cleared."""
        newest = sa.func.coalesce(sa.func.max(alert_inbox.c.seq), 0)
        standing = sa.func.count().filter(alert_inbox.c.status == "standing")
        with self.store.engine.connect() as connection:
            seq, count = connection.execute(select(newest, standing)).one()
        return int(seq), int(count)

    def retry_pending(self) -> int:
        """Send the deliveries whose retry is due; returns how many were delivered now. A channel that fails
        once is not tried again in the same pass, and no new send starts after ``timeout_s``, so a pass
        blocks for at most about twice ``timeout_s``."""
        if not self.channels:
            return 0
        now, d = time.time(), alert_deliveries
        query = (
            select(d.c.id.label("delivery_id"), d.c.channel, *alert_inbox.c)
            .join(alert_inbox, alert_inbox.c.id == d.c.alert_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now, d.c.channel.in_(self.channels))
            .order_by(d.c.next_attempt_at)
            .limit(100)
        )
        if not self.store.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=d)
        with self.store.transaction() as connection:
            due = [dict(row) for row in connection.execute(query).mappings()]
            claimed = [row["delivery_id"] for row in due]
            claim = d.update().where(d.c.id.in_(claimed)).values(next_attempt_at=now + self._lease)
            connection.execute(claim)
        by_alert: dict[str, list[dict]] = {}
        for row in due:
            by_alert.setdefault(row["id"], []).append(row)
        deadline, delivered = time.monotonic() + self.timeout_s, 0
        failing: set[str] = set()
        released: list[int] = []
        for alert_id, rows in by_alert.items():
            late = time.monotonic() > deadline  # what is not sent now is due again at once
            names = [] if late else [row["channel"] for row in rows if row["channel"] not in failing]
            released += [row["delivery_id"] for row in rows if row["channel"] not in names]
            if not names:
                continue
            errors = self._notify(rows[0], names)
            failing |= {name for name, error in errors.items() if error}
            delivered += sum(status == "delivered" for status in self._record(alert_id, errors).values())
        if released:
            with self.store.transaction() as connection:
                connection.execute(d.update().where(d.c.id.in_(released)).values(next_attempt_at=now))
        return delivered

    def inbox(self, *, limit: int = 100, asset: str | None = None) -> list[InboxEntry]:
        """Newest first."""
        query = select(alert_inbox).order_by(alert_inbox.c.seq.desc()).limit(limit)
        if asset is not None:
            query = query.where(alert_inbox.c.asset == asset)
        with self.store.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [_entry(dict(r)) for r in rows]

    def deliveries(self, alert_id: str) -> list[Delivery]:
        d = alert_deliveries
        columns = [column for column in d.c if column.name != "id"]
        query = select(*columns).where(d.c.alert_id == alert_id).order_by(d.c.channel)
        with self.store.engine.connect() as connection:
            return [Delivery(**row) for row in connection.execute(query).mappings()]

    # --- internals ----------------------------------------------------------------------------------

    @property
    def _lease(self) -> float:
        """How long a delivery being sent is hidden from retry_pending (a crashed sender's comes back)."""
        return 2 * self.timeout_s + 60.0

    def _routes(self, routes: Sequence[str] | None) -> list[str]:
        if routes is None:
            return list(self.channels)
        if missing := [name for name in routes if name not in self.channels]:
            log.info("alert routes %s are not configured: those alerts are in the inbox only", missing)
        return [name for name in dict.fromkeys(routes) if name in self.channels]

    def _notify(self, row: Mapping[str, Any], names: Sequence[str]) -> dict[str, str | None]:
        """Send one alert to ``names`` in parallel: channel -> None when delivered, else the error."""
        assert self._apprise is not None
        errors: dict[str, str | None] = dict.fromkeys(names, "apprise returned no result for this channel")
        footer = f"**{row['severity']}** on `{row['asset']}`, check `{row['check_name']}`"
        lines = [row["body"].rstrip(), "", footer]
        if row["run_url"]:
            lines.append(f"[Open run {row['run_id'] or ''} in Dagster]({row['run_url']})")
        elif row["run_id"]:
            lines.append(f"Run `{row['run_id']}`")
        if row["incident_id"]:
            lines.append(f"Incident `{row['incident_id']}`")
        try:
            result = self._apprise.notify(
                body=redact("\n".join(lines)),
                title=redact(f"[{row['severity']}] {row['title']}"),
                notify_type=_NOTIFY_TYPES[row["severity"]],
                body_format="markdown",
                tag=list(names),
            )
            for service in result:
                reason = "; ".join(entry.message for entry in service.logs()) or service.status.name
                for name in set(service.tag) & errors.keys():
                    errors[name] = None if service else f"{service.status.name}: {reason}"[:2000]
        except Exception as error:  # a bug in a plugin must not crash the sensor
            errors = dict.fromkeys(names, f"{type(error).__name__}: {error}")
        return errors

    def _record(self, alert_id: str, errors: Mapping[str, str | None]) -> dict[str, str]:
        """Store the attempt: delivered, pending (retried after a backoff) or failed after max_attempts."""
        now, d, statuses = time.time(), alert_deliveries, {}
        query = select(d.c.channel, d.c.attempts).where(d.c.alert_id == alert_id, d.c.channel.in_(errors))
        if not self.store.is_sqlite:
            query = query.with_for_update()
        with self.store.transaction() as connection:
            for channel, attempts in connection.execute(query).all():
                error, attempts = errors[channel], attempts + 1
                status = "pending" if attempts < self.max_attempts else "failed"
                status = "delivered" if error is None else status
                delay = min(self.backoff_s * 2 ** (attempts - 1), 6 * 3600.0)
                values: dict[str, Any] = {"status": status, "attempts": attempts, "updated_at": now}
                values["next_attempt_at"] = now + delay if status == "pending" else now
                if error is not None:
                    values["last_error"] = error
                    log.warning(
                        "alert %s to %s: attempt %d of %d failed, %s: %s",
                        alert_id, channel, attempts, self.max_attempts, status, error,
                    )  # fmt: skip
                where = (d.c.alert_id == alert_id) & (d.c.channel == channel)
                connection.execute(d.update().where(where).values(values))
                statuses[channel] = status
        return statuses


def _entry(row: Mapping[str, Any]) -> InboxEntry:
    return InboxEntry(
        row["id"], _alert(row), row["status"], row["repeats"], row["suppressed_by"], row["created_at"]
    )


def _alert(row: Mapping[str, Any]) -> Alert:
    fields = {name: row[name] for name in _ALERT_COLUMNS}
    return Alert(check=row["check_name"], metadata=row["meta"], **fields)
