"""reliability-assets: Dagster assets that keep delivering when providers, APIs or data fail."""

import os

# Third-party telemetry off wherever the framework runs (GX and Evidently read these at import).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
