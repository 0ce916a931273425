"""Helpers for testing a project that uses reliability-assets the way its users run it (a public namespace,
like ``reliability_assets.components``): ``fake_openai`` (an OpenAI-compatible server that injects faults),
``records_api`` (a paginated records API that fails on purpose) and ``live`` (``dg dev`` for tests)."""
