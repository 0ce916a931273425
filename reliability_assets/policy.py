"""Defaults every reference asset shares: step retries, freshness, ownership.

The declarative per-asset reliability policy (fallback, rollback target, alert route) grows here.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import Backoff, FreshnessPolicy, Jitter, RetryPolicy

OWNERS = ["team:analytics-engineering"]

#: Run tag for fault injection on purpose: llm_primary_down, llm_down, api_down, api_slow,
#: api_rate_limited, api_bad_records (RELIABILITY_CHAOS / RELIABILITY_API_CHAOS set the default).
CHAOS_TAG = "reliability/chaos"

#: The outer, step-level net (resources own the inner retry loop): 3 retries at ~2 s, ~4 s, ~8 s, +-jitter.
STEP_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

#: Compute-only steps (pure pandas/sklearn on loaded inputs) fail deterministically: one retry covers a
#: transient storage lock; more would only repeat the same error.
COMPUTE_RETRY = RetryPolicy(max_retries=1, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

#: Raw sources and the executive outputs are refreshed daily: warn after a day, fail after a day and 2 h.
DAILY_WARN, DAILY_FAIL = timedelta(hours=24), timedelta(hours=26)
DAILY = FreshnessPolicy.time_window(fail_window=DAILY_FAIL, warn_window=DAILY_WARN)

#: The model is retrained weekly.
WEEKLY = FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7))
