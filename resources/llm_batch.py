"""``ResilientLLM.generate_many``: one request per item, concurrently, resumable, within a cost ceiling.

Every item goes through ``ResilientLLM.generate`` (tiers, breakers, screening, dead letters), so a batch
is exactly as resilient as one call; what this module adds is what only a batch needs:
- threads over the one SDK client per endpoint: the store-backed limiter paces every request of every
  process, so concurrency hides latency and never exceeds the provider's quota;
- a checkpoint (``resources.batch_checkpoint``) written as each item is served, read first on a rerun:
  a step killed half-way and retried re-sends none of what it already got;
- a per-run cost ceiling: each request reserves its worst case (prompt + max_tokens at the dearest tier)
  before it is sent, and once the spend (this run's earlier attempts included) and the reservations reach
  the ceiling, the rest are deferred, a dead letter each, with the reason;
- per-item dead letters: an item nobody serves is one entry in the queue, the batch returns the rest.
LiteLLM's router and LangChain's ``batch`` give concurrency and fallbacks, neither a resumable checkpoint
nor per-item dead letters, hence this module.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Generic

from dagster import get_dagster_logger
from pydantic import BaseModel, Field

from reliability_assets.resources.llm_request import request_key
from reliability_assets.resources.llm_result import LLMResult, Messages, T, _Call
from reliability_assets.resources.redaction import redact_metadata
from reliability_assets.resources.tokens import count_messages
from reliability_assets.resources.tracing import span

if TYPE_CHECKING:
    from reliability_assets.resources.llm import ResilientLLM

#: Progress lines in the run's log: at most one per this many seconds (and one at the end).
PROGRESS_EVERY_S = 15.0


class BatchResult(BaseModel, Generic[T]):
    """What ``generate_many`` returns: a result per item, in input order, and what the batch cost."""

    results: dict[str, LLMResult[T]] = Field(default_factory=dict)
    resumed: int = 0  # items taken from the checkpoint, not sent again
    sent: int = 0  # requests that went to a provider in this call (items asking the same thing share one)
    cost_usd: float = 0.0  # spent in this call
    cost_before_usd: float = 0.0  # spent on the resumed items by earlier attempts of this run
    cost_ceiling_usd: float | None = None
    cost_ceiling_hit: bool = False
    checkpoint: str = ""
    elapsed_s: float = 0.0

    @property
    def outputs(self) -> dict[str, T]:
        """The served items' answers, by item id."""
        return {item: r.output for item, r in self.results.items() if r.output is not None}

    @property
    def deferred(self) -> dict[str, str]:
        """Item id -> why nobody served it (each is a dead letter in the store)."""
        return {item: r.reason for item, r in self.results.items() if r.deferred}

    @property
    def per_tier(self) -> dict[str, int]:
        """Served items per tier (endpoint names, ``cache``, ``deterministic``)."""
        return dict(Counter(r.tier for r in self.results.values() if not r.deferred))

    @property
    def degraded(self) -> int:
        """Items served by a fallback tier (the deferred ones not counted)."""
        return sum(1 for r in self.results.values() if r.degraded and not r.deferred)

    def metadata(self) -> dict[str, Any]:
        """Materialization metadata under ``llm/batch/`` (counts, shares, tiers, cost; no prompts)."""
        items = len(self.results)
        deferred = self.deferred
        reasons = Counter(reason.split(":")[0][:80] for reason in deferred.values())
        ceiling = (
            {} if self.cost_ceiling_usd is None else {"llm/batch/cost_ceiling_usd": self.cost_ceiling_usd}
        )
        return redact_metadata(
            {
                "llm/batch/items": items,
                "llm/batch/served": items - len(deferred),
                "llm/batch/deferred": len(deferred),
                "llm/batch/deferred_share": round(len(deferred) / items, 4) if items else 0.0,
                "llm/batch/deferred_reasons": json.dumps(dict(reasons.most_common(5))),
                "llm/batch/degraded": self.degraded,
                "llm/batch/degraded_share": round(self.degraded / items, 4) if items else 0.0,
                "llm/batch/per_tier": json.dumps(self.per_tier),
                "llm/batch/resumed": self.resumed,
                "llm/batch/sent": self.sent,
                "llm/batch/prompt_tokens": sum(r.prompt_tokens for r in self.results.values()),
                "llm/batch/completion_tokens": sum(r.completion_tokens for r in self.results.values()),
                "llm/cost_usd": round(self.cost_usd, 6),
                "llm/batch/cost_before_usd": round(self.cost_before_usd, 6),
                **ceiling,
                "llm/batch/cost_ceiling_hit": self.cost_ceiling_hit,
                "llm/batch/checkpoint": self.checkpoint,
                "llm/batch/elapsed_s": round(self.elapsed_s, 3),
            }
        )


