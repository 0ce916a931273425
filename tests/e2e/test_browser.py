"""The user journeys in a real browser, against what `make dev` starts (`reliability dev`: the webserver,
the daemon, the report server and the local fault-injecting LLM server), driven as a person would:

1. *Materialize all* on the asset graph; every check of ``customers`` passes.
2. The ``corrupted`` scenario set in the Launchpad's editor and launched with *Launch Run*; the gate fails,
   the sensor launches a fallback, and the alert shows on the asset's own Events tab with nobody
   materializing anything; the failed evaluation carries its per-expectation table.
3. ``drifted`` from the Launchpad, with the ``reliability/chaos=llm_primary_down`` tag set in its tag
   editor: the drift check's picture opens from its metadata and the HTML report link is served over HTTP
   (200); offline, the summary is served by the secondary tier of the local server, and its metadata says
   the fault was injected (one run for both: each full run costs a minute of a loaded 2-core machine).

The journeys share one server and run in order (each starts from what the previous left, as a person's
session would). Playwright drives Debian's chromium (`/usr/bin/chromium`, installed by `.ci/run`);
`playwright install` is never used. Screenshots of every step go to ``TEST_ARTIFACTS_DIR`` (default
``test-artifacts/browser/``).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reliability_assets.home import init_home
from reliability_assets.launch import DagsterUI, LaunchError
from reliability_assets.testing.live import free_port, hermetic_env
from tests.support import BIN, CHECK_NAMES, REPO

CHROMIUM = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip(
        "chromium is not installed (/usr/bin/chromium; `.ci/run` installs it with "
        "`apt-get install chromium`)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')"
)
expect = sync_api.expect


ASSET = "customers"
#: The asset's checks as the code location defines them (gx_suite, quarantine_share, schema_unchanged, ...).
ASSET_CHECKS = sorted(name.split(":", 1)[1] for name in CHECK_NAMES if name.startswith(f"{ASSET}:"))
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
#: For every wait in the browser (the UI polls; a loaded 2-core machine renders slowly).
UI_TIMEOUT_MS = 45_000
#: Rows per table: enough for the scenarios' faults to show, small enough for a quick run.
SIZE = 1_000
#: `dg dev` names the location after [tool.dg.project] code_location_name.
LOCATION = "reliability_assets"
LAUNCHPAD = f"/locations/{LOCATION}/jobs/reference_pipeline/playground"
RUNS_WITH_TAG = """
query Runs($key: String!, $value: String!) { runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
  ... on Runs { results { runId status tags { key value } } } } }
