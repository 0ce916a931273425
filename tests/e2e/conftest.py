"""Everything under tests/e2e runs the product as its users do, so it carries the ``e2e`` marker
(``pytest -m e2e`` runs it alone, ``-m "not e2e"`` the fast rest)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
