"""The churn model's champion: who scores customers, and how the pointer moves.

Every trained model is registered as a candidate. It becomes champion only when every check on it passed
in the run that trained it (``churn_scores`` settles this: its blocking upstream checks have finished by
the time it runs). ``churn_scores`` always scores with the champion, so a candidate that fails a check
never reaches a customer's score. A run tagged ``reliability/action=rollback`` (the ``churn_model_rollback``
job, launched by a person or by the remediation sensor) first moves the champion back to the previous
version whose checks passed.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, AssetKey

from reliability_assets import ACTION_TAG, REASON_TAG, ROLLBACK_TO_TAG

if TYPE_CHECKING:
    from reliability_assets import ModelRegistry
    from reliability_assets.reference.analytics.model import ChurnModel

MODEL_NAME = "churn"
#: How far below the champion's AUC (on the same holdout) a candidate may score and still be promoted.
#: The holdout's AUC standard error is ~0.014 (see AUC_FLOOR); a paired comparison on one holdout varies
#: less, so 0.02 tolerates noise and stops a real regression.
CHAMPION_TOLERANCE = 0.02


def register_candidate(registry: ModelRegistry, model: ChurnModel, *, run_id: str) -> None:
    registry.register(
        MODEL_NAME,
        model.version,
        artifact=pickle.dumps(model),
        metrics={"holdout_auc": model.holdout_auc, "base_rate": model.base_rate},
        data_version=model.data_version,
        run_id=run_id,
    )


def load_model(registry: ModelRegistry, version: str | None = None) -> ChurnModel:
    """A version's artifact (the champion's by default); the registry holds only our own pickles."""
    model: ChurnModel = pickle.loads(registry.load(MODEL_NAME, version))
    return model


def settle_candidate(
    context: AssetExecutionContext, registry: ModelRegistry, candidate: ChurnModel, *, wait_s: float = 300.0
) -> str:
    """Judge the candidate by its lineage in the run that trained it (this one, or an earlier one when only
    the scores are re-materialized): promoted only when every check on the model passed and no ERROR check
    failed upstream of it in that run (a drifted input, even non-blocking, keeps the champion). A check
    still running in this run (the multiprocess executor runs it beside the model) is waited for, up to
    ``wait_s``; past that the candidate stays a candidate. Says what happened."""
    import time

    from reliability_assets import lineage, upstream_of

    record = next((v for v in registry.versions(MODEL_NAME) if v.version == candidate.version), None)
    if record is None or record.status != "candidate":
        status = record.status if record else "not registered"
        return f"candidate {candidate.version} is {status}: the champion stays"
    trained_in = record.run_id or context.run.run_id
    key = AssetKey("churn_model")
    upstream = upstream_of(context, key)
    deadline = time.monotonic() + wait_s
    while (verdict := lineage(context.instance, trained_in, key, upstream=upstream)).passed is None:
        if time.monotonic() > deadline:
            return f"candidate {candidate.version}: its checks are still running: the champion stays"
        time.sleep(1.0)
    if not verdict.planned:
        return f"no checks ran on candidate {candidate.version}: the champion stays"
    if not verdict.passed:
        failed, missing = verdict.failed, verdict.missing
        detail = f"failed: {', '.join(failed)}" if failed else f"not evaluated: {', '.join(missing)}"
        registry.record_checks(MODEL_NAME, candidate.version, passed=False, run_id=trained_in, detail=detail)
        return f"kept the champion: candidate {candidate.version} {detail}"
    registry.record_checks(MODEL_NAME, candidate.version, passed=True, run_id=trained_in, detail="all passed")
    reason = "every check on it and upstream of it passed"
    registry.promote(MODEL_NAME, candidate.version, reason=reason, run_id=trained_in)
    return f"promoted {candidate.version}: {reason}"


def roll_back_if_asked(context: AssetExecutionContext, registry: ModelRegistry) -> str | None:
    """Honour a rollback run tag once per run (a retried step must not roll back twice). With
    ``reliability/rollback_to`` (set by the remediation sensor) the champion moves to exactly that version;
    without it (a person's run), to the previous version whose checks passed."""
    if context.run.tags.get(ACTION_TAG) != "rollback":
        return None
    run_id = context.run.run_id
    history = registry.history(MODEL_NAME)
    if history and history[-1].run_id == run_id and history[-1].kind == "rollback":
        return f"rolled back to {history[-1].to_version} earlier in this run"
    from reliability_assets import NoRollbackTarget

    reason = context.run.tags.get(REASON_TAG) or "rollback requested by run tag"
    target = context.run.tags.get(ROLLBACK_TO_TAG) or None
    try:
        move = registry.rollback(MODEL_NAME, reason=reason, run_id=run_id, to_version=target)
    except NoRollbackTarget as exc:
        return f"rollback asked but impossible: {exc}"
    if move.from_version == move.to_version:
        return f"the champion already is {move.to_version}: nothing to roll back"
    return f"rolled back from {move.from_version} to {move.to_version}: {reason}"