"""
#: A metadata entry's label and its value, whatever its kind (the ones these journeys read).
ENTRY = """metadataEntries { label ... on TextMetadataEntry { text }
  ... on MarkdownMetadataEntry { mdStr } ... on UrlMetadataEntry { url } ... on PathMetadataEntry { path }
  ... on JsonMetadataEntry { jsonString } }"""
OBSERVATIONS = (
    "query Obs($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {"
    " assetObservations(limit: 50) { runId timestamp " + ENTRY + " } } } }"
)
MATERIALIZATION = (
    "query Mat($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {"
    " assetMaterializations(limit: 10) { runId timestamp " + ENTRY + " } } } }"
)
CHECK_EVALUATIONS = (
    "query Check($path: [String!]!, $name: String!) { assetCheckExecutions(assetKey: {path: $path},"
    " checkName: $name, limit: 10) { runId status evaluation { success " + ENTRY + " } } }"
)


@dataclass
class Dev:
    url: str
    ui: DagsterUI
    log: Path
    home: Path

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def wait_for(self, what: str, probe: Callable[[], Any], timeout_s: float = 300) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(1)
        pytest.fail(f"{what}: still waiting after {timeout_s:g} s; log tail:\n{self.tail()}")

    def runs_tagged(self, key: str, value: str) -> list[dict[str, Any]]:
        found = self.ui.query(RUNS_WITH_TAG, {"key": key, "value": value})["runsOrError"]
        runs: list[dict[str, Any]] = found.get("results", [])
        return runs

    def entries(self, query: str, field: str, path: list[str], **more: str) -> list[dict[str, Any]]:
        data = self.ui.query(query, {"path": path, **more})
        asset = data.get("assetOrError") or {}
        return list(asset.get(field) or [])

    def check_executions(self, asset: str, check: str) -> list[dict[str, Any]]:
        return list(
            self.ui.query(CHECK_EVALUATIONS, {"path": [asset], "name": check})["assetCheckExecutions"]
        )


def _artifacts_dir() -> Path:
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO / "test-artifacts" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """`reliability dev` (what `make dev` runs) on free loopback ports, its own DAGSTER_HOME and data,
    with no OpenAI key: offline, as a new user starts. Stopped as Ctrl-C stops it (SIGINT to its group)."""
    root = tmp_path_factory.mktemp("browser")
    home = init_home(root / "dagster_home")
    port = free_port()
    log = root / "reliability-dev.log"
    env = hermetic_env(root, DAGSTER_HOME=str(home), RELIABILITY_SIZE=str(SIZE))
    command = [
        str(BIN / "reliability"),
        "dev",
        "--port",
        str(port),
        "--reports-port",
        str(free_port()),
        "--llm-port",
        str(free_port()),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Dev(url=f"http://127.0.0.1:{port}", ui=DagsterUI(f"http://127.0.0.1:{port}"), log=log, home=home)

    def loaded() -> bool:
        if process.poll() is not None:
            pytest.fail(f"reliability dev exited ({process.returncode}); log:\n{server.tail()}")
        try:
            return bool(server.ui.ready() and server.ui.location())
        except LaunchError as error:
            if "failed to load" in str(error):
                pytest.fail(str(error))
            return False

    try:
        server.wait_for("the code location to load", loaded, timeout_s=180)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in _live_members(process.pid):
            os.kill(pid, signal.SIGKILL)
        server.ui.__exit__()


@pytest.fixture(scope="module")
def page(dev: Dev) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(UI_TIMEOUT_MS)
        # A fresh instance opens "Join the Dagster community" a second after load, over whatever is
        # there: skip it, as a person would, whenever it shows up.
        community = tab.get_by_role("dialog").filter(has_text="Join the Dagster community")
        tab.add_locator_handler(community, lambda d: d.get_by_role("button", name="Skip").click())
        try:
            yield tab
        finally:
            browser.close()


@pytest.fixture
def shots(page: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Path]]:
    """``shot(name)`` saves a screenshot of the page; every journey also leaves ``<test>-last.png``, the
    page as it ended (on a failure: what the browser showed)."""
    out = _artifacts_dir()
    taken: list[Path] = []

    def shot(name: str) -> Path:
        path = out / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        taken.append(path)
        return path

    yield shot
    page.screenshot(path=out / f"{request.node.name}-last.png")
    for path in taken:
        assert path.stat().st_size > 10_000, f"{path} is near-empty"


def _launch_from_launchpad(
    page: Any,
    dev: Dev,
    *,
    scenario: str,
    tags: Mapping[str, str] | None = None,
    shot: Callable[[], object] | None = None,
) -> str:
    """Set the source's scenario in the Launchpad's editor (and tags in its tag dialog), press *Launch
    Run*; the UI opens the run's page, whose URL gives the run id."""
    page.goto(dev.url + LAUNCHPAD)
    editor = page.locator(".CodeMirror").first
    expect(editor).to_contain_text("scenario", timeout=UI_TIMEOUT_MS)
    # What the Launchpad pre-fills: the source's scenario, seed and size, no resource internals.
    prefilled = editor.inner_text()
    assert "endpoints" not in prefilled and "api_key" not in prefilled, prefilled
    yaml = (
        f"resources:\n  source:\n    config:\n      scenario: {scenario}\n      seed: 7\n      size: {SIZE}\n"
    )
    # The editor is CodeMirror 5: set its text as a paste would (typing would auto-indent YAML).
    page.evaluate("text => document.querySelector('.CodeMirror').CodeMirror.setValue(text)", yaml)
    for key, value in (tags or {}).items():
        page.get_by_role("button", name="Edit tags").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_placeholder("Tag Key").last.fill(key)
        dialog.get_by_placeholder("Tag Value").last.fill(value)
        dialog.get_by_role("button", name="Apply").click()
        expect(dialog).to_be_hidden(timeout=UI_TIMEOUT_MS)
        expect(page.get_by_text(f"{key}: {value}").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    if shot is not None:
        shot()
    page.get_by_role("button", name=re.compile("Launch Run")).click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"), timeout=UI_TIMEOUT_MS)
    return str(page.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1])


