"""Configuration fails fast and says how to fix it: when the code location loads, or before a run's first
step (the preflight executor), never as a raw driver error in a step, retried."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RetryPolicy,
    asset,
    materialize,
)
from pydantic import BaseModel

from reliability_assets import remediation
from reliability_assets.resources.llm import LLMEndpoint, ResilientLLM
from reliability_assets.resources.spool import spool_path
from reliability_assets.resources.store import ReliabilityStore
from reliability_assets.resources.store_resource import ReliabilityStoreResource
from reliability_assets.resources.store_url import StoreConfigError, StoreUnavailable
from tests.support import BIN, REPO, postgres_unreachable

DEAD_POSTGRES = "postgresql+psycopg://app:s3cretpw@127.0.0.1:1/test"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELIABILITY_")}
    return {**env, "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1", **extra}


def _load(home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Load the code location as ``dagster dev`` does, in a fresh interpreter."""
    return subprocess.run(
        [str(BIN / "python"), "-c", "import reliability_assets.reference.definitions"],
        cwd=REPO,
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("RELIABILITY_STORE_URL", "not-a-url", "is not a SQLAlchemy database URL"),
        ("RELIABILITY_STORE_URL", "sqlite:////etc/hostname/store.sqlite", "is a file, not a directory"),
        ("RELIABILITY_CHAOS", "llm_dwn", "is not a fault-injection mode"),
    ],
)
def test_a_wrong_variable_stops_the_code_location_naming_it(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    loaded = _load(tmp_path, **{variable: value})
    assert loaded.returncode != 0
    last = loaded.stderr.strip().splitlines()[-1]
    assert variable in last and says in last and "Fix:" in last, last


def test_an_unknown_alert_route_is_refused_when_the_policy_is_declared() -> None:
    with pytest.raises(ValueError, match=r"unknown alert route\(s\) \['slakc'\].*Fix: use 'all', 'inbox'"):
        remediation.reliability_policy(routes={"ERROR": ["slakc"]})


def _execute(home: Path, config: dict, tags: dict, **env: str) -> DagsterInstance:
    """``dagster job execute`` of the reference job: a real run through the job's executor."""
    (home / "run.json").write_text(json.dumps(config))
    subprocess.run(
        [
            *(str(BIN / "dagster"), "job", "execute", "-m", "reliability_assets.reference.definitions"),
            *("-j", "reference_pipeline", "-c", str(home / "run.json"), "--tags", json.dumps(tags)),
        ],
        cwd=REPO,
        env=_env(home, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return DagsterInstance.from_config(str(home))


def _refusal(instance: DagsterInstance) -> tuple[str, list[str]]:
    (run,) = instance.get_runs()
    assert run.status == DagsterRunStatus.FAILURE
    records = instance.all_logs(run.run_id)
    started = [
        r.dagster_event.step_key for r in records if r.is_dagster_event and r.dagster_event.is_step_start
    ]
    failure = next(r for r in records if r.is_dagster_event and r.dagster_event.is_run_failure)
    error = failure.dagster_event.event_specific_data.error  # type: ignore[union-attr]
    return error.message, [s for s in started if s]


def test_launch_values_the_schema_cannot_express_refuse_the_run_before_any_step(tmp_path: Path) -> None:
    config = {"resources": {"llm": {"config": {"deadline_s": -5}}, "source": {"config": {"size": 10}}}}
    message, started = _refusal(_execute(tmp_path, config, {"reliability/chaos": "llm_dwn"}))
    assert started == []
    assert "resources.llm.config.deadline_s = -5: Input should be greater than 0. Fix:" in message
    assert "resources.source.config.size = 10: Input should be greater than or equal to 50" in message
    assert "run tag reliability/chaos='llm_dwn' is not a fault-injection mode" in message


def test_an_unreachable_store_refuses_the_run_naming_the_variable(tmp_path: Path) -> None:
    message, started = _refusal(_execute(tmp_path, {}, {}, RELIABILITY_STORE_URL=DEAD_POSTGRES))
    assert started == []
    assert "RELIABILITY_STORE_URL" in message and "Connection refused" in message and "Fix:" in message
    assert "s3cretpw" not in message


@pytest.mark.skipif(bool(postgres_unreachable()), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_a_missing_database_is_named_with_its_fix() -> None:
    with pytest.raises(StoreUnavailable) as raised:
        ReliabilityStore("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_db_here")
    assert 'database "no_such_db_here" does not exist' in str(raised.value.description)
    assert "store_url" in str(raised.value.description)
    assert raised.value.allow_retries is False


def test_a_store_error_in_a_step_is_not_retried(tmp_path: Path) -> None:
    attempts = []

    @asset(retry_policy=RetryPolicy(max_retries=3))
    def uses_store(context, reliability: ReliabilityStoreResource) -> int:  # type: ignore[no-untyped-def]
        attempts.append(context.retry_number)
        return len(reliability.store.dead_letters())

    result = materialize(
        [uses_store],
        resources={"reliability": ReliabilityStoreResource(store_url=DEAD_POSTGRES)},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert attempts == [0]
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "store_url" in failure.message and "s3cretpw" not in failure.message


def test_store_config_errors_are_value_errors_with_the_fix() -> None:
    with pytest.raises(StoreConfigError, match="in-memory SQLite store is not shared"):
        ReliabilityStore("sqlite://")


class Brief(BaseModel):
    text: str


def test_the_deterministic_tier_serves_when_the_store_is_down() -> None:
    llm = ResilientLLM(
        endpoints=[
            LLMEndpoint(name="primary", model="m", base_url="http://127.0.0.1:9/v1", api_key="k-123456")
        ],
        store_url=DEAD_POSTGRES,
    )
    result = llm.generate(
        [{"role": "user", "content": "hi"}],
        schema=Brief,
        source="t",
        deterministic=lambda: Brief(text="tmpl"),
    )
    assert result.output == Brief(text="tmpl") and result.tier == "deterministic" and result.degraded
    assert result.attempts == []  # no provider called without the shared breakers and limits
    assert result.metadata()["llm/store"].startswith("unavailable: the reliability store at")
    assert "s3cretpw" not in json.dumps(result.metadata())


def test_a_request_nobody_serves_while_the_store_is_down_is_spooled_then_moved_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    down = ResilientLLM(store_url=DEAD_POSTGRES)
    deferred = down.generate([{"role": "user", "content": "q"}], schema=Brief, source="t")
    assert deferred.deferred and "until the store is back" in deferred.reason
    assert spool_path().exists()

    up_url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    up = ResilientLLM(store_url=up_url)
    up.generate(
        [{"role": "user", "content": "other"}],
        schema=Brief,
        source="t",
        deterministic=lambda: Brief(text="x"),
    )
    entry = ReliabilityStore(up_url).dead_letter_entry(deferred.dead_letter_key or "")
    assert entry is not None and entry["status"] == "open" and "reliability store is down" in entry["reason"]
    assert not spool_path().exists()


def test_valid_launchpad_values_pass_the_preflight_and_enum_typos_never_launch() -> None:
    from dagster import DagsterInvalidConfigError, validate_run_config

    from reliability_assets.preflight import resource_problems
    from reliability_assets.reference.definitions import defs, location_resources
    from reliability_assets.reference.settings import load_settings, reference_source

    resources = location_resources(reference_source(load_settings()))
    good = {"llm": {"config": {"chaos": "off", "deadline_s": 5, "endpoints": [{"name": "x", "model": "m"}]}}}
    assert resource_problems(resources, {"resources": good}) == []
    bad = {"llm": {"config": {"endpoints": [{"name": "x", "model": "m", "timeout_s": 0}]}}}
    (problem,) = resource_problems(resources, {"resources": bad})
    assert problem.startswith("resources.llm.config.endpoints.0.timeout_s = 0: Input should be greater than")
    job = defs.resolve_job_def("reference_pipeline")
    with pytest.raises(DagsterInvalidConfigError, match="not in enum type LLMChaos"):
        validate_run_config(job, {"resources": {"llm": {"config": {"chaos": "llm_dwn"}}}})


POOL_DEFS = """
import os
import time
from pathlib import Path

from dagster import Definitions, asset, define_asset_job

from reliability_assets.preflight import preflight_executor


@asset(pool="one_at_a_time")
def slow() -> None:
    start = time.time()
    time.sleep(5)
    with Path(os.environ["POOL_TEST_OUT"]).open("a") as out:
        out.write(f"{start} {time.time()}\\n")


defs = Definitions(assets=[slow], jobs=[define_asset_job("slow_job")], executor=preflight_executor({}))
"""


def test_the_default_in_process_executor_still_honours_pools(tmp_path: Path) -> None:
    """Two runs at once of a job whose step is in a pool with one slot: with the default executor (one
    process per run, no ``execution`` config) the steps never overlap and Dagster says one was blocked."""
    from reliability_assets.home import init_home

    home = init_home(tmp_path / "home")
    (tmp_path / "pool_defs.py").write_text(POOL_DEFS)
    with DagsterInstance.from_config(str(home)) as instance:  # creates the databases before two runs race
        instance.event_log_storage.set_concurrency_slots("one_at_a_time", 1)
    env = _env(home, POOL_TEST_OUT=str(tmp_path / "spans.txt"))
    command = [str(BIN / "dagster"), "job", "execute", "-f", str(tmp_path / "pool_defs.py"), "-j", "slow_job"]
    runs = []
    for i in range(2):
        with (tmp_path / f"run{i}.log").open("wb") as log:
            runs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log))
        time.sleep(1)  # both create their run at once otherwise: SQLite storage, not what this tests
    codes = [run.wait(timeout=240) for run in runs]
    assert codes == [0, 0], [(tmp_path / f"run{i}.log").read_text()[-1500:] for i in range(2)]

    (a_start, a_end), (b_start, b_end) = (
        map(float, line.split()) for line in (tmp_path / "spans.txt").read_text().splitlines()
    )
    assert a_end <= b_start or b_end <= a_start  # never at once
    with DagsterInstance.from_config(str(home)) as instance:
        messages = [e.message or "" for run in instance.get_runs() for e in instance.all_logs(run.run_id)]
    assert sum("Executing steps in process" in m for m in messages) == 2  # the default: in_process
    assert any("blocked by limit for pool one_at_a_time" in m for m in messages)
