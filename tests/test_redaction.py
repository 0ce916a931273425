"""The redaction layer: what it masks, and that every sink in the package goes through it."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from dagster import MetadataValue, TableRecord
from sqlalchemy import text

from reliability_assets.resources.redaction import (
    MASK,
    redact,
    redact_metadata,
    redact_text,
    redacted_logger,
    register,
    register_env,
    with_secrets_pinned,
)
from reliability_assets.resources.store import ReliabilityStore

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reliability_assets", "resources", "sensors")
KEY = "sk-test-4f9a8b7c6d5e4f3a2b1c"


def test_registered_secret_is_masked_inside_codes_urls_and_json() -> None:
    register("tok-9d8c7b6a5f4e")
    assert redact_text("code rate_limit_tok-9d8c7b6a5f4e!") == f"code rate_limit_{MASK}!"
    assert redact_text("https://x/y?token=tok-9d8c7b6a5f4e") == f"https://x/y?token={MASK}"
    nested = redact({"a": ["tok-9d8c7b6a5f4e", ("x", {"b": "see tok-9d8c7b6a5f4e"})], "n": 3})
    assert nested == {"a": [MASK, ("x", {"b": f"see {MASK}"})], "n": 3}


def test_environment_secrets_by_name_and_by_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_VENDOR_API_KEY", "vendorkey-123456")
    monkeypatch.setenv("MY_CUSTOM_THING", "custom-secret-value")
    assert "vendorkey-123456" not in redact_text("key vendorkey-123456")
    assert "custom-secret-value" in redact_text("custom-secret-value")  # not a secret-looking name
    register_env("MY_CUSTOM_THING")
    assert redact_text("custom-secret-value") == MASK


def test_a_pinned_call_sees_what_is_registered_during_it_and_the_next_call_the_new_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PINNED_TEST_API_KEY", "env-secret-before-the-call")

    @with_secrets_pinned
    def one_request() -> tuple[str, str]:
        before = redact_text("a env-secret-before-the-call b registered-mid-call-42")
        register("registered-mid-call-42")  # a resource's key registered inside the call
        return before, redact_text("a env-secret-before-the-call b registered-mid-call-42")

    before, after = one_request()
    assert before == f"a {MASK} b registered-mid-call-42"
    assert after == f"a {MASK} b {MASK}"
    monkeypatch.setenv("PINNED_TEST_TOKEN", "exported-after-the-call")  # the pin ended with the call
    assert redact_text("exported-after-the-call") == MASK


def test_url_quoted_forms_and_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELIABILITY_API_TOKEN", "a/b+c=d&e-123")
    assert redact_text("GET /x?t=a%2Fb%2Bc%3Dd%26e-123") == f"GET /x?t={MASK}"
    monkeypatch.setenv("RELIABILITY_STORE_URL", "postgresql://app:hunter2pw@db/x")
    assert "hunter2pw" not in redact_text("could not connect as app:hunter2pw")
    assert redact_text("mailtos://ops:pw1@smtp.example.com") == f"mailtos://ops:{MASK}@smtp.example.com"


def test_unregistered_key_shapes() -> None:
    assert redact_text("Incorrect API key provided: sk-proj-AbCdEf0123456789xyz") == (
        f"Incorrect API key provided: {MASK}"
    )
    assert redact_text("Authorization: Bearer abcdefgh12345678") == f"Authorization: Bearer {MASK}"


def test_dagster_metadata_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    metadata = redact_metadata(
        {
            "text": MetadataValue.text(f"code {KEY}"),
            "md": MetadataValue.md(f"| {KEY} |"),
            "json": MetadataValue.json({"reason": KEY}),
            "url": MetadataValue.url(f"https://x/?k={KEY}"),
            "table": MetadataValue.table([TableRecord({"reason": KEY, "n": 1})]),
            "plain": f"x {KEY}",
            "number": 3,
        }
    )
    assert KEY not in repr(metadata)
    assert metadata["number"] == 3
    assert metadata["md"].value == f"| {MASK} |"


def test_store_writes_are_redacted_in_every_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    store = ReliabilityStore(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.dead_letter(
        key="k1",
        source="test",
        reason=f"429 code rate_limit_{KEY}",
        request={"messages": [{"role": "user", "content": f"echo {KEY}"}]},
        attempts=[{"error": f"bad key {KEY}"}],
    )
    store.cache_put("c1", "primary", {"text": f"the key is {KEY}"})
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM dead_letters")).all()
        rows += connection.execute(text("SELECT * FROM response_cache")).all()
    assert rows and KEY not in repr(rows)
    assert MASK in repr(rows)
    assert (tmp_path / "s.sqlite").read_bytes().find(KEY.encode()) == -1


def test_loggers_are_redacted(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster import get_dagster_logger

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with caplog.at_level(logging.INFO):
        get_dagster_logger().info("provider said %s", KEY)
        redacted_logger("reliability_assets.some_module").warning(f"echo {KEY}")
        try:
            raise RuntimeError(f"boom {KEY}")
        except RuntimeError:
            redacted_logger("reliability_assets.other").exception("failed")
    assert len(caplog.records) == 3
    assert KEY not in caplog.text


# --- every sink in the package goes through the layer -------------------------------------------------

#: Calls that hand text to Dagster (event log, UI) and the keyword that carries it.
SINKS = {
    "AssetCheckResult": ("metadata", "description"),
    "MaterializeResult": ("metadata",),
    "Output": ("metadata",),
    "AssetMaterialization": ("metadata", "description"),
    "AssetObservation": ("metadata", "description"),
    "Failure": ("metadata", "description"),
    "add_output_metadata": ("metadata",),
    "add_asset_metadata": ("metadata",),
}
REDACTORS = {"redact", "redact_text", "redact_metadata"}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _safe(node: ast.expr) -> bool:
    """A literal, or a value that went through a redactor."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Call) and _name(node.func) in REDACTORS


