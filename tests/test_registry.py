"""The model registry keeps every version and every move of the champion pointer (SQLite and PostgreSQL)."""

import hashlib
import multiprocessing
import subprocess
import sys
import uuid
from itertools import pairwise
from pathlib import Path

import pytest

from reliability_assets.registry import ModelRegistry, NoRollbackTarget, PromotionRefused
from reliability_assets.resources.store import ReliabilityStore

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry(store_url) -> ModelRegistry:
    return ModelRegistry(ReliabilityStore(store_url))


@pytest.fixture
def name() -> str:
    """PostgreSQL keeps rows between runs (and parallel runs share it): every test gets a fresh model."""
    return f"churn-{uuid.uuid4().hex[:10]}"


def _passed(registry: ModelRegistry, name: str, version: str, auc: float = 0.75) -> None:
    registry.register(name, version, artifact=f"bytes of {version}".encode(), metrics={"holdout_auc": auc})
    registry.record_checks(name, version, passed=True, run_id=f"checks-{version}", detail="auc ok")


def test_register_is_idempotent_per_version(registry, name) -> None:
    first = registry.register(
        name, "v1", artifact=b"\x00first\xff", metrics={"holdout_auc": 0.76}, data_version="d1", run_id="r1"
    )
    assert (first.status, first.metrics, first.data_version, first.run_id) == (
        "candidate",
        {"holdout_auc": 0.76},
        "d1",
        "r1",
    )
    again = registry.register(name, "v1", artifact=b"other", metrics={"holdout_auc": 0.5}, run_id="r2")
    assert again == first  # nothing updated: same metrics, run, created_at, bytes
    assert registry.versions(name) == [first]
    assert registry.load(name, "v1") == b"\x00first\xff"
    registry.register(name, "v2", artifact=b"second", metrics={"holdout_auc": 0.77})
    assert [v.version for v in registry.versions(name)] == ["v2", "v1"]  # newest first


def test_promote_refuses_a_candidate_or_failed_version(registry, name) -> None:
    registry.register(name, "v1", artifact=b"1", metrics={"holdout_auc": 0.76})
    with pytest.raises(PromotionRefused, match=r"v1: its status is 'candidate'"):
        registry.promote(name, "v1", reason="looks fine")
    failed = registry.record_checks(name, "v1", passed=False, run_id="c1", detail="auc 0.51 < 0.70")
    assert (failed.status, failed.checks_detail, failed.checks_run_id) == ("failed", "auc 0.51 < 0.70", "c1")
    with pytest.raises(PromotionRefused, match=r"v1: its status is 'failed'") as refused:
        registry.promote(name, "v1", reason="looks fine")
    assert isinstance(refused.value, ValueError)
    assert registry.champion(name) is None and registry.history(name) == []
    with pytest.raises(KeyError, match="no version 'v9'"):
        registry.promote(name, "v9", reason="typo")


def test_promote_promote_rollback_returns_to_the_first_with_full_history(registry, name) -> None:
    _passed(registry, name, "v1")
    _passed(registry, name, "v2")
    first = registry.promote(name, "v1", reason="first model", run_id="run-1")
    assert registry.promote(name, "v1", reason="again", run_id="run-x") == first  # no-op
    registry.promote(name, "v2", reason="auc +0.02", run_id="run-2")
    assert registry.champion(name).version == "v2"
    back = registry.rollback(name, reason="v2 scores drifted", run_id="run-3")
    assert (back.from_version, back.to_version, back.kind) == ("v2", "v1", "rollback")
    assert registry.champion(name).version == "v1"
    assert registry.load(name) == b"bytes of v1"

    history = registry.history(name)
    assert [(m.from_version, m.to_version, m.kind, m.reason, m.run_id) for m in history] == [
        (None, "v1", "promote", "first model", "run-1"),
        ("v1", "v2", "promote", "auc +0.02", "run-2"),
        ("v2", "v1", "rollback", "v2 scores drifted", "run-3"),
    ]
    assert history[0].at <= history[1].at <= history[2].at
    markdown = registry.history_markdown(name)
    assert (
        markdown.count("\n") == 4 and "| rollback | `v2` | `v1` | v2 scores drifted | `run-3` |" in markdown
    )
    # v2 was rolled back from: a second rollback must not bounce back to it.
    with pytest.raises(NoRollbackTarget, match="rolled back from earlier: v2"):
        registry.rollback(name, reason="again")


