"""Defaults every reference asset shares: step retries, freshness, ownership."""

from __future__ import annotations

from datetime import timedelta

from dagster import Backoff, FreshnessPolicy, Jitter, RetryPolicy

from reliability_assets import CHAOS_TAG, COMPUTE_RETRY

OWNERS = ["team:analytics-engineering"]


#: The outer, step-level net (resources own the inner retry loop): 3 retries at ~2 s, ~4 s, ~8 s, +-jitter.
STEP_RETRY = RetryPolicy(max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

__all__ = ["CHAOS_TAG", "COMPUTE_RETRY", "DAILY", "OWNERS", "STEP_RETRY", "WEEKLY"]

#: Raw sources and the executive outputs are refreshed daily: warn after a day, fail after a day and 2 h.
DAILY_WARN, DAILY_FAIL = timedelta(hours=24), timedelta(hours=26)
DAILY = FreshnessPolicy.time_window(fail_window=DAILY_FAIL, warn_window=DAILY_WARN)

#: The model is retrained weekly.
WEEKLY = FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7))
