"""Alerts reach a real HTTP webhook through apprise, land in the inbox, are deduplicated per (asset, check),
and a failing or hanging receiver neither blocks nor crashes the sender (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from reliability_assets.alerts import ENV_VARS, Alert, AlertConfigError, AlertRouter
from reliability_assets.resources.store import ReliabilityStore
from tests.support import POSTGRES_URL

EVIDENCE = "| column | null rate | threshold |\n|---|---|---|\n| email | 12.5% | 1% |"


class Receiver:
    """A webhook on 127.0.0.1 that records every request; it can answer 500 for the next N requests, or
    hang (read the request, then never answer) until closed."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict] = []
        self.fail_next = 0
        self.hang = False
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": parts.path, "query": dict(parse_qsl(parts.query)), "json": json.loads(raw)}
                    )
                    fail = receiver.fail_next > 0
                    receiver.fail_next -= fail
                if receiver.hang and not fail:
                    receiver.release.wait(60)
                    return
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def no_alert_env(monkeypatch) -> None:
    """The developer's own channels must not leak into the tests (or receive their alerts)."""
    for variable in ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> ReliabilityStore:
    if request.param == "sqlite":
        return ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError as error:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({error})")
    return ReliabilityStore(POSTGRES_URL)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def asset() -> str:
    """PostgreSQL keeps rows between runs (and parallel runs share it): every test gets a fresh asset..."""
    return f"orders-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def hook() -> str:
    """...and a fresh channel name: retry_pending sends every due delivery of the channels it knows."""
    return f"hook-{uuid.uuid4().hex[:10]}"


def _alert(asset: str, check: str = "email_not_null", severity: str = "WARN", **extra) -> Alert:
    return Alert(
        asset=asset,
        check=check,
        severity=severity,
        title=f"{check} failed on {asset}",
        body=f"Null rate above threshold:\n\n{EVIDENCE}",
        run_id="run-42",
        run_url="http://localhost:3000/runs/run-42",
        **extra,
    )


def test_alert_lands_in_inbox_and_reaches_the_webhook(store, receiver, asset, hook) -> None:
    router = AlertRouter(store, channels={hook: f"{receiver.url}/hooks/dq?token=s3cret&team=data"})
    alert = _alert(asset, severity="ERROR", incident_id="inc-7", metadata={"rows": 5000})
    outcome = router.send(alert)

    assert (outcome.suppressed, dict(outcome.channels)) == (False, {hook: "delivered"})
    [request] = receiver.requests
    assert request["path"] == "/hooks/dq"
    assert request["query"] == {"token": "s3cret", "team": "data"}  # the URL's own query is kept
    assert request["json"]["title"] == f"[ERROR] email_not_null failed on {asset}"
    assert request["json"]["type"] == "failure"
    message = request["json"]["message"]
    assert EVIDENCE in message  # the markdown evidence arrives unchanged
    assert "http://localhost:3000/runs/run-42" in message and "inc-7" in message
    [entry] = router.inbox(asset=asset)
    assert (entry.id, entry.status, entry.repeats, entry.suppressed_by) == (outcome.alert_id, "sent", 0, None)
    assert entry.alert == alert  # every field, the metadata too, comes back from the store
    [delivery] = router.deliveries(outcome.alert_id)
    assert (delivery.channel, delivery.status, delivery.attempts) == (hook, "delivered", 1)


def test_without_channels_the_inbox_still_gets_every_alert(store, asset) -> None:
    router = AlertRouter(store)  # the environment is empty: offline
    outcome = router.send(_alert(asset), routes=["slack", "webhook"])
    assert (outcome.suppressed, dict(outcome.channels)) == (False, {})
    assert [entry.id for entry in router.inbox(asset=asset)] == [outcome.alert_id]
    assert router.deliveries(outcome.alert_id) == []
    assert router.retry_pending() == 0


def test_repeat_within_cooldown_is_suppressed_but_an_escalation_is_not(store, receiver, asset, hook) -> None:
    router = AlertRouter(store, channels={hook: receiver.url})
    first = router.send(_alert(asset, severity="WARN"))
    second = router.send(_alert(asset, severity="WARN"))
    third = router.send(_alert(asset, severity="WARN"))
    other_check = router.send(_alert(asset, check="amount_positive", severity="WARN"))

    assert [o.suppressed for o in (first, second, third, other_check)] == [False, True, True, False]
    assert (second.channels, router.deliveries(second.alert_id)) == ({}, [])
    assert len(receiver.requests) == 2  # the first alert and the other check
    entries = {entry.id: entry for entry in router.inbox(asset=asset)}
    assert (entries[first.alert_id].status, entries[first.alert_id].repeats) == ("sent", 2)
    assert [(entries[o.alert_id].status, entries[o.alert_id].repeats) for o in (second, third)] == [
        ("suppressed", 1),
        ("suppressed", 2),
    ]
    assert entries[third.alert_id].suppressed_by == first.alert_id

    escalated = router.send(_alert(asset, severity="ERROR"))  # WARN -> ERROR within the cooldown
    assert (escalated.suppressed, dict(escalated.channels)) == (False, {hook: "delivered"})
    assert receiver.requests[-1]["json"]["title"].startswith("[ERROR]")
    assert router.send(_alert(asset, severity="WARN")).suppressed  # lower than the last one sent
    assert router.send(_alert(asset, severity="ERROR")).suppressed
    assert len(receiver.requests) == 3


