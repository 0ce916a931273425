"""The reference pipeline: the framework's first user (customer analytics with a churn model, KPIs and an
LLM-written executive summary), built on the public API ``reliability_assets`` only.

Its code location is ``reliability_assets.reference.definitions`` (``workspace.yaml``, ``[tool.dg]``); its
CLI, ``reliability``, adds the reference's demo and scenarios to the framework's commands.
"""
