"""The PostgreSQL deployment: the Dagster instance on dagster-postgres (``reliability_assets/deploy``'s
template) and the reliability store on the same server, in a fresh database per test module.

On it: the reference pipeline clean then corrupted and the check-failure sensor's fallback; the multiprocess
executor with the template's pool limits (customers and orders share ``source_api``: never at once); and the
LLM breaker and rate limit held in the store across separate processes and a Dagster step process."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import multiprocessing
import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    JobDefinition,
    RunRequest,
    build_reconstructable_job,
    execute_job,
)

from reliability_assets.deploy import TEMPLATE, postgres_environment
from reliability_assets.home import init_home
from reliability_assets.incidents import IncidentLog
from reliability_assets.reference.analytics import SyntheticSource
from reliability_assets.reference.analytics.summary import ExecutiveBrief, Insight
from reliability_assets.reference.definitions import build_defs
from reliability_assets.remediation import ACTION_TAG, REMEDIATES_TAG
from reliability_assets.remediation_plans import PlanBook
from reliability_assets.resources.io_managers import storage_resources
from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.resources.resilience import CircuitBreaker
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.testing.fake_openai import FakeOpenAI, Fault
from tests.support import BIN, REPO
from tests.support import evaluate_check_sensor as tick

#: The server and the database to connect to for CREATE DATABASE (tests/test_breaker.py's variable).
ADMIN_URL = os.environ.get(
    "RELIABILITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
).replace("postgresql+psycopg://", "postgresql://", 1)
PRIMARY, SECONDARY = "gpt-4o-mini", "gpt-4o"
#: The secondary's client-side quota: 60 x 0.95 / 60 = 0.95 requests a second, a bucket of one request.
SECONDARY_RPM = 60
MIN_CALLS = 3  # the breaker may open after this many calls
WORKERS, CALLS_EACH = 4, 2
BRIEF = ExecutiveBrief(
    headline="Served by the secondary",
    insights=[Insight(text=f"insight {i}", segment="all", kpi="revenue_365d") for i in range(3)],
    risks=["churn"],
)


def _unreachable() -> str | None:
    try:
        import psycopg

        psycopg.connect(ADMIN_URL, connect_timeout=2).close()
    except Exception as error:  # no server, no psycopg, refused: say which
        return f"PostgreSQL at {ADMIN_URL} is unreachable ({type(error).__name__}: {error})"
    return None


@dataclass(frozen=True)
class Deployment:
    database: str
    url: str  # postgresql://... of the fresh database
    store_url: str  # the reliability store on it (psycopg 3)
    home: Path  # DAGSTER_HOME holding the template as dagster.yaml


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A fresh database on the server for this module (other runs of the suite keep theirs), dropped at
    the end; DAGSTER_PG_* point the template at it, for this process and the step processes it starts."""
    if reason := _unreachable():
        pytest.skip(reason)
    import psycopg

    database = f"reliability_ci_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    try:
        # What an operator does: `reliability init-home --postgres URL`, then export what it printed.
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            home = init_home(tmp_path_factory.mktemp("dagster_home"), postgres=url)
        env = dict(shlex.split(line)[1].split("=", 1) for line in printed.getvalue().splitlines())
        assert env["DAGSTER_PG_DB"] == database
        assert (home / "dagster.yaml").read_text() == TEMPLATE.read_text()
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            yield Deployment(database, url, env["RELIABILITY_STORE_URL"], home)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="module")
def instance(deployment: Deployment) -> Iterator[DagsterInstance]:
    with DagsterInstance.from_config(str(deployment.home)) as pg_instance:
        yield pg_instance


def deployment_resources(
    scenario: str, home: Path, store_url: str, *, llm: ResilientLLM | None = None
) -> dict[str, object]:
    """tests.support.reference_resources, with the store on PostgreSQL."""
    return {
        "source": SyntheticSource(scenario=scenario),
        "llm": llm or ResilientLLM(store_url=store_url),
        "triage_llm": ResilientLLM(store_url=store_url, deadline_s=5),
        "reliability": ReliabilityStoreResource(store_url=store_url, reports_dir=str(home / "reports")),
        **storage_resources(duckdb_path=home / "reliability.duckdb", artifacts_dir=home / "storage"),
    }


def shared_llm(base_url: str, store_url: str) -> ResilientLLM:
    """A failing primary behind a breaker that opens after 3 failures (and stays open for the module), a
    secondary with a client-side quota: both kept in the store, so every process shares them."""
    endpoint = {"base_url": base_url, "api_key": "sk-test", "timeout_s": 5.0}
    return ResilientLLM(
        endpoints=[
            LLMEndpoint(name="primary", model=PRIMARY, max_attempts=3, **endpoint),
            LLMEndpoint(name="secondary", model=SECONDARY, requests_per_minute=SECONDARY_RPM, **endpoint),
        ],
        store_url=store_url,
        sliding_window_size=10,
        minimum_number_of_calls=MIN_CALLS,
        failure_rate_threshold=0.5,
        wait_duration_in_open_state_s=600,
        backoff_initial_s=0.05,
        backoff_max_s=0.1,
        deadline_s=60,
    )