def test_after_the_cooldown_it_is_delivered_again(store, receiver, asset, hook) -> None:
    router = AlertRouter(store, channels={hook: receiver.url}, cooldown_s=0.5)
    assert not router.send(_alert(asset)).suppressed
    assert router.send(_alert(asset)).suppressed
    time.sleep(0.6)
    again = router.send(_alert(asset))
    assert (again.suppressed, dict(again.channels)) == (False, {hook: "delivered"})
    assert len(receiver.requests) == 2


def test_concurrent_senders_deliver_a_repeat_once(store, receiver, asset, hook) -> None:
    router = AlertRouter(store, channels={hook: receiver.url})
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(router.send(_alert(asset)))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.suppressed for o in outcomes) == [False] + [True] * 5
    assert len(receiver.requests) == 1
    assert sorted(entry.repeats for entry in router.inbox(asset=asset) if entry.status == "suppressed") == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_http_500_leaves_the_delivery_pending_until_retry_delivers_it(store, receiver, asset, hook) -> None:
    router = AlertRouter(store, channels={hook: receiver.url}, backoff_s=0.5)
    receiver.fail_next = 1
    outcome = router.send(_alert(asset))  # does not raise

    assert dict(outcome.channels) == {hook: "pending"}
    [delivery] = router.deliveries(outcome.alert_id)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "500" in delivery.last_error
    assert router.retry_pending() == 0  # the backoff has not passed
    assert len(receiver.requests) == 1
    time.sleep(0.6)
    assert router.retry_pending() == 1
    [delivery] = router.deliveries(outcome.alert_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [r["json"]["title"] for r in receiver.requests] == [f"[WARN] email_not_null failed on {asset}"] * 2
    assert router.retry_pending() == 0
    assert len(receiver.requests) == 2


def test_refused_connection_is_retried_once_the_receiver_is_up(store, asset, hook) -> None:
    port = _closed_port()
    router = AlertRouter(store, channels={hook: f"http://127.0.0.1:{port}/hook"}, backoff_s=0.0)
    outcome = router.send(_alert(asset))

    assert dict(outcome.channels) == {hook: "pending"}
    [delivery] = router.deliveries(outcome.alert_id)
    assert delivery.attempts == 1 and "connection error" in delivery.last_error.lower()
    receiver = Receiver(port)  # the receiver comes up on that port
    try:
        assert router.retry_pending() == 1
        assert router.deliveries(outcome.alert_id)[0].status == "delivered"
        assert [r["path"] for r in receiver.requests] == ["/hook"]
    finally:
        receiver.close()


def test_a_delivery_gives_up_after_max_attempts(store, asset, hook) -> None:
    router = AlertRouter(
        store, channels={hook: f"http://127.0.0.1:{_closed_port()}/"}, max_attempts=2, backoff_s=0.0
    )
    outcome = router.send(_alert(asset))
    assert dict(outcome.channels) == {hook: "pending"}
    assert router.retry_pending() == 0
    [delivery] = router.deliveries(outcome.alert_id)
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert router.retry_pending() == 0
    assert router.deliveries(outcome.alert_id)[0].attempts == 2  # not tried again


def test_retry_tries_a_failing_channel_once_per_pass(store, receiver, asset, hook) -> None:
    router = AlertRouter(store, channels={hook: receiver.url}, backoff_s=0.0)
    receiver.fail_next = 100
    outcomes = [router.send(_alert(asset, check=check)) for check in ("a", "b", "c")]
    assert [dict(o.channels) for o in outcomes] == [{hook: "pending"}] * 3
    assert router.retry_pending() == 0
    assert len(receiver.requests) == 4  # the other two wait for the next pass, without spending an attempt
    receiver.fail_next = 0
    assert router.retry_pending() == 3
    assert sorted(router.deliveries(o.alert_id)[0].attempts for o in outcomes) == [2, 2, 3]


def test_a_hanging_receiver_does_not_block_send_or_retry(store, receiver, asset, hook, capsys) -> None:
    healthy = Receiver()
    receiver.hang = True
    try:
        # apprise's own syntax, with a 30 s read timeout: the router's 5 s cap per send still holds
        hanging = f"{receiver.url.replace('http://', 'json://')}/?rto=30"
        router = AlertRouter(store, channels={hook: hanging, f"{hook}-ops": healthy.url}, backoff_s=0.0)
        started = time.monotonic()
        outcome = router.send(_alert(asset))  # default timeout_s=5
        blocked = time.monotonic() - started

        assert dict(outcome.channels) == {hook: "pending", f"{hook}-ops": "delivered"}  # in parallel
        assert 4 < blocked < 15, blocked  # it did wait for the hanging webhook, up to timeout_s
        receiver.fail_next = 3  # three more alerts wait for the webhook (quickly: it answers 500)
        for check in ("a", "b", "c"):
            assert router.send(_alert(asset, check=check), routes=[hook]).channels == {hook: "pending"}
        before = len(receiver.requests)
        started = time.monotonic()
        assert router.retry_pending() == 0
        retried = time.monotonic() - started
        assert 4 < retried < 15, retried
        assert len(receiver.requests) == before + 1  # one try per failing channel per pass
        assert len([d for d in router.deliveries(outcome.alert_id) if d.status == "pending"]) == 1
        with capsys.disabled():
            name = store.engine.dialect.name
            print(f"\n[{name}] hanging webhook: send blocked {blocked:.2f} s, retry_pending {retried:.2f} s")
    finally:
        healthy.close()


def test_a_plain_webhook_url_from_the_environment_works(store, receiver, asset, monkeypatch) -> None:
    monkeypatch.setenv("RELIABILITY_ALERT_WEBHOOK_URL", f"{receiver.url}/env-hook")
    router = AlertRouter(store)
    assert router.channels == ("webhook",)
    assert dict(router.send(_alert(asset)).channels) == {"webhook": "delivered"}
    assert receiver.requests[0]["path"] == "/env-hook"


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("RELIABILITY_ALERT_SLACK_URL", "slack://not-a-token", "Slack"),
        ("RELIABILITY_ALERT_TEAMS_URL", "msteams://abc@def/ghi/jkl", "msteams"),
        ("RELIABILITY_ALERT_EMAIL_URL", "mailto://", "email"),
        ("RELIABILITY_ALERT_WEBHOOK_URL", "htp//127.0.0.1/hook", "Unsupported URL"),
    ],
)
def test_a_malformed_url_names_the_variable_and_the_fix(tmp_path, monkeypatch, variable, value, hint) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(AlertConfigError) as error:
        AlertRouter(ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}"))
    message = str(error.value)
    assert message.startswith(f"{variable} ")
    assert hint.lower() in message.lower()
    assert "Fix: set it to an apprise URL such as" in message and "or unset it" in message


