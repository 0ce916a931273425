"""Reliability policies declared in ``defs.yaml``, on assets whose code lives elsewhere.

A policy is asset metadata (``reliability_policy(...)``, key ``reliability/policy``) that the remediation
sensor reads from the asset graph. Metadata belongs to the asset's definition, and a Dagster component can
only build its own definitions, so a YAML policy has to be applied where the asset is built. Two ways, the
two Dagster itself offers for changing attributes of assets a user did not write in YAML:

``ReliabilityPolicyComponent``
    Owns the Python file(s) or module(s) that define the assets (like ``dagster.DefinitionsComponent``
    owns its ``path``), loads their definitions and sets each policy on the assets it names. The YAML is
    typed: ``dg check yaml`` and editors validate it against the component's schema, an asset it names that
    the files do not define fails the load, and so does an asset given two policies (in two entries, or in
    the YAML and in Python). Put the component's ``defs.yaml`` in the folder with the Python file: a folder
    with a ``defs.yaml`` is that component, so Dagster does not load the file a second time.

``post_processing`` with the ``reliability_policy`` template function
    For assets another component builds (dbt, Sling, ...) or a whole folder: Dagster's own
    ``post_processing`` merges the metadata into the targeted assets, with this module as the
    ``template_vars_module``::

        type: dagster.DefsFolderComponent
        template_vars_module: reliability_assets.components.policy
        post_processing:
          assets:
            - target: "key:orders"
              attributes:
                metadata: "{{ reliability_policy(on_check_failure='fallback', owner='data-team') }}"

Both end in ``reliability_policy(...)``: the same validation (a ``rollback`` without ``rollback_job``, an
unknown alert route) fails the load, naming the field.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from dagster.components import Component, ComponentLoadContext, Model, Resolvable, scaffold_with
from pydantic import Field

from reliability_assets.components._scaffold import TemplateScaffolder

ActionName = Literal["fallback", "rollback", "alert", "halt"]


class PolicyEntry(Model):
    """One policy and the assets it is for (``reliability_policy``'s arguments)."""

    assets: list[str] = Field(description='Asset keys ("schema/table" for a multi-part key).')
    on_check_failure: ActionName = Field(
        default="alert",
        description="What a failing check triggers: fallback (re-materialize in fallback mode), rollback "
        "(run rollback_job), alert (tell people) or halt (alert: nothing will be done automatically).",
    )
    checks: dict[str, ActionName] = Field(default_factory=dict, description="Per check name: its own action.")
    rollback_job: str | None = Field(default=None, description="The job a rollback action launches.")
    rollback_model: str | None = Field(default=None, description="The model-registry name it rolls back.")
    owner: str | None = Field(default=None, description="Who is told, shown on incidents and alerts.")
    routes: dict[Literal["ERROR", "WARN"], list[str]] | None = Field(
        default=None, description="Alert channels per severity: 'all', 'inbox' or channel names."
    )
    max_actions: int = Field(default=3, description="At most this many automatic actions per window.")
    window_s: float = Field(default=6 * 3600, description="The window of max_actions, in seconds.")

    def metadata(self, where: str) -> dict[str, Any]:
        from reliability_assets import reliability_policy as build

        try:
            return build(**self.model_dump(exclude={"assets"}, exclude_none=True))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None


class _PolicyScaffolder(TemplateScaffolder):
    template = """\
  # The Python files (next to this defs.yaml) or modules that define the assets: this component loads them.
  python_files: [assets.py]
  # modules: [my_project.assets]
  policies:
    - assets: [{asset}]
      # fallback, rollback (needs rollback_job), alert or halt
      on_check_failure: fallback
      owner: data-team
      # checks: {gx_suite_warnings: alert}
      # routes: {ERROR: [all], WARN: [inbox]}
"""
    attributes = {"python_files": ["assets.py"], "policies": [{"assets": ["{asset}"]}]}  # noqa: RUF012

    def write_extra_files(self, target: Path, asset: str) -> None:
        assets = target / "assets.py"
        if not assets.exists():
            assets.write_text(
                "import dagster as dg\n\n\n"
                f"@dg.asset\ndef {asset.replace('/', '_')}() -> None:\n"
                '    """The asset the policy in defs.yaml is for."""\n',
                encoding="utf-8",
            )


@scaffold_with(_PolicyScaffolder)
class ReliabilityPolicyComponent(Component, Resolvable, Model):
    """Loads the definitions of Python files or modules and declares reliability policies on their assets."""

    python_files: list[str] = Field(
        default_factory=list, description="Python files relative to this defs.yaml that define the assets."
    )
    modules: list[str] = Field(
        default_factory=list,
        description="Importable modules that define the assets (outside the defs folder, which Dagster "
        "loads by itself).",
    )
    policies: list[PolicyEntry] = Field(description="The policies, each with the assets it is for.")

    def build_defs(self, context: ComponentLoadContext) -> dg.Definitions:
        import importlib

        if not self.python_files and not self.modules:
            raise ValueError(
                f"{context.path}: ReliabilityPolicyComponent needs python_files or modules: "
                "the Python that defines the assets its policies are for"
            )
        modules = [context.load_defs_relative_python_module(Path(p)) for p in self.python_files]
        modules += [importlib.import_module(m) for m in self.modules]
        with warnings.catch_warnings():  # preview APIs Dagster's own defs loading uses the same way
            warnings.simplefilter("ignore", dg.PreviewWarning)
            defs = dg.Definitions.merge(*(dg.load_definitions_from_module(m) for m in modules))

        wanted: dict[dg.AssetKey, dict[str, Any]] = {}
        for i, entry in enumerate(self.policies):
            if not entry.assets:
                raise ValueError(f"policies[{i}].assets: name at least one asset the policy is for")
            metadata = entry.metadata(f"policies[{i}]")
            for name in entry.assets:
                key = dg.AssetKey.from_user_string(name)
                if key in wanted:
                    raise ValueError(f"policies[{i}]: asset {name!r} already has a policy in this defs.yaml")
                wanted[key] = metadata
        from reliability_assets.remediation import POLICY_KEY

        found: set[dg.AssetKey] = set()

        def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
            if spec.key not in wanted:
                return spec
            if POLICY_KEY in spec.metadata:
                raise ValueError(
                    f"asset {spec.key.to_user_string()!r} declares a reliability policy in Python already: "
                    "declare it in one place (remove it from the Python or from this defs.yaml)"
                )
            found.add(spec.key)
            return spec.merge_attributes(metadata=wanted[spec.key])

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            defs = defs.map_asset_specs(func=apply)
        if missing := [k.to_user_string() for k in wanted if k not in found]:
            known = sorted(k.to_user_string() for a in defs.assets or [] for k in _keys(a))
            raise ValueError(
                f"policies name asset(s) {missing} that {', '.join(self.python_files + self.modules)} do not "
                f"define (defined: {known})"
            )
        return defs


def _keys(asset: Any) -> list[dg.AssetKey]:
    if isinstance(asset, dg.AssetsDefinition):
        return list(asset.keys)
    return [asset.key] if hasattr(asset, "key") else []


@dg.template_var
def reliability_policy() -> Callable[..., dict[str, Any]]:
    """``{{ reliability_policy(on_check_failure='fallback', ...) }}`` in ``post_processing``: the policy
    metadata, with ``reliability_policy``'s validation (a wrong value fails the load, naming the field)."""
    from reliability_assets import reliability_policy as build

    return build
