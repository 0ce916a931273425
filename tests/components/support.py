"""Shared by the Components tests: a throwaway dg project (``dg.toml`` and ``src/<module>/defs/``), loaded
the way a project's definitions module loads it (``dagster.components.load_from_defs_folder``)."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import dagster as dg
from dagster.components import load_from_defs_folder


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.module = f"rc_project_{uuid.uuid4().hex[:8]}"
        (root / "dg.toml").write_text(
            f'directory_type = "project"\n\n[project]\nroot_module = "{self.module}"\n', encoding="utf-8"
        )
        self.defs = root / "src" / self.module / "defs"
        self.defs.mkdir(parents=True)
        (root / "src" / self.module / "__init__.py").write_text("", encoding="utf-8")

    def write(self, relative: str, text: str) -> Path:
        path = self.defs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def load(self) -> dg.Definitions:
        return load_from_defs_folder(path_within_project=self.root)


#: A frame asset the gates are declared on: ``order_id`` has a null, ``amount`` is fine.
ORDERS_PY = """
import dagster as dg
import pandas as pd


@dg.asset
def orders() -> pd.DataFrame:
    return pd.DataFrame({"order_id": [1, 2, None], "amount": [10.0, 12.5, 9.0]})
"""
