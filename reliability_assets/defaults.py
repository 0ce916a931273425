"""Defaults of the framework's own steps (checks, the scorecard): a user's assets choose their own."""

from __future__ import annotations

from dagster import Backoff, Jitter, RetryPolicy

#: Compute-only steps (pure pandas on loaded inputs: a check, the scorecard) fail deterministically: one
#: retry covers a transient storage lock; more would only repeat the same error.
COMPUTE_RETRY = RetryPolicy(max_retries=1, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
