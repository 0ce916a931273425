"""Sensors that turn check results and run failures into fallbacks, rollbacks and alerts."""
