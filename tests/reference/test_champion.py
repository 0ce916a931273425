"""The champion: promoted only when its checks pass, the only model that scores, rolled back by a job."""

from __future__ import annotations

import pickle
from pathlib import Path

from dagster import AssetSelection, DagsterInstance

from reliability_assets.reference.analytics.champion import MODEL_NAME
from reliability_assets.reference.analytics.model import ChurnModel, labelled_features
from reliability_assets.registry import ModelRegistry
from reliability_assets.remediation import ACTION_TAG, REASON_TAG
from reliability_assets.resources.store import ReliabilityStore
from tests.support import check_results, materialized, run_reference


def _leaky_champion(home: Path) -> ChurnModel:
    """A model fitted on every labelled row, holdout included: on that holdout it beats any honest
    candidate, which is what a stronger champion looks like to the check."""
    import duckdb
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    from reliability_assets.reference.analytics.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

    with duckdb.connect(str(home / "reliability.duckdb"), read_only=True) as db:
        features = db.sql("select * from analytics.customer_features").df()
        customers = db.sql("select * from analytics.customers").df()
    labelled = labelled_features(features, customers)
    columns = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(), list(CATEGORICAL_FEATURES))], remainder="passthrough"
    )
    forest = RandomForestClassifier(n_estimators=50, random_state=0)
    pipeline = make_pipeline(encode, forest).fit(labelled[columns], labelled["churned"].astype(int))
    return ChurnModel(pipeline, "churn-leaky", 0.99, 0.3, len(labelled), 0, columns, "leaky")


def test_champion_is_promoted_refused_and_rolled_back(tmp_path: Path) -> None:
    registry = ModelRegistry(ReliabilityStore(f"sqlite:///{tmp_path / 'store.sqlite'}"))
    with DagsterInstance.ephemeral() as instance:
        first = run_reference("clean", tmp_path, instance)
        assert first.success
        candidate = materialized(first)["churn_model"].metadata["version"].value
        scores = materialized(first)["churn_scores"].metadata
        assert (
            scores["champion_decision"].value
            == f"promoted {candidate}: every check on it and upstream of it passed"
        )
        assert scores["model_version"].value == candidate and scores["degraded"].value is False
        assert registry.champion(MODEL_NAME).version == candidate

        # A stronger champion arrives (promoted through the registry, as a person would after review).
        leaky = _leaky_champion(tmp_path)
        registry.register(
            MODEL_NAME, leaky.version, artifact=pickle.dumps(leaky), metrics={"holdout_auc": 0.99}
        )
        registry.record_checks(MODEL_NAME, leaky.version, passed=True, detail="reviewed")
        registry.promote(MODEL_NAME, leaky.version, reason="test: a stronger champion")

        second = run_reference("clean", tmp_path, instance)
        beats = check_results(second)["churn_model:beats_champion"]
        assert not beats.passed and "more than 0.02 below champion churn-leaky" in beats.description
        assert beats.metadata["champion_auc"].value > beats.metadata["candidate_auc"].value + 0.02
        assert "churn_scores" not in materialized(second)  # blocked: no score from a refused candidate
        assert registry.champion(MODEL_NAME).version == "churn-leaky"

        rollback = run_reference(
            "clean",
            tmp_path,
            instance,
            tags={ACTION_TAG: "rollback", REASON_TAG: "test: the leaky model was a mistake"},
            selection=AssetSelection.assets("churn_scores").downstream(),
        )
        assert rollback.success
        scores = materialized(rollback)["churn_scores"].metadata
        assert scores["model_version"].value == candidate
        assert scores["champion_decision"].value.startswith(f"rolled back from churn-leaky to {candidate}")
        moves = registry.history(MODEL_NAME)
        assert [(m.kind, m.to_version) for m in moves] == [
            ("promote", candidate),
            ("promote", "churn-leaky"),
            ("rollback", candidate),
        ]
        assert moves[-1].run_id == rollback.run_id and "mistake" in moves[-1].reason
        assert "| rollback |" in scores["champion_history"].value
