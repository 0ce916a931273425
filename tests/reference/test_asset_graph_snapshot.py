"""The asset graph as reviewed: an accidental change to deps, groups, kinds, policies or checks shows here.

After an intended change: UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_asset_graph_snapshot.py
"""

import json
import os
from pathlib import Path

from reliability_assets.reference.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _describe_graph() -> dict:
    graph = defs.resolve_asset_graph()
    described = {}
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        node = graph.get(spec.key)
        retry = node.assets_def.op.retry_policy if node.is_executable else None
        described[spec.key.to_user_string()] = {
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "group": spec.group_name,
            "kinds": sorted(
                tag.removeprefix("dagster/kind/") for tag in spec.tags if tag.startswith("dagster/kind/")
            ),
            "owners": list(spec.owners),
            "freshness": repr(spec.freshness_policy) if spec.freshness_policy else None,
            "retry": repr(retry) if retry else None,
            "pool": node.assets_def.op.pool if node.is_executable else None,
            "executable": node.is_executable,
            "checks": sorted(
                f"{key.name} (blocking={graph.get_check_spec(key).blocking})"
                for key in graph.asset_check_keys
                if key.asset_key == spec.key
            ),
        }
    return described


def test_asset_graph_matches_the_reviewed_snapshot() -> None:
    current = _describe_graph()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    hint = "if intended, run UPDATE_SNAPSHOTS=1 pytest tests/test_asset_graph_snapshot.py"
    assert SNAPSHOT.exists(), f"no snapshot yet; {hint}"
    assert current == json.loads(SNAPSHOT.read_text()), f"the asset graph changed; {hint}"
