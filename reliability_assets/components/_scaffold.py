"""What ``dg scaffold defs <component> <path>`` writes: a commented ``defs.yaml`` that loads as written.

Dagster's default scaffolder dumps the attributes with PyYAML, which drops comments; a template that says
what each field does (and which ones are optional) is what a user edits next, so the YAML is written as
text. ``--format python`` falls back to Dagster's own ``component.py`` stub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster.components import Scaffolder, ScaffoldRequest, scaffold_component
from pydantic import BaseModel


class AssetParams(BaseModel):
    """``dg scaffold defs <component> <path> --asset orders``: the asset the gate or policy is for."""

    asset: str | None = None


def write_defs_yaml(request: ScaffoldRequest[Any], body: str, attributes: dict[str, Any]) -> None:
    """``body`` is the ``attributes:`` block (indented, commented); ``attributes`` the plain values for
    ``--format python`` and for appending to an existing ``defs.yaml`` (Dagster's own writer)."""
    if request.scaffold_format != "yaml" or request.append:
        scaffold_component(request, attributes)
        return
    text = f"type: {request.type_name}\n\nattributes:\n{body.rstrip()}\n"
    (Path(request.target_path) / "defs.yaml").write_text(text, encoding="utf-8")


class TemplateScaffolder(Scaffolder[AssetParams]):
    """A ``defs.yaml`` from the component's ``TEMPLATE`` (``{asset}`` filled from ``--asset``)."""

    template: str = ""
    attributes: dict[str, Any] = {}  # noqa: RUF012 (a class-level constant of each subclass)

    @classmethod
    def get_scaffold_params(cls) -> type[AssetParams]:
        return AssetParams

    def scaffold(self, request: ScaffoldRequest[AssetParams]) -> None:
        asset = (request.params.asset if request.params else None) or "my_asset"
        attributes = {k: (asset if v == "{asset}" else v) for k, v in self.attributes.items()}
        write_defs_yaml(request, self.template.replace("{asset}", asset), attributes)
        self.write_extra_files(Path(request.target_path), asset)

    def write_extra_files(self, target: Path, asset: str) -> None:
        """Files the template refers to (a GX suite); never overwrites the user's."""