def test_repeated_rollbacks_walk_back_through_former_champions(registry, name) -> None:
    for version in ("v1", "v2", "v3"):
        _passed(registry, name, version)
        registry.promote(name, version, reason=f"ship {version}")
    assert registry.rollback(name, reason="v3 bad").to_version == "v2"  # the latest former champion
    assert registry.rollback(name, reason="v2 bad too").to_version == "v1"
    with pytest.raises(NoRollbackTarget, match="rolled back from earlier: v2, v3"):
        registry.rollback(name, reason="v1 bad?")
    registry.promote(name, "v3", reason="v3 fixed upstream, re-vetted")  # an explicit promote clears it
    registry.promote(name, "v1", reason="back to v1 for a test")
    assert registry.rollback(name, reason="v1 bad").to_version == "v3"
    kinds = [m.kind for m in registry.history(name)]
    assert kinds == ["promote"] * 3 + ["rollback"] * 2 + ["promote"] * 2 + ["rollback"]


def test_rollback_without_an_earlier_passed_version_raises(registry, name) -> None:
    with pytest.raises(NoRollbackTarget, match="no champion"):
        registry.rollback(name, reason="nothing promoted")
    registry.register(name, "v0", artifact=b"0", metrics={"holdout_auc": 0.6})
    registry.record_checks(name, "v0", passed=False, detail="auc below floor")
    _passed(registry, name, "v1")
    _passed(registry, name, "v2")  # passed, but registered after the champion and never champion
    registry.promote(name, "v1", reason="first")
    with pytest.raises(NoRollbackTarget, match="other than the champion v1") as error:
        registry.rollback(name, reason="bad")
    assert isinstance(error.value, ValueError)
    assert registry.champion(name).version == "v1" and len(registry.history(name)) == 1


def test_rollback_falls_back_to_a_passed_version_registered_before_the_champion(registry, name) -> None:
    _passed(registry, name, "v0")
    _passed(registry, name, "v1")
    registry.register(name, "v2", artifact=b"2", metrics={"holdout_auc": 0.7})
    registry.record_checks(name, "v2", passed=False)
    _passed(registry, name, "v3")
    _passed(registry, name, "v4")
    registry.promote(name, "v3", reason="first promotion")  # v1 and v2 were never champion
    move = registry.rollback(name, reason="v3 is bad")
    assert (move.from_version, move.to_version) == ("v3", "v1")  # v2 failed, v4 is newer, v0 is older


def test_load_returns_the_champions_bytes(registry, name) -> None:
    with pytest.raises(KeyError, match="has no champion"):
        registry.load(name)
    artifact = bytes(range(256)) * 1000  # binary, 256 kB
    registry.register(name, "v1", artifact=artifact, metrics={"holdout_auc": 0.8})
    registry.record_checks(name, "v1", passed=True)
    _passed(registry, name, "v2")
    registry.promote(name, "v1", reason="best auc")
    assert registry.load(name) == artifact
    assert registry.load(name, "v2") == b"bytes of v2"
    assert registry.champion(name).artifact_sha256 == hashlib.sha256(artifact).hexdigest()
    with pytest.raises(KeyError, match="no version 'nope'"):
        registry.load(name, "nope")


def _promote_many(url: str, name: str, worker: int, rounds: int, barrier) -> None:
    registry = ModelRegistry(ReliabilityStore(url))
    barrier.wait(60)
    for i in range(rounds):
        registry.promote(name, f"w{worker}-{i % 2}", reason=f"worker {worker} round {i}", run_id=f"w{worker}")


def test_concurrent_promotions_leave_a_consistent_chain(registry, store_url, name) -> None:
    workers, rounds = 4, 10
    for worker in range(workers):
        for j in range(2):
            _passed(registry, name, f"w{worker}-{j}")
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(workers)
    processes = [
        spawn.Process(target=_promote_many, args=(store_url, name, worker, rounds, barrier))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0] * workers

    history = registry.history(name)
    # Each worker alternates between its own two versions, so every promotion is a real move.
    assert len(history) == workers * rounds
    assert history[0].from_version is None
    for previous, move in pairwise(history):
        assert move.from_version == previous.to_version, (previous, move)
    assert [m.seq for m in history] == list(range(1, workers * rounds + 1))
    assert sorted(m.run_id for m in history) == sorted(f"w{w}" for w in range(workers) for _ in range(rounds))
    assert registry.champion(name).version == history[-1].to_version


def test_tables_are_created_when_the_engine_was_built_before_the_import(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'early.sqlite'}"
    code = f"""
import sys
from sqlalchemy import inspect
from reliability_assets.resources.store import ReliabilityStore
store = ReliabilityStore({url!r})
assert "reliability_assets.registry" not in sys.modules
assert "model_versions" in inspect(store.engine).get_table_names()  # the migrations made every table
from reliability_assets.registry import ModelRegistry
registry = ModelRegistry(ReliabilityStore({url!r}))
registry.register("m", "v1", artifact=b"x", metrics={{}})
print(registry.versions("m")[0].version)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "v1"
