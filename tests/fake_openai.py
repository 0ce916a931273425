"""Moved to ``reliability_assets.testing.fake_openai`` (shipped for users' tests); kept for old imports."""

from reliability_assets.testing.fake_openai import *  # noqa: F403
from reliability_assets.testing.fake_openai import __all__ as __all__
