"""The dead-letter queue, from the UI: a job that replays what no tier could serve.

Entries are written by the resources (``ResilientLLM``); a person inspects them with
``reliability dlq list|show`` and replays them here (Launchpad: ``ops.replay_dead_letters.config.keys``)
or with ``reliability dlq replay``. A replayed entry that is served is marked ``replayed``.
"""

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from reliability_assets.resource_keys import LLM_KEY
from reliability_assets.resources.llm import ResilientLLM
from reliability_assets.resources.redaction import redact_metadata, redacted_logger

REPLAYABLE = ("open", "in_flight")


class ReplayConfig(Config):
    keys: list[str] = Field(default_factory=list, description="Entries to replay; empty: every open entry.")


def replay_entries(llm: ResilientLLM, keys: list[str]) -> list[dict[str, str]]:
    """Replay ``keys`` (or every open and in-flight entry): one row per entry with the outcome."""
    if not keys:
        keys = [entry["key"] for status in REPLAYABLE for entry in llm.store.dead_letters(status=status)]
    rows = []
    for key in keys:
        try:
            result = llm.replay(key)
        except Exception as error:  # one bad entry must not skip the rest of the batch
            rows.append({"key": key, "outcome": f"error: {type(error).__name__}: {error}"})
            continue
        outcome = f"deferred again: {result.reason}" if result.deferred else f"served by {result.tier}"
        rows.append({"key": key, "outcome": outcome})
    return rows


@op(
    description="Replay dead letters through every LLM endpoint; served entries are marked replayed.",
    required_resource_keys={LLM_KEY},  # the ResilientLLM that wrote them, by its framework key
)
def replay_dead_letters(context: OpExecutionContext, config: ReplayConfig) -> Output[int]:
    rows = replay_entries(getattr(context.resources, LLM_KEY), config.keys)
    for row in rows:
        redacted_logger(context.log).info(f"{row['key']}: {row['outcome']}")
    table = "| key | outcome |\n| --- | --- |\n" + "\n".join(f"| {r['key']} | {r['outcome']} |" for r in rows)
    served = sum(r["outcome"].startswith("served") for r in rows)
    return Output(
        served,
        metadata=redact_metadata(
            {"replayed": len(rows), "served": served, "entries": MetadataValue.md(table)}
        ),
    )


@job(description="Replay the dead-letter queue (every open entry, or the keys given in the Launchpad).")
def dead_letter_replay() -> None:
    replay_dead_letters()