def _wait_off_page(page: Any, dev: Dev, run_id: str) -> dict[str, Any]:
    """Wait for the run to end with the tab on a blank page: the run page re-renders its live log every
    poll, which costs a loaded 2-core machine a third of a core the runs themselves need."""
    page.goto("about:blank")
    return dev.ui.wait(run_id, timeout_s=400)


def _open_value(page: Any, key: str) -> None:
    """Open metadata entry ``key``'s value when the UI folds it behind *[Show ...]* (long markdown, big
    tables); a value shown inline needs no click."""
    row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    fold = row.get_by_text(re.compile(r"^\[Show "))
    if fold.count():
        fold.first.click()


def _labels(entries: list[dict[str, Any]]) -> dict[str, str]:
    return {
        e["label"]: str(
            e.get("text") or e.get("mdStr") or e.get("url") or e.get("path") or e.get("jsonString") or ""
        )
        for e in entries
    }


def test_1_materialize_all_from_the_asset_graph(page: Any, dev: Dev, shots: Callable[[str], Path]) -> None:
    page.goto(f"{dev.url}/asset-groups")
    page.get_by_role("button", name=re.compile(r"Materialize all")).click()
    expect(page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))).to_be_visible(timeout=UI_TIMEOUT_MS)
    run_link = page.locator('a[href*="/runs/"]', has_text="View").first
    run_id = (run_link.get_attribute("href") or "").rstrip("/").rsplit("/", 1)[-1]
    shots("01-materialize-all-launched")
    assert re.fullmatch(r"[0-9a-f-]{36}", run_id), f"no run link in the toast: {run_id!r}"
    run = _wait_off_page(page, dev, run_id)
    assert run["status"] == "SUCCESS", f"run {run_id}: {run['status']}; log:\n{dev.tail()}"

    page.goto(f"{dev.url}/assets/{ASSET}?view=checks")
    expect(page.get_by_text(f"Checks ({len(ASSET_CHECKS)})", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    for name in ASSET_CHECKS:
        # A row of the checks list: the name (a truncating div titled with it), then its status.
        row = page.locator("span", has=page.locator(f'[title="{name}"]'))
        expect(row, f"check {name} on the checks page").to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(row, f"status of check {name}").to_contain_text("Succeeded", timeout=UI_TIMEOUT_MS)
    shots("02-customers-checks-passed")


def test_2_corrupted_from_the_launchpad_falls_back_and_alerts_on_the_asset(
    page: Any, dev: Dev, shots: Callable[[str], Path]
) -> None:
    run_id = _launch_from_launchpad(
        page, dev, scenario="corrupted", shot=lambda: shots("03-launchpad-corrupted")
    )
    _wait_off_page(page, dev, run_id)

    # The sensor plans a fallback for the failed gate once the run has ended, and launches it.
    fallbacks = dev.wait_for(
        "a fallback run for the corrupted run",
        lambda: dev.runs_tagged("reliability/trigger_run", run_id),
        timeout_s=180,
    )
    fallback = dev.ui.wait(fallbacks[0]["runId"], timeout_s=400)
    assert fallback["status"] == "SUCCESS", f"fallback {fallback['runId']}: {fallback['status']}"

    # The failed evaluation itself carries the per-expectation table (the fallback's evaluation is newer).
    failed = [e for e in dev.check_executions(ASSET, "gx_suite") if e["runId"] == run_id]
    assert failed and failed[0]["evaluation"]["success"] is False, failed
    evidence = _labels(failed[0]["evaluation"]["metadataEntries"])
    table = next((v for k, v in evidence.items() if "|" in v and "expect_" in v), "")
    assert table, f"no per-expectation table in the failed evaluation: {sorted(evidence)}"

    # On the asset's own timeline, with nobody materializing anything: the sensor's observations.
    def alerted() -> list[dict[str, str]]:
        seen = [
            _labels(o["metadataEntries"]) for o in dev.entries(OBSERVATIONS, "assetObservations", [ASSET])
        ]
        return [s for s in seen if s.get("reliability/event")]

    events = dev.wait_for("the alert on the asset's timeline", alerted, timeout_s=120)
    kinds = {e["reliability/event"] for e in events}
    # Its links lead to this UI's run pages (`reliability dev` tells the sensors where the UI is).
    assert any(e.get("triggering_run") == f"{dev.url}/runs/{run_id}" for e in events), events
    page.goto(f"{dev.url}/assets/{ASSET}?view=events")
    expect(page.get_by_text("reliability/event").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    shots("04-customers-events-alert")
    assert kinds, events

    # The inbox is current without a materialization: its latest observation lists the alert.
    inbox = dev.wait_for(
        "the alert inbox observation",
        lambda: [
            o
            for o in dev.entries(OBSERVATIONS, "assetObservations", ["alert_inbox"])
            if "gx_suite" in " ".join(_labels(o["metadataEntries"]).values())
        ],
        timeout_s=120,
    )
    assert inbox
    page.goto(f"{dev.url}/assets/alert_inbox")
    _open_value(page, "alerts")
    expect(page.get_by_text(f"{ASSET}:gx_suite").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    shots("05-alert-inbox")
    page.keyboard.press("Escape")

    # Every check's latest result in one place, kept current by the sensor.
    page.goto(f"{dev.url}/assets/reliability_health")
    _open_value(page, "board")
    expect(page.get_by_text("FAILED").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    shots("06-reliability-health")
    page.keyboard.press("Escape")


def test_3_drifted_with_the_primary_model_down_shows_the_picture_and_fails_over(
    page: Any, dev: Dev, shots: Callable[[str], Path]
) -> None:
    run_id = _launch_from_launchpad(
        page,
        dev,
        scenario="drifted",
        tags={"reliability/chaos": "llm_primary_down"},
        shot=lambda: shots("09-launchpad-chaos-tag"),
    )
    run = _wait_off_page(page, dev, run_id)
    assert run["tags"].get("reliability/chaos") == "llm_primary_down", run["tags"]
    drift = [e for e in dev.check_executions("customer_features", "drift") if e["runId"] == run_id]
    assert drift and drift[0]["evaluation"]["success"] is False, drift
    meta = _labels(drift[0]["evaluation"]["metadataEntries"])
    picture = meta.get("picture", "")
    match = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", picture)
    assert match, f"no inline picture in the drift evaluation: {sorted(meta)}"
    assert base64.b64decode(match.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    report = meta.get("report", "")
    assert report.startswith("http://127.0.0.1:"), f"the report link is not served over HTTP: {report!r}"
    response = httpx.get(report, timeout=30)
    assert response.status_code == 200 and "<html" in response.text[:2000].lower(), response.status_code

    # In the UI: the check's evaluation, its picture one click away, then the report page.
    page.goto(f"{dev.url}/assets/customer_features?view=checks")
    page.get_by_text("drift", exact=True).first.click()
    page.get_by_role("tab", name="Execution history").click()
    page.get_by_text("Failed").first.click()
    _open_value(page, "picture")
    expect(page.get_by_role("dialog").locator('img[src^="data:image/png"]')).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    shots("07-drift-picture")
    page.keyboard.press("Escape")
    page.goto(report)
    shots("08-drift-report-served")

    # The summary of the same run: the primary tier was down (injected), the secondary served. This run's
    # materialization (a remediation run of an earlier journey may have written a later one).
    materialized = [
        m
        for m in dev.entries(MATERIALIZATION, "assetMaterializations", ["executive_summary"])
        if m["runId"] == run_id
    ]
    assert materialized, f"run {run_id} ({run['status']}) did not materialize executive_summary"
    meta = _labels(materialized[0]["metadataEntries"])
    shown = " ".join(f"{k}={v}" for k, v in meta.items())
    assert "secondary" in shown and "llm_primary_down" in shown, shown
    # This run's event, selected as the UI's own links select it (a later remediation run may be newer).
    page.goto(f"{dev.url}/assets/executive_summary?view=events&time={materialized[0]['timestamp']}")
    expect(page.get_by_text(f"Materialized in run {run_id[:8]}")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("llm_primary_down").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    shots("10-summary-failover")