class _Budget:
    """The run's spend against its ceiling, with the worst case of every request in flight reserved."""

    def __init__(self, ceiling: float | None, spent: float) -> None:
        self.ceiling, self.spent, self.reserved = ceiling, spent, 0.0
        self.hit = False
        self._lock = threading.Lock()

    def reserve(self, worst: float) -> str:
        """ "" when the request may be sent; else why not (and nothing is reserved)."""
        with self._lock:
            if self.ceiling is None:
                return ""
            if self.hit or self.spent + self.reserved + worst > self.ceiling:
                self.hit = True
                return (
                    f"cost ceiling: ${self.ceiling:.4f} for this run would be passed (spent "
                    f"${self.spent:.4f}, ${self.reserved:.4f} in flight, this item up to ${worst:.4f})"
                )
            self.reserved += worst
            return ""

    def settle(self, worst: float, cost: float) -> None:
        with self._lock:
            if self.ceiling is not None:
                self.reserved -= worst
            self.spent += cost


def generate_many(
    llm: ResilientLLM,
    items: Mapping[str, Messages],
    *,
    schema: type[T],
    source: str,
    checkpoint: str | None = None,
    deterministic: Callable[[str], T] | None = None,
    untrusted: Callable[[str], Sequence[str]] | None = None,
    concurrency: int = 8,
    cost_ceiling_usd: float | None = None,
    chaos: str | None = None,
    max_tokens: int | None = None,
) -> BatchResult[T]:
    """See ``ResilientLLM.generate_many``."""
    from reliability_assets.resources.batch_checkpoint import ServedItem, load_items, save_items
    from reliability_assets.resources.llm import quiet_events

    if concurrency < 1:
        raise ValueError(f"concurrency={concurrency}: use 1 or more worker threads")
    started = time.monotonic()
    name = checkpoint or source
    answer_tokens = max_tokens or llm.max_tokens
    log = get_dagster_logger()
    keys = {item: request_key(messages, schema) for item, messages in items.items()}
    kept = load_items(llm.store, name)
    batch: BatchResult[T] = BatchResult(checkpoint=name, cost_ceiling_usd=cost_ceiling_usd)
    results: dict[str, LLMResult[T]] = {}
    for item in items:
        row = kept.get(item)
        if row is not None and row.request_key == keys[item]:  # the same question: resume its answer
            results[item] = LLMResult(
                output=schema.model_validate(row.output),
                tier=row.tier,
                degraded=row.degraded,
                resumed=True,
                reason=f"resumed from checkpoint {name!r}",
            )
            batch.cost_before_usd += row.cost_usd
    batch.resumed = len(results)
    # Items asking the very same thing (same messages, same schema) are asked once: the first of them
    # stands for the group (its deterministic answer and untrusted texts too) and the answer is shared.
    groups: dict[str, list[str]] = {}
    for item in items:
        if item not in results:
            groups.setdefault(keys[item], []).append(item)
    todo = [group[0] for group in groups.values()]
    budget = _Budget(cost_ceiling_usd, batch.cost_before_usd)
    prices = [(e.model, e.input_price_per_1k, e.output_price_per_1k) for e in llm.configured_endpoints()]

    def worst_case(messages: Messages) -> float:
        if cost_ceiling_usd is None or not prices:
            return 0.0
        return max(
            (count_messages(messages, model=model).tokens * price_in + answer_tokens * price_out) / 1000
            for model, price_in, price_out in prices
        )

    def one(item: str) -> LLMResult[T]:
        messages = items[item]
        worst = worst_case(messages)
        if why := budget.reserve(worst):
            return _defer_unsent(llm, item_key=keys[item], messages=messages, schema=schema, source=source,
                                 reason=why)  # fmt: skip
        try:
            with quiet_events():
                result = llm.generate(
                    messages,
                    schema=schema,
                    source=source,
                    deterministic=(lambda: deterministic(item)) if deterministic is not None else None,
                    untrusted=untrusted(item) if untrusted is not None else (),
                    chaos=chaos,
                    max_tokens=max_tokens,
                )
        finally:
            budget.settle(worst, 0.0)
        budget.settle(0.0, result.cost_usd)
        # Served by the deterministic tier with nothing sent: nothing was paid, recomputing it is free.
        free = result.tier == "deterministic" and not result.attempts
        if not result.deferred and result.output is not None and not free:
            output = result.output.model_dump(mode="json")
            served = [
                ServedItem(
                    item=member,
                    request_key=keys[item],
                    tier=result.tier,
                    degraded=result.degraded,
                    output=output,
                    # What the answer cost is the first item's: the others were not paid for.
                    prompt_tokens=result.prompt_tokens if member == item else 0,
                    completion_tokens=result.completion_tokens if member == item else 0,
                    cost_usd=result.cost_usd if member == item else 0.0,
                )
                for member in groups[keys[item]]
            ]
            save_items(llm.store, name, served)  # before the next item: a kill now loses nothing served
        return result

    if batch.resumed:
        log.info(f"{source}: {batch.resumed} of {len(items)} items resumed from checkpoint {name!r}")
    last_report = time.monotonic()
    attributes = {"reliability.source": source, "reliability.batch.items": len(items)}
    # The items' spans are its children: each worker runs in a copy of this context (``_run``).
    with span("reliability.llm.generate_many", attributes) as batch_span:
        for item, result in _run(one, todo, concurrency):
            shared = {"cost_usd": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "attempts": []}
            for member in groups[keys[item]]:
                results[member] = result if member == item else result.model_copy(update=shared)
            if result.attempts:
                batch.sent += 1
            batch.cost_usd += result.cost_usd
            if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                log.info(_progress(source, results, len(items), batch.cost_usd))
        batch.results = {item: results[item] for item in items}
        batch.cost_ceiling_hit = budget.hit
        batch.elapsed_s = time.monotonic() - started
        batch_span.update(
            {
                "reliability.batch.served": len(batch.outputs),
                "reliability.batch.deferred": len(batch.deferred),
                "reliability.batch.resumed": batch.resumed,
                "reliability.batch.sent": batch.sent,
                "reliability.batch.cost_usd": round(batch.cost_usd, 6),
                "reliability.batch.cost_ceiling_hit": batch.cost_ceiling_hit,
            }
        )
    log.info(_progress(source, results, len(items), batch.cost_usd) + f" in {batch.elapsed_s:.1f}s")
    return batch