def reference_pipeline_job(home: str, store_url: str, llm_base_url: str) -> JobDefinition:
    """Rebuilt in every step process (the multiprocess executor needs a reconstructable job)."""
    llm = shared_llm(llm_base_url, store_url)
    defs = build_defs(deployment_resources("clean", Path(home), store_url, llm=llm))
    return defs.resolve_job_def("reference_pipeline")


def _start_method(deployment: Deployment) -> dict[str, Any]:
    """forkserver (steps fork from a server that imported this module once: a 36 s run instead of 71 s
    with spawn), when its processes see this module's DAGSTER_PG_*: step processes load the instance from
    the template, which reads them. The server starts once per process and keeps the environment it
    started with, so if an earlier test started it, spawn (which copies the current environment)."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload([__name__])  # what Dagster would preload; no effect once running
    with forkserver.Pool(1) as pool:
        seen = pool.apply(os.getenv, ("DAGSTER_PG_DB",))
    return {"forkserver": {}} if seen == deployment.database else {"spawn": {}}


def test_init_home_postgres_prints_the_environment_and_hides_the_password(tmp_path: Path) -> None:
    def reliability(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        return subprocess.run([str(BIN / "reliability"), *args], env=env, capture_output=True, text=True)

    home = tmp_path / "pg_home"
    done = reliability("init-home", "--postgres", "postgresql://app:s3cr%40t@db.example:6543/prod", home=home)
    assert done.returncode == 0, done.stderr
    assert (home / "dagster.yaml").read_text() == TEMPLATE.read_text()
    assert done.stdout.splitlines() == [
        f"export DAGSTER_HOME={home}",
        "export DAGSTER_PG_HOST=db.example",
        "export DAGSTER_PG_PORT=6543",
        "export DAGSTER_PG_USER=app",
        "export DAGSTER_PG_PASSWORD='***'  # the password given in the URL",
        "export DAGSTER_PG_DB=prod",
        "export RELIABILITY_STORE_URL='postgresql+psycopg://app:***@db.example:6543/prod'  # put the password"
        " in place of ***",
        str(home),
    ]
    env = postgres_environment("postgresql://app:s3cr%40t@db.example:6543/prod")
    assert env["DAGSTER_PG_PASSWORD"] == "s3cr@t"  # what to export yourself
    assert env["RELIABILITY_STORE_URL"] == "postgresql+psycopg://app:s3cr%40t@db.example:6543/prod"
    again = reliability("init-home", "--postgres", "postgresql://app@db.example/prod", home=home)
    assert again.returncode == 0  # the same template again: fine

    wrong = reliability("init-home", "--postgres", "mysql://app@db.example/prod", home=tmp_path / "other")
    assert wrong.returncode == 1 and "expected a postgresql:// URL" in wrong.stderr
    sqlite_home = tmp_path / "sqlite_home"
    assert reliability("init-home", home=sqlite_home).returncode == 0  # the default is unchanged
    assert "storage" not in (sqlite_home / "dagster.yaml").read_text()
    kept = reliability("init-home", "--postgres", "postgresql://app@db.example/prod", home=sqlite_home)
    assert kept.returncode == 1 and "is not the PostgreSQL template" in kept.stderr


def test_the_template_puts_the_instance_on_postgres(instance: DagsterInstance) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    pools = instance.event_log_storage.get_pool_config()
    assert pools.pool_granularity is not None and pools.pool_granularity.value == "op"
    assert pools.default_pool_limit == 1
    assert not instance.telemetry_enabled


def test_corrupted_sources_fall_back_on_postgres(
    deployment: Deployment, instance: DagsterInstance, tmp_path: Path
) -> None:
    def run(scenario: str, **options: Any) -> Any:
        defs = build_defs(deployment_resources(scenario, tmp_path, deployment.store_url))
        return defs, defs.resolve_job_def("reference_pipeline").execute_in_process(
            instance=instance, raise_on_error=False, **options
        )

    # The baseline needs only the sources: the last good data the fallback serves.
    clean_defs, clean = run("clean", asset_selection=[AssetKey("customers"), AssetKey("orders")])
    assert clean.success
    cursor = tick(clean_defs, instance, None).cursor
    defs, corrupted = run("corrupted")
    assert not corrupted.success  # the blocking gates stopped it

    result = tick(defs, instance, cursor)
    (request,) = result.run_requests
    assert isinstance(request, RunRequest)
    assert request.run_key == f"fallback:{corrupted.run_id}"
    assert request.tags[ACTION_TAG] == "fallback" and request.tags[REMEDIATES_TAG] == "customers,orders"

    _, fallback = run("corrupted", tags=request.tags, asset_selection=request.asset_selection)
    assert fallback.success
    served = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in fallback.get_asset_materialization_events()
    }
    assert served["customers"]["degraded"].value is True
    assert served["customers"]["last_good_run_id"].value == clean.run_id
    assert "executive_summary" in served

    tick(defs, instance, result.cursor)
    incident = IncidentLog(ReliabilityStore(deployment.store_url)).open_for(
        asset="customers", check="gx_suite"
    )
    assert incident is not None and incident.status == "mitigated"
    assert any("fallback launched" in a.get("action", "") for a in incident.actions)
    (plan,) = PlanBook(ReliabilityStore(deployment.store_url)).list(trigger_run_id=corrupted.run_id)
    assert (plan.status, plan.run_id) == ("verified", fallback.run_id)  # the plan lives in PostgreSQL
    # Every run is in PostgreSQL, not in a SQLite file under DAGSTER_HOME.
    assert {r.run_id for r in instance.get_runs()} >= {clean.run_id, corrupted.run_id, fallback.run_id}
    assert not list(deployment.home.glob("**/*.db"))


def _ask(store_url: str, base_url: str, index: int, barrier: Any, results: Any) -> None:
    """One worker process: CALLS_EACH generate calls, all workers starting together."""
    llm = shared_llm(base_url, store_url)
    outcomes = []
    barrier.wait(60)
    for call in range(CALLS_EACH):
        messages = [{"role": "user", "content": f"worker {index} call {call}"}]
        result = llm.generate(messages, schema=ExecutiveBrief, source=f"worker-{index}")
        per_tier: dict[str, int] = {}
        for attempt in result.attempts:
            per_tier[attempt["endpoint"]] = per_tier.get(attempt["endpoint"], 0) + 1
        outcomes.append(
            {
                "call": call,
                "tier": result.tier,
                "per_tier": per_tier,
                "opened": [e for e in result.events if e.get("transition") == "closed->open"],
                "refused": any("breaker open" in str(e.get("reason", "")) for e in result.events),
            }
        )
    results.put({"pid": os.getpid(), "outcomes": outcomes})


def _answer(body: dict[str, Any]) -> str:
    """The brief for the summary, a label for a feedback text."""
    if (body.get("response_format") or {}).get("json_schema", {}).get("name") == "TopicLabel":
        return json.dumps({"topic": "delivery", "sentiment": "negative", "confidence": 0.8})
    return BRIEF.model_dump_json()


@dataclass
class SharedLLM:
    server: FakeOpenAI
    workers: list[dict]
    primary_requests: int
    secondary_times: list[float]  # when the server received each secondary request (monotonic)


@pytest.fixture(scope="module")
def shared_llm_run(deployment: Deployment) -> Iterator[SharedLLM]:
    """WORKERS spawned processes call the LLM at once against one fake server and the PostgreSQL store."""
    with FakeOpenAI() as server:
        server.set_default(PRIMARY, Fault.status(503))
        server.set_responder(SECONDARY, _answer)
        ReliabilityStore(deployment.store_url)  # the tables, once
        spawn = multiprocessing.get_context("spawn")
        barrier, results = spawn.Barrier(WORKERS), spawn.Queue()
        processes = [
            spawn.Process(target=_ask, args=(deployment.store_url, server.base_url, i, barrier, results))
            for i in range(WORKERS)
        ]
        for process in processes:
            process.start()
        workers = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(30)
            assert process.exitcode == 0
        yield SharedLLM(
            server,
            workers,
            len(server.requests_for(PRIMARY)),
            [r.received_at for r in server.requests_for(SECONDARY)],
        )


def test_the_breaker_opens_once_for_every_process(deployment: Deployment, shared_llm_run: SharedLLM) -> None:
    run = shared_llm_run
    calls = [o for w in run.workers for o in w["outcomes"]]
    assert len({w["pid"] for w in run.workers}) == WORKERS and len(calls) == WORKERS * CALLS_EACH
    assert all(c["tier"] == "secondary" for c in calls)
    # The breaker judges calls: three failed calls anywhere open it. Until then every call that has started
    # spends its own attempts (3): at most MIN_CALLS - 1 failed calls plus one in flight per worker. Breakers
    # per process would have let every worker's every call spend its attempts: 24 requests.
    assert MIN_CALLS <= run.primary_requests <= (MIN_CALLS - 1 + WORKERS) * 3
    assert sum(len(c["opened"]) for c in calls) == 1  # one closed->open, in one process
    reached = [c for c in calls if "primary" in c["per_tier"]]
    assert len(reached) <= MIN_CALLS - 1 + WORKERS  # the calls started before the open, no more
    assert [c for c in calls if c["refused"]] and all(
        "primary" not in c["per_tier"] for c in calls if c["refused"]
    )
    breaker = CircuitBreaker(ReliabilityStore(deployment.store_url), f"llm:{run.server.base_url}:{PRIMARY}")
    row = breaker.snapshot()
    assert (row["state"], row["transitions"]) == ("open", 1)
    assert row["open_until"] > time.time() + 60
    print(f"\nprimary requests {run.primary_requests} for {len(calls)} calls from {WORKERS} processes")


def test_the_rate_limit_holds_across_processes(shared_llm_run: SharedLLM) -> None:
    times = sorted(shared_llm_run.secondary_times)
    assert len(times) == WORKERS * CALLS_EACH
    rate = SECONDARY_RPM * 0.95 / 60  # requests a second; the bucket holds one
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # One bucket for all: a request every 1/rate s (1.05 s). Buckets per process would have sent four at
    # once, and all eight within about 1.1 s.
    assert min(gaps) >= 0.5 / rate
    assert times[-1] - times[0] >= 0.9 * (len(times) - 1) / rate
    in_5s = max(sum(1 for t in times if start <= t < start + 5.0) for start in times)
    assert in_5s <= 1 + int(rate * 5) + 1
    assert shared_llm_run.server.rate_limited == []
    print(
        f"\n{len(times)} secondary requests over {times[-1] - times[0]:.2f} s, gaps {min(gaps):.3f}-"
        f"{max(gaps):.3f} s, at most {in_5s} in any 5 s"
    )


def test_multiprocess_run_with_pools_and_the_shared_breaker(
    deployment: Deployment, instance: DagsterInstance, shared_llm_run: SharedLLM, tmp_path: Path
) -> None:
    server = shared_llm_run.server
    primary_before = len(server.requests_for(PRIMARY))
    job = build_reconstructable_job(
        __name__,
        "reference_pipeline_job",
        reconstructable_kwargs={
            "home": str(tmp_path),
            "store_url": deployment.store_url,
            "llm_base_url": server.base_url,
        },
        reconstructor_working_directory=str(REPO),  # step processes import this module from the repo root
    )
    start_method = _start_method(deployment)
    run_config = {
        "execution": {"config": {"multiprocess": {"max_concurrent": 4, "start_method": start_method}}},
        # The secondary is paced at 60 requests a minute: a few feedback texts, or the batch takes minutes.
        "ops": {"feedback_topics": {"config": {"rows": 12}}},
    }
    with execute_job(job, instance=instance, run_config=run_config, raise_on_error=False) as result:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        run_id = result.run_id
    events = [e for e in instance.all_logs(run_id) if e.dagster_event is not None]

    def first(kind: DagsterEventType, step: str) -> Any:
        return next(e for e in events if e.dagster_event.event_type == kind and e.step_key == step)

    steps = {e.step_key for e in events if e.dagster_event.event_type == DagsterEventType.STEP_START}
    spans = {
        step: (
            first(DagsterEventType.STEP_START, step).timestamp,
            first(DagsterEventType.STEP_SUCCESS, step).timestamp,
            first(DagsterEventType.STEP_START, step).dagster_event.pid,
        )
        for step in steps
    }
    # source_api has one slot: customers and orders never ran at the same time.
    (c_start, c_end, _), (o_start, o_end, _) = spans["customers"], spans["orders"]
    assert c_end <= o_start or o_end <= c_start
    blocked = [e for e in events if "Step blocked by limit for pool source_api" in (e.message or "")]
    assert {e.step_key for e in blocked} & {"customers", "orders"}
    # Each step in its own process, none in this one, and some steps did overlap (the executor was parallel).
    pids = {pid for _, _, pid in spans.values()}
    assert len(pids) == len(steps) and os.getpid() not in pids
    overlapping = [
        (a, b)
        for a in steps
        for b in steps
        if a < b and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
    ]
    assert overlapping
    limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
    assert limits.get("source_api") == 1 and limits.get("llm_api") == 1

    # The summary step, in a process of its own, found the primary's breaker open (opened by the workers):
    # no request to the primary; the secondary served, paced by the same bucket.
    summary = next(
        e.dagster_event.event_specific_data.materialization
        for e in events
        if e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION
        and e.step_key == "executive_summary"
    )
    assert summary.metadata["tier"].value == "secondary"
    assert json.loads(summary.metadata["llm/attempts_per_tier"].value) == {"secondary": 1}
    assert len(server.requests_for(PRIMARY)) == primary_before
    print(
        f"\n{next(iter(start_method))}: {len(steps)} steps in {len(pids)} processes, {len(overlapping)} "
        f"overlapping pairs; customers {c_start:.2f}-{c_end:.2f}, orders {o_start:.2f}-{o_end:.2f}"
    )
