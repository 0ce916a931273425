"""The UI in a real browser: `dagster dev`, a click on *Materialize*, the checks page with their statuses.

Playwright drives Debian's chromium (`/usr/bin/chromium`, installed by `.ci/run`); `playwright install`
is never used. Screenshots go to ``TEST_ARTIFACTS_DIR`` (default ``test-artifacts/browser/``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability_assets.cli import init_home
from tests.support import BIN, CHECK_NAMES, REPO
from tests.test_dev_server import _free_port, _graphql

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
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
#: For every wait in the browser (the UI polls; a loaded 2-core machine renders slowly).
UI_TIMEOUT_MS = 30_000


def _artifacts_dir() -> Path:
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO / "test-artifacts" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`make dev`'s server on a free loopback port, its own DAGSTER_HOME and data; stopped by PID."""
    home = init_home(tmp_path / "dagster_home")
    port = _free_port()
    log = tmp_path / "dagster-dev.log"
    # The reference defaults (clean generator data), whatever RELIABILITY_* the caller's shell sets.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELIABILITY_")}
    env |= {
        "DAGSTER_HOME": str(home),
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "RELIABILITY_DUCKDB_PATH": str(tmp_path / "reliability.duckdb"),
        "RELIABILITY_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite'}",
    }
    process = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115 - closed with the process
        start_new_session=True,  # its own process group: webserver, daemon, gRPC server and runs
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if _graphql(port, "{ assetNodes { assetKey { path } } }").get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"dagster dev did not serve the code location; log:\n{log.read_text()[-3000:]}")
        yield f"http://127.0.0.1:{port}", log
    finally:
        _stop_group(process)


def _live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies (orphans here may wait a while to be reaped)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then the same to anything of the group left behind (a
    code server can start while the daemon shuts down), SIGKILL after a grace period."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for sig, grace_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if not _live_members(process.pid):
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while _live_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)


def _wait_for_run(base_url: str, run_id: str, timeout_s: float = 90) -> str:
    port = int(base_url.rsplit(":", 1)[1])
    query = f'{{ runOrError(runId: "{run_id}") {{ __typename ... on Run {{ status }} }} }}'
    status = "unknown"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _graphql(port, query)["data"]["runOrError"].get("status", "unknown")
        if status in RUN_DONE:
            break
        time.sleep(1)
    return status


def test_materialize_in_the_browser_shows_the_check_statuses(ui: tuple[str, Path]) -> None:
    base_url, log = ui
    out = _artifacts_dir()
    asset_png, checks_png = out / f"{ASSET}-after-materialize.png", out / f"{ASSET}-checks.png"
    for old in (asset_png, checks_png, out / "failure.png"):
        old.unlink(missing_ok=True)
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            # On 127.0.0.1 a fresh instance opens "Join the Dagster community" a second after load,
            # over whatever is there: skip it, as a user would, whenever it shows up.
            community = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
            page.add_locator_handler(community, lambda d: d.get_by_role("button", name="Skip").click())

            page.goto(f"{base_url}/assets/{ASSET}")
            # The button's accessible name is "materialization Materialize" (icon label + text);
            # `$` leaves out "Materialize all" / "Materialize selected".
            page.get_by_role("button", name=re.compile(r"\bMaterialize$")).click()
            launched = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
            expect(launched).to_be_visible(timeout=UI_TIMEOUT_MS)
            run_link = page.locator('a[href*="/runs/"]', has_text="View").first
            run_id = (run_link.get_attribute("href") or "").rstrip("/").rsplit("/", 1)[-1]
            page.screenshot(path=asset_png)
            assert re.fullmatch(r"[0-9a-f-]{36}", run_id), f"no run link in the toast: {run_id!r}"

            status = _wait_for_run(base_url, run_id)
            assert status == "SUCCESS", f"run {run_id}: {status}; log:\n{log.read_text()[-3000:]}"

            page.goto(f"{base_url}/assets/{ASSET}?view=checks")
            expect(page.get_by_text(f"Checks ({len(ASSET_CHECKS)})", exact=True)).to_be_visible(
                timeout=UI_TIMEOUT_MS
            )
            for name in ASSET_CHECKS:
                # A row of the checks list: the name (a truncating div titled with it), then its status.
                row = page.locator("span", has=page.locator(f'[title="{name}"]'))
                expect(row, f"check {name} on the checks page").to_have_count(1, timeout=UI_TIMEOUT_MS)
                expect(row, f"status of check {name}").to_contain_text("Succeeded", timeout=UI_TIMEOUT_MS)
            # The first check is selected: its latest evaluation says Passed.
            expect(page.get_by_text("Evaluation result")).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("Passed", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.screenshot(path=checks_png)
        except Exception:
            page.screenshot(path=out / "failure.png")
            print(f"screenshot of the failure: {out / 'failure.png'}")
            raise
        finally:
            browser.close()

    for png in (asset_png, checks_png):
        print(f"screenshot: {png}")
        assert png.exists() and png.stat().st_size > 10_000, f"{png} missing or near-empty"
