"""What a ``ResilientLLM`` call returns (:class:`LLMResult`) and the state one request builds up on the
way (``_Call``): kept apart from the tier logic in ``resources.llm``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from reliability_assets.resources.chaos import LLMChaosPlan
from reliability_assets.resources.redaction import redact_metadata
from reliability_assets.resources.resilience import Attempt
from reliability_assets.resources.screening import Verdict

T = TypeVar("T", bound=BaseModel)
Messages = list[dict[str, str]]


class LLMResult(BaseModel, Generic[T]):
    output: T | None
    tier: str  # endpoint name, "cache", "deterministic" or "human_review"
    degraded: bool
    deferred: bool = False  # True: nobody could serve; see dead_letter_key
    dead_letter_key: str | None = None
    reason: str = ""
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_exact: bool = False
    cost_usd: float = 0.0
    latency_s: float = 0.0
    screening: str = "allow"
    store_unavailable: str = ""  # why the store could not be used: only non-network tiers could serve
    chaos: str = "off"  # the fault injection asked for and what it did, e.g. "... nothing to fail"
    resumed: bool = False  # taken from a batch checkpoint: not sent again, nothing paid now

    def metadata(self) -> dict[str, Any]:
        """What an asset puts in its materialization metadata (no prompts, no secrets)."""
        per_tier: dict[str, int] = {}
        for attempt in self.attempts:
            per_tier[attempt["endpoint"]] = per_tier.get(attempt["endpoint"], 0) + 1
        return redact_metadata(
            {
                "llm/tier": self.tier,
                "llm/degraded": self.degraded,
                "llm/deferred": self.deferred,
                "llm/attempts": sum(per_tier.values()),
                "llm/attempts_per_tier": json.dumps(per_tier),
                "llm/skipped": json.dumps(self.skipped),
                "llm/waited_s": round(sum(a.get("waited_s", 0.0) for a in self.attempts), 3),
                "llm/latency_s": round(self.latency_s, 3),
                # The last attempt's timeout: learned from the endpoint's latencies, or the configured one.
                "llm/timeout_s": next(
                    (a["timeout_s"] for a in reversed(self.attempts) if a.get("timeout_s")), 0.0
                ),
                "llm/prompt_tokens": self.prompt_tokens,
                "llm/completion_tokens": self.completion_tokens,
                "llm/cost_usd": round(self.cost_usd, 6),
                "llm/screening": self.screening,
                "llm/dead_letter_key": self.dead_letter_key or "",
                "llm/store": f"unavailable: {self.store_unavailable}" if self.store_unavailable else "ok",
                "llm/chaos": self.chaos,
            }
        )


@dataclass
class _Call:
    """One request's state: what its result and its dead-letter entry report."""

    key: str
    source: str
    messages: Messages
    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    screening: str = Verdict.allow.value
    store_unavailable: str = ""
    tiers: tuple[str, ...] = ()  # every endpoint's name, in order
    chaos: LLMChaosPlan = field(default_factory=LLMChaosPlan)
    chaos_injected: list[str] = field(default_factory=list)  # tiers that refused connections on purpose
    request: dict[str, Any] = field(default_factory=dict)  # what a dead letter keeps: messages and schema
    written_ahead: bool = True  # recorded in_flight before any provider was called
    max_tokens: int = 800  # the answer's bound for this call

    def result(self, **fields: Any) -> LLMResult[Any]:
        return LLMResult(
            store_unavailable=self.store_unavailable,
            attempts=[a.as_dict() for a in self.attempts],
            skipped=self.skipped,
            events=self.events,
            latency_s=time.monotonic() - self.started,
            screening=self.screening,
            chaos=self.chaos.describe(tiers=self.tiers, injected=self.chaos_injected, skipped=self.skipped),
            **fields,
        )
