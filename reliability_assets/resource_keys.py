"""The resource keys the framework's definitions expect, as named constants (no imports at all, so the public
API can import them eagerly).

``reliability_definitions`` puts its resources under these keys; a user's own Definitions use them for what
the framework reads from theirs (``LLM_KEY``: the ``ResilientLLM`` whose dead letters the replay job
serves). Where a definition receives its resource by parameter name (Dagster's injection), the parameter is
named after the constant; ``tests/test_public_api.py`` asserts each definition's required keys.
"""

from __future__ import annotations

#: The ``ReliabilityStoreResource``: incidents, alerts, plans, drift references, breakers, dead letters.
RELIABILITY_STORE_KEY = "reliability"
#: The ``ResilientLLM`` that writes incident triage inside a sensor tick (short deadline); optional.
TRIAGE_LLM_KEY = "triage_llm"
#: The user's ``ResilientLLM``: the dead-letter replay job sends its open entries through it.
LLM_KEY = "llm"

__all__ = ["LLM_KEY", "RELIABILITY_STORE_KEY", "TRIAGE_LLM_KEY"]
