"""ResilientLLM: ordered OpenAI-compatible endpoints, then the last validated answer (cache), then a
deterministic function the asset supplies, then human review (the dead-letter queue).

Each endpoint is called through the one retry loop (``resources.resilience.call_endpoint``) with the SDK's
own retries off, under one deadline for the whole request. What the loop cannot absorb comes back as a
decision this module acts on: fail over, re-ask with the validation error, raise max_tokens, trim or move to
a larger window, or send to human review. Every call returns an :class:`LLMResult` that says which tier
served, how, at what cost, and whether the answer is degraded.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dagster import get_dagster_logger
from pydantic import Field, field_validator

from reliability_assets.resources.base import ResilientResource
from reliability_assets.resources.chaos import LLM_FAULTS, LLMChaos, LLMChaosPlan, check_chaos
from reliability_assets.resources.llm_endpoint import (
    CHAOS_DEAD_URL,
    LLMEndpoint,
    breaker_name,
    client_for,
    skip_reason,
)
from reliability_assets.resources.llm_request import reask_prompt, send, trim
from reliability_assets.resources.llm_request import request_key as key_of
from reliability_assets.resources.llm_result import LLMResult, Messages, T, _Call
from reliability_assets.resources.redaction import (
    redact,
    redact_text,
    redacted_logger,
    register_fields,
    with_secrets_pinned,
)
from reliability_assets.resources.resilience import (
    Attempt,
    CallAction,
    Deadline,
    EndpointFailed,
    RateLimiter,
    call_endpoint,
)
from reliability_assets.resources.screening import Verdict, screen
from reliability_assets.resources.spool import drain_spool, spool_dead_letter
from reliability_assets.resources.tokens import count_messages
from reliability_assets.resources.tracing_attributes import attempt_span, traced_generate

if TYPE_CHECKING:
    from reliability_assets.resources.llm_batch import BatchResult

#: Set by a batch: per-request events go to a plain Python logger (``reliability_assets.llm``, debug), not
#: to the run's event log (a batch logs its progress instead): every line written there costs a database
#: write (~20 ms measured), and a 2,000-item batch would write 6,000. Each result keeps its events.
_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("reliability_llm_quiet", default=False)


def _event_logger() -> Any:
    return redacted_logger("reliability_assets.llm") if _QUIET.get() else get_dagster_logger()


@contextlib.contextmanager
def quiet_events() -> Iterator[None]:
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


class ResilientLLM(ResilientResource):
    """Tiered LLM access that keeps answering when providers fail, and says how it answered."""

    endpoints: list[LLMEndpoint] = Field(default_factory=list)
    deadline_s: float = Field(default=90.0, gt=0, description="One deadline per request, across all tiers.")
    max_tokens: int = Field(default=800, gt=0)
    max_reasks: int = Field(default=1, ge=0, description="Re-asks with the validation error, per endpoint.")
    chaos: LLMChaos = Field(
        default=LLMChaos.off,
        description="Fault injection: llm_primary_down (the first configured tier refuses connections), "
        "llm_down (every tier does) or off. The result's llm/chaos says what was asked and done, also when "
        "no tier is configured (nothing to fail).",
    )
    max_cost_usd_per_call: float | None = Field(
        default=None, description="Skip an endpoint whose worst-case cost (prompt + max_tokens) exceeds this."
    )

    @field_validator("chaos", mode="before")
    @classmethod
    def _known_chaos(cls, value: object) -> object:
        """A mode's value ('llm_down', '' or 'none' for off) in code; its name in the Launchpad."""
        return check_chaos(value, where="chaos", allowed=LLM_FAULTS) if isinstance(value, str) else value

    def configured_endpoints(self) -> list[LLMEndpoint]:
        """The tiers a request would try, in order: those with a base URL (and a key where they need one).
        None configured means the caller's deterministic fallback writes every answer."""
        return [e for e in self.endpoints if not skip_reason(e)]

    @traced_generate
    @with_secrets_pinned
    def generate(
        self,
        messages: Messages,
        *,
        schema: type[T],
        source: str,
        deterministic: Callable[[], T] | None = None,
        untrusted: Sequence[str] = (),
        chaos: str | None = None,
        use_cache: bool = True,
        max_tokens: int | None = None,
    ) -> LLMResult[T]:
        """Ask for a ``schema`` answer to ``messages``. ``untrusted`` texts (already inside the messages)
        are screened for prompt injection first. ``source`` names the caller in the dead-letter queue.
        ``max_tokens``: the answer's bound for this call (default: the resource's); a short answer (a
        label) should say so: the tokens-per-minute limit reserves prompt + max_tokens per request."""
        deadline = Deadline(self.deadline_s)
        register_fields(self)  # before anything is logged or stored: its keys are masked at every sink
        active_chaos = self.chaos if chaos is None else chaos
        log = _event_logger()
        configured = self.configured_endpoints()
        tiers = tuple(e.name for e in self.endpoints)
        # Planned before anything can end the request: the result says what was asked for, always.
        plan = LLMChaosPlan.of(active_chaos, tiers=tiers, configured=[e.name for e in configured])
        call = _Call(key=key_of(messages, schema), source=source, messages=messages, tiers=tiers, chaos=plan)
        call.max_tokens = max_tokens or self.max_tokens

        def emit(kind: str, **fields: Any) -> None:
            line = self._redact(json.dumps({"event": kind, **fields}, default=str))
            call.events.append(json.loads(line))
            (log.debug if _QUIET.get() else log.info)(line)

        if plan.requested:
            emit("chaos", **plan.event())

        call.request = {"messages": messages, "schema": f"{schema.__module__}:{schema.__qualname__}"}
        # No tier to send to and a local answer at hand: nothing can be lost mid-call, so no write-ahead
        # (two store writes per request, thousands in a batch); a deferral still writes its letter.
        call.written_ahead = bool(configured) or deterministic is None
        try:
            if call.written_ahead:
                self.store.begin_request(key=call.key, source=source, request=call.request)
            if moved := drain_spool(self.store):  # a file check when nothing was spooled
                emit("spool_drained", dead_letters=moved)
        except Exception as error:  # a store that cannot be opened or written: see _without_store
            return self._without_store(call, error, deterministic, emit)
        verdicts = [screen(text) for text in untrusted]
        worst = max((v.verdict for v in verdicts), key=list(Verdict).index, default=Verdict.allow)
        call.screening = worst.value
        if worst is Verdict.block:
            reason = "prompt injection: " + "; ".join(
                v.reason for v in verdicts if v.verdict is Verdict.block
            )
            emit("screening", verdict="block", reason=reason)
            return self._defer(call, reason)
        if worst is Verdict.flag:
            emit(
                "screening", verdict="flag", reasons=[v.reason for v in verdicts if v.verdict is Verdict.flag]
            )

        for endpoint in self.endpoints:
            if why := skip_reason(endpoint):
                call.skipped[endpoint.name] = why
                emit("skip", endpoint=endpoint.name, reason=why)
        for index, endpoint in enumerate(configured):
            if deadline.expired:
                call.skipped[endpoint.name] = "deadline reached"
                continue
            if over := self._over_budget(endpoint, messages, call.max_tokens):
                call.skipped[endpoint.name] = over
                emit("skip", endpoint=endpoint.name, reason=over)
                continue
            dead = endpoint.name in plan.targets
            # An equal share of the time left per remaining endpoint: a hanging primary cannot starve the
            # fallbacks. The share is carved out of the request's one deadline, never added to it.
            share = Deadline(deadline.remaining() / (len(configured) - index))
            result = self._try_endpoint(endpoint, messages, schema, share, call, emit, dead, configured)
            if isinstance(result, str):  # a reason to go to human review at once
                return self._defer(call, result)
            if result is not None:
                output, usage = result
                self.store.cache_put(call.key, endpoint.name, output.model_dump(mode="json"))
                # Full quality is the first tier's answer; a tier after it that is not set up (no local
                # server, say) takes nothing away from that.
                degraded = endpoint is not self.endpoints[0]
                return self._served(call, output, endpoint.name, degraded=degraded, **usage)

        cached = self._cached(call) if use_cache else None
        if cached is not None:
            emit("served", tier="cache", cached_from=cached["tier"])
            return self._served(call, schema.model_validate(cached["response"]), "cache")
        if deterministic is not None:
            emit("served", tier="deterministic")
            return self._served(call, deterministic(), "deterministic")
        if call.attempts:
            why = call.attempts[-1].error or "no answer"
        elif call.skipped:  # nothing was sent: say what refused each tier (breaker, limiter, budget, ...)
            why = "no request sent: " + "; ".join(
                f"{name}: {reason}" for name, reason in call.skipped.items()
            )
        else:
            why = "no endpoint configured and no fallback supplied"
        return self._defer(call, f"every tier exhausted: {why}")

    def generate_many(
        self,
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
        """Ask for a ``schema`` answer per item (item id -> messages), ``concurrency`` at a time, every
        request through the shared rate limits and breakers. Each served item is checkpointed as it
        completes under ``checkpoint`` (default ``source``): a rerun with the same checkpoint re-sends none
        of them. Past ``cost_ceiling_usd`` (this checkpoint's spend included) nothing more is sent. What no
        tier serves is a dead letter per item; the result holds every item. ``deterministic`` and
        ``untrusted`` take the item id; ``max_tokens`` bounds each answer (a label needs few: the
        tokens-per-minute limit reserves prompt + max_tokens per request). See ``resources.llm_batch``."""
        from reliability_assets.resources.llm_batch import generate_many

        return generate_many(
            self,
            items,
            schema=schema,
            source=source,
            checkpoint=checkpoint,
            deterministic=deterministic,
            untrusted=untrusted,
            concurrency=concurrency,
            cost_ceiling_usd=cost_ceiling_usd,
            chaos=chaos,
            max_tokens=max_tokens,
        )

    # --- one endpoint --------------------------------------------------------------------------------

    def _try_endpoint(
        self,
        endpoint: LLMEndpoint,
        messages: Messages,
        schema: type[T],
        deadline: Deadline,
        call: _Call,
        emit: Callable[..., None],
        dead: bool,
        configured: list[LLMEndpoint],
    ) -> tuple[T, dict[str, Any]] | str | None:
        """The parsed answer and its usage; a human-review reason; or None to fail over."""
        attempts = call.attempts
        base_url = CHAOS_DEAD_URL if dead else endpoint.base_url
        if dead:
            call.chaos_injected.append(endpoint.name)
            emit("chaos", endpoint=endpoint.name, fault="connection refused (injected)")
        name = breaker_name(endpoint, base_url)
        client = client_for(base_url, endpoint.api_key or "none", os.getpid())
        breaker = self.circuit_breaker(name, slow_call_duration_threshold_s=endpoint.timeout_s)
        limiter = RateLimiter(
            self.store,
            name,
            requests_per_minute=endpoint.requests_per_minute,
            tokens_per_minute=endpoint.tokens_per_minute,
        )
        history = self.history(name)
        later = configured[configured.index(endpoint) + 1 :]
        # What failing over would cost: the next tier's median latency; with no record of it yet, this
        # endpoint's own (tiers of one chain answer alike); None when there is no next tier.
        failover_s = None
        if later:
            following = self.history(breaker_name(later[0])).typical_s(min_samples=1)
            failover_s = following if following is not None else history.typical_s(min_samples=1)
        conversation = list(messages)
        max_tokens, reasks, raised, trimmed = call.max_tokens, 0, False, False
        while True:
            budget = count_messages(conversation, model=endpoint.model)
            if budget.tokens + max_tokens > endpoint.context_window:
                if any(e.context_window > endpoint.context_window for e in configured):
                    emit(
                        "escalate", endpoint=endpoint.name, reason=f"{budget.tokens} tokens exceed the window"
                    )
                    return None
                conversation = trim(conversation, endpoint.context_window - max_tokens, endpoint.model)
                trimmed = True

            request = functools.partial(
                send,
                client,
                model=endpoint.model,
                json_schema=endpoint.json_schema,
                messages=conversation,
                schema=schema,
                max_tokens=max_tokens,
            )

            try:
                (output, completion), tried = call_endpoint(
                    request,
                    endpoint=endpoint.name,
                    deadline=deadline,
                    timeout_s=endpoint.timeout_s,
                    breaker=breaker,
                    limiter=limiter,
                    tokens=budget.tokens + max_tokens,
                    max_attempts=endpoint.max_attempts,
                    backoff_initial_s=self.backoff_initial_s,
                    backoff_max_s=self.backoff_max_s,
                    on_event=emit,
                    history=history,
                    failover_s=failover_s,
                    **attempt_span(endpoint, base_url, max_tokens),
                )
            except EndpointFailed as failure:
                attempts.extend(self._redact_attempts(failure.attempts))
                if not failure.attempts:  # refused before sending (breaker, limiter, deadline)
                    call.skipped[endpoint.name] = self._redact(failure.decision.reason)
                action = failure.decision.action
                if action is CallAction.human_review:
                    return failure.decision.reason
                if action is CallAction.reask and reasks < self.max_reasks:
                    reasks += 1
                    emit("reask", endpoint=endpoint.name, error=failure.decision.reason[:300])
                    conversation = [
                        *conversation,
                        {"role": "user", "content": reask_prompt(failure.decision.reason)},
                    ]
                    continue
                if action is CallAction.raise_max_tokens and not raised:
                    raised, max_tokens = True, min(max_tokens * 2, endpoint.context_window // 2)
                    emit("raise_max_tokens", endpoint=endpoint.name, max_tokens=max_tokens)
                    continue
                if action is CallAction.trim_or_escalate and not trimmed:
                    if any(e.context_window > endpoint.context_window for e in configured):
                        return None
                    shorter = trim(conversation, endpoint.context_window // 2, endpoint.model)
                    trimmed = True
                    if shorter == conversation:  # the same request would fail the same way: never resend
                        emit("trim", endpoint=endpoint.name, changed=False, then="failover")
                        return None
                    conversation = shorter
                    emit("trim", endpoint=endpoint.name, changed=True)
                    continue
                emit("failover", endpoint=endpoint.name, action=action.value, reason=failure.decision.reason)
                return None
            attempts.extend(self._redact_attempts(tried))  # a served call's failed attempts too
            usage = completion.usage
            prompt = usage.prompt_tokens if usage else budget.tokens
            completion_tokens = usage.completion_tokens if usage else 0
            cost = (
                prompt * endpoint.input_price_per_1k + completion_tokens * endpoint.output_price_per_1k
            ) / 1000
            emit("served", tier=endpoint.name, prompt_tokens=prompt, completion_tokens=completion_tokens)
            return output, {
                "prompt_tokens": prompt,
                "completion_tokens": completion_tokens,
                "tokens_exact": usage is not None,
                "cost_usd": cost,
            }

    def _cached(self, call: _Call) -> dict | None:
        """The last validated answer to the request; None when there is none, or when the store cannot
        be read and nothing was written ahead (then the deterministic tier serves, as with no cache)."""
        try:
            return self.store.cache_get(call.key)
        except Exception:
            if call.written_ahead:
                raise
            return None

    def _redact(self, text: str) -> str:
        """A provider may echo a key back in an error, a code or a refusal: mask it before it is kept."""
        return redact_text(text)

    def _redact_attempts(self, attempts: list[Attempt]) -> list[Attempt]:
        for attempt in attempts:
            if attempt.error:
                attempt.error = self._redact(attempt.error)
        return attempts

    def _over_budget(self, endpoint: LLMEndpoint, messages: Messages, max_tokens: int) -> str:
        if self.max_cost_usd_per_call is None:
            return ""
        prompt = count_messages(messages, model=endpoint.model).tokens
        worst = (prompt * endpoint.input_price_per_1k + max_tokens * endpoint.output_price_per_1k) / 1000
        if worst <= self.max_cost_usd_per_call:
            return ""
        return f"over budget: up to ${worst:.4f} per call > ${self.max_cost_usd_per_call:.4f}"

    def replay(self, key: str) -> LLMResult[Any]:
        """Send a dead letter again through every endpoint (no cache, no deterministic tier: a person asked
        for a real answer). Served: the entry is marked ``replayed`` and the answer cached for its asset."""
        entry = self.store.dead_letter_entry(key)
        if entry is None:
            raise KeyError(f"no dead letter with key {key!r}")
        if entry["status"] == "in_flight":  # served, its write-ahead row would vanish: make it a letter first
            self.store.set_dead_letter_status(key, "open", "replayed while in flight")
        module, _, name = entry["request"]["schema"].partition(":")
        schema = getattr(importlib.import_module(module), name)
        result = self.generate(
            entry["request"]["messages"], schema=schema, source=entry["source"], use_cache=False
        )
        if not result.deferred:
            self.store.set_dead_letter_status(key, "replayed", f"served by {result.tier} on replay")
        return result

    def _without_store(
        self, call: _Call, error: Exception, deterministic: Callable[[], T] | None, emit: Callable[..., None]
    ) -> LLMResult[Any]:
        """The store is down: no provider is called (without the shared breakers and rate limits, every
        process would hammer a failing or rate-limited provider, and an unrecorded request would be lost
        if the step died), so the deterministic tier serves, saying why. With no deterministic tier the
        request is kept in the local spool (``resources.spool``) and moved into the store when it is back."""
        why = getattr(error, "description", None) or f"{type(error).__name__}: {error}"
        call.store_unavailable = self._redact(" ".join(str(why).split())[:500])
        for endpoint in self.endpoints:
            call.skipped[endpoint.name] = "not sent: the reliability store (breakers, rate limits) is down"
        emit("store_unavailable", reason=call.store_unavailable)
        if deterministic is not None:
            emit("served", tier="deterministic")
            return call.result(output=deterministic(), tier="deterministic", degraded=True)
        reason = self._redact(
            f"every tier exhausted: the reliability store is down ({call.store_unavailable})"
        )
        entry = {
            "key": call.key,
            "source": call.source,
            "reason": reason,
            "request": {"messages": call.messages},
        }
        path = spool_dead_letter({**entry, "attempts": []})
        event = {"event": "dead_letter", "key": call.key, "spooled_to": str(path)}
        return self._deferred(call, f"{reason}; kept in {path} until the store is back", event)

    # --- results ------------------------------------------------------------------------------------

    def _served(
        self, call: _Call, output: T, tier: str, *, degraded: bool = True, **usage: Any
    ) -> LLMResult[T]:
        if call.written_ahead:
            self.store.end_request(call.key, served_by=tier)
        # A model may repeat a key it saw (in an error, a prompt): the answer goes on to metadata, the
        # cache and the asset's output, so it is masked here, once, for all of them.
        dumped = output.model_dump(mode="json")
        if (masked := redact(dumped)) != dumped:
            output = type(output).model_validate(masked)
        return call.result(output=output, tier=tier, degraded=degraded, **usage)

    def _defer(self, call: _Call, reason: str) -> LLMResult[Any]:
        reason = self._redact(reason)
        if not call.written_ahead:  # the letter keeps the whole request (its schema too), for a replay
            self.store.begin_request(key=call.key, source=call.source, request=call.request)
        attempts = [a.as_dict() for a in call.attempts]
        self.store.dead_letter(
            key=call.key,
            source=call.source,
            reason=reason,
            request={"messages": call.messages},
            attempts=attempts,
        )
        return self._deferred(call, reason, {"event": "dead_letter", "key": call.key, "reason": reason})

    def _deferred(self, call: _Call, reason: str, event: dict[str, Any]) -> LLMResult[Any]:
        """The result of a request in human review (in the dead-letter queue, or spooled for it)."""
        call.events.append(event)
        log = _event_logger()
        (log.debug if _QUIET.get() else log.warning)(json.dumps(event))
        return call.result(
            output=None,
            tier="human_review",
            degraded=True,
            deferred=True,
            dead_letter_key=call.key,
            reason=reason,
        )


__all__ = ["LLMEndpoint", "LLMResult", "ResilientLLM", "quiet_events"]