def _sink_problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    where = path.relative_to(ROOT)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (name := _name(node.func)) in SINKS:
            given = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            if name in ("add_output_metadata", "add_asset_metadata") and node.args:
                given["metadata"] = node.args[0]
            if name == "Failure" and node.args:
                given["description"] = node.args[0]
            for keyword in SINKS[name]:
                if keyword in given and not _safe(given[keyword]):
                    problems.append(f"{where}:{node.lineno} {name}({keyword}=...) is not redacted")
        if isinstance(node, ast.Call) and _name(node.func) in ("getLogger", "get_dagster_logger"):
            parent = parents.get(node)
            named = bool(node.args or node.keywords)
            wrapped = isinstance(parent, ast.Call) and _name(parent.func) == "redacted_logger"
            if named and not wrapped and path.name != "redaction.py":  # get_dagster_logger() has the filter
                problems.append(f"{where}:{node.lineno} a logger not obtained through redacted_logger")
        if isinstance(node, ast.Attribute) and node.attr == "log" and _name(node.value) == "context":
            parent = parents.get(node)
            if not (isinstance(parent, ast.Call) and _name(parent.func) == "redacted_logger"):
                problems.append(f"{where}:{node.lineno} context.log used without redacted_logger")
        if isinstance(node, ast.Call) and _name(node.func) == "create_engine" and path.name != "store.py":
            problems.append(f"{where}:{node.lineno} an engine outside resources/store.py skips the hook")
        if isinstance(node, ast.Call) and _name(node.func) == "notify":
            for kw in node.keywords:
                if kw.arg in ("body", "title") and not _safe(kw.value):
                    problems.append(f"{where}:{node.lineno} an alert payload ({kw.arg}) is not redacted")
    return problems


_BUILTIN_ERRORS = {"Exception", "ValueError", "RuntimeError", "KeyError", "TypeError", "Failure", "OSError"}
#: Raised inside the local fault-injecting data API server, answered as HTTP, never logged by the framework.
_NOT_A_SINK = {"_Reject"}


def _exception_problems(files: list[Path]) -> list[str]:
    """Every exception class the package defines masks its message (``RedactedMessage`` in its bases, or
    a base of the package that has it): its text reaches the event log and every stack trace."""
    classes: dict[str, tuple[Path, int, list[str]]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = (path, node.lineno, [_name(b) for b in node.bases])

    def chain(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if name not in classes or name in seen:
            return {name}
        return {name}.union(*(chain(base, seen | {name}) for base in classes[name][2]))

    problems = []
    for name, (path, line, _) in classes.items():
        bases = chain(name) - {name}
        if bases & _BUILTIN_ERRORS and "RedactedMessage" not in bases and name not in _NOT_A_SINK:
            problems.append(
                f"{path.relative_to(ROOT)}:{line} exception {name} does not mix in RedactedMessage"
            )
    return problems


def test_every_sink_in_the_package_is_redacted() -> None:
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 40
    problems = [problem for path in files for problem in _sink_problems(path)]
    assert [*problems, *_exception_problems(files)] == []


def test_the_sink_scan_can_fail(tmp_path: Path) -> None:
    bad = ROOT / "reliability_assets" / "_scan_probe.py"
    try:
        bad.write_text(
            "from dagster import AssetCheckResult\n"
            "def f(context, reason):\n"
            "    context.log.info(reason)\n"
            "    return AssetCheckResult(passed=False, description=f'x {reason}', metadata={'r': reason})\n"
        )
        assert len(_sink_problems(bad)) == 3
        bad.write_text("class LeakyError(ValueError):\n    pass\n")
        assert len(_exception_problems([bad])) == 1
    finally:
        bad.unlink()