def test_every_channel_kind_is_read_from_the_environment(tmp_path, monkeypatch) -> None:
    urls = {
        "RELIABILITY_ALERT_SLACK_URL": "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "RELIABILITY_ALERT_TEAMS_URL": "workflows://prod-00.westus.logic.azure.com:443/abc123/def456?sig=xyz",
        "RELIABILITY_ALERT_EMAIL_URL": "mailtos://alerts:secret@smtp.example.com?to=oncall@example.com",
        "RELIABILITY_ALERT_WEBHOOK_URL": "https://alerts.example.com/hook?key=1",
    }
    for variable, url in urls.items():
        monkeypatch.setenv(variable, f"  {url} ")
    router = AlertRouter(ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}"))
    assert router.channels == ("slack", "teams", "email", "webhook")
    with pytest.raises(AlertConfigError, match=r"alert channel 'On Call': a channel name is lowercase"):
        AlertRouter(router.store, channels={"On Call": "json://localhost/"})


def test_a_standing_entry_is_one_row_while_it_lasts_and_never_reaches_a_channel(
    store, receiver, asset, hook
) -> None:
    router = AlertRouter(store, channels={hook: receiver.url})
    before = router.version()
    first, created = router.standing(_alert(asset, check="served_by_model"))
    assert created and router.version() != before
    seen = router.version()
    assert router.standing(_alert(asset, check="served_by_model")) == (first, False)
    assert router.version() == seen  # nothing new: the sensor observes nothing
    (entry,) = router.inbox(asset=asset)
    assert (entry.id, entry.status) == (first, "standing")
    assert first in [e.id for e in router.standing_entries()]
    assert receiver.requests == [] and router.deliveries(first) == []

    assert router.clear_standing(asset=asset, check="served_by_model")
    assert not router.clear_standing(asset=asset, check="served_by_model")
    assert [e.status for e in router.inbox(asset=asset)] == ["cleared"]
    again, created = router.standing(_alert(asset, check="served_by_model"))
    assert created and again != first  # the state came back: a new entry
    assert router.send(_alert(asset, check="served_by_model")).suppressed is False  # alerts are separate
