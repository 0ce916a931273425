"""Fixtures of the Components tests: a throwaway dg project per test (``support.Project``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.components.support import Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    made = Project(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield made
    for name in [n for n in sys.modules if n == made.module or n.startswith(made.module + ".")]:
        del sys.modules[name]


@pytest.fixture
def load_error(project: Project) -> Callable[[], str]:
    """The message (with causes) of a load that must fail."""

    def load() -> str:
        with pytest.raises(Exception) as info:
            project.load()
        error: BaseException | None = info.value
        parts = []
        while error is not None:
            parts.append(str(error))
            error = error.__cause__ or error.__context__
        return "\n".join(parts)

    return load
