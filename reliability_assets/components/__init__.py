"""Dagster components: reliability gates, policies and the resilient LLM resource, declared in ``defs.yaml``.

``type: reliability_assets.components.GXGateComponent`` (or ``DriftGateComponent``,
``ReliabilityPolicyComponent``, ``ResilientLLMComponent``); ``dg scaffold defs <type> <path>`` writes a
commented ``defs.yaml`` to start from. Importing this package loads Dagster only: pandas, great_expectations,
evidently and openai are imported when a component builds its definitions or a check runs.
"""

from reliability_assets.components.gates import DriftGateComponent, GXGateComponent
from reliability_assets.components.llm import ResilientLLMComponent
from reliability_assets.components.policy import ReliabilityPolicyComponent

__all__ = ["DriftGateComponent", "GXGateComponent", "ReliabilityPolicyComponent", "ResilientLLMComponent"]
