"""Helpers for testing a project that uses reliability-assets the way its users run it."""