def _run(
    one: Callable[[str], LLMResult[T]], todo: list[str], concurrency: int
) -> Iterator[tuple[str, LLMResult[T]]]:
    """Each item's result as it completes. At most ``concurrency`` in flight (so a stop, an interrupt or a
    terminated run leaves no queue of submitted work behind); each task runs in a copy of the caller's
    context, so a trace span or the Dagster step context seen by the caller is seen by every request."""
    if not todo:
        return
    pending: dict[Future[LLMResult[T]], str] = {}
    queue = iter(todo)
    with ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="llm-batch") as pool:
        try:
            while True:
                while len(pending) < concurrency and (item := next(queue, None)) is not None:
                    pending[pool.submit(contextvars.copy_context().run, one, item)] = item
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _defer_unsent(
    llm: ResilientLLM, *, item_key: str, messages: Messages, schema: type[T], source: str, reason: str
) -> LLMResult[T]:
    """An item not sent at all (the cost ceiling): a dead letter with the full request, for a replay."""
    request = {"messages": messages, "schema": f"{schema.__module__}:{schema.__qualname__}"}
    call = _Call(key=item_key, source=source, messages=messages, request=request, written_ahead=False)
    return llm._defer(call, reason)


def _progress(source: str, results: Mapping[str, LLMResult[Any]], total: int, cost: float) -> str:
    done = len(results)
    deferred = sum(1 for r in results.values() if r.deferred)
    resumed = sum(1 for r in results.values() if r.resumed)
    tiers = Counter(r.tier for r in results.values() if not r.deferred)
    per_tier = ", ".join(f"{tier} {n}" for tier, n in tiers.most_common())
    return (
        f"{source}: {done}/{total} items done ({per_tier or 'none served'}; {deferred} deferred, "
        f"{resumed} resumed), ${cost:.4f} spent"
    )
