"""Launch runs through the Dagster webserver's GraphQL API, exactly as the Launchpad does, and follow them.

``reliability scenario``, the live end-to-end tests and the MTTR benchmark all go through here, so what
they verify is the path users take: the webserver's run launcher, the daemon's sensors ticking while the
run goes. (Dagster's ``DagsterGraphQLClient`` lives in dagster-graphql and needs ``gql``; this is the
handful of documented queries it would send, over httpx.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from reliability_assets.resources.redaction import RedactedMessage

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

_LOCATIONS = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name locationOrLoadError { __typename
    ... on RepositoryLocation { repositories { name } }
    ... on PythonError { message } } } }
  ... on PythonError { message } } }
"""
_LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) { launchRun(executionParams: $executionParams) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on PythonError { message }
  ... on Error { message } } }
"""
_REEXECUTE = """
mutation Reexecute($params: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on Error { message } } }
"""
_RUN = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { runId status jobName startTime endTime tags { key value } }
  ... on Error { message } } }
"""


class LaunchError(RedactedMessage, RuntimeError):
    """The webserver refused the launch or is not there; the message says why and what to do."""


class DagsterUI:
    """A Dagster webserver (``make dev`` serves one on http://127.0.0.1:3000)."""

    def __init__(self, url: str = "http://127.0.0.1:3000", *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def __enter__(self) -> DagsterUI:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables or {}}
            )
        except httpx.HTTPError as error:
            raise LaunchError(
                f"no Dagster webserver at {self.url} ({error}): start it with `make dev`"
            ) from None
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise LaunchError(f"GraphQL errors from {self.url}: {body['errors']}")
        data: dict[str, Any] = body["data"]
        return data

    def ready(self) -> bool:
        try:
            return self._http.get(f"{self.url}/server_info").status_code == 200
        except httpx.HTTPError:
            return False

    def location(self) -> tuple[str, str]:
        """(code location name, repository name) of the first loaded location; a load error is raised."""
        workspace = self.query(_LOCATIONS)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise LaunchError(f"workspace: {workspace.get('message')}")
        for entry in workspace["locationEntries"]:
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "RepositoryLocation":
                return entry["name"], loaded["repositories"][0]["name"]
            if loaded and loaded["__typename"] == "PythonError":
                raise LaunchError(f"code location {entry['name']} failed to load: {loaded['message']}")
        raise LaunchError("no code location is loaded yet")

    def launch(
        self,
        job: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        assets: Sequence[str] = (),
    ) -> str:
        """Launch ``job`` as the Launchpad does (only ``assets`` of it, as "Materialize selected" does,
        when given: "a/b" for a key with a prefix); returns the run id."""
        location, repository = self.location()
        selector: dict[str, Any] = {
            "repositoryLocationName": location,
            "repositoryName": repository,
            "jobName": job,
        }
        if assets:
            selector["assetSelection"] = [{"path": name.split("/")} for name in assets]
        params = {
            "selector": selector,
            "runConfigData": dict(run_config or {}),
            "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        result = self.query(_LAUNCH, {"executionParams": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            run_id: str = result["run"]["runId"]
            return run_id
        errors = [e["message"] for e in result.get("errors", [])] or [result.get("message")]
        raise LaunchError(f"launching {job}: {result['__typename']}: {'; '.join(map(str, errors))}")

    def reexecute(self, run_id: str, *, strategy: str = "FROM_FAILURE") -> str:
        """Re-execute ``run_id`` as the run page's "Re-execute from failure" button does (``ALL_STEPS``
        or ``FROM_ASSET_FAILURE`` too); returns the new run id. It shares the parent's ``root_run_id``."""
        params = {"parentRunId": run_id, "strategy": strategy}
        result = self.query(_REEXECUTE, {"params": params})["launchRunReexecution"]
        if result["__typename"] == "LaunchRunSuccess":
            new_id: str = result["run"]["runId"]
            return new_id
        raise LaunchError(f"re-executing {run_id}: {result['__typename']}: {result.get('message')}")

    def run(self, run_id: str) -> dict[str, Any]:
        """The run's status, job, start and end times and tags (a dict)."""
        found = self.query(_RUN, {"runId": run_id})["runOrError"]
        if found["__typename"] != "Run":
            raise LaunchError(f"run {run_id}: {found.get('message')}")
        found["tags"] = {t["key"]: t["value"] for t in found["tags"]}
        return found

    def wait(self, run_id: str, *, timeout_s: float = 600.0, poll_s: float = 1.0) -> dict[str, Any]:
        """Poll until the run is terminal; returns it. Raises ``TimeoutError`` with its last status."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(run_id)
            if run["status"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['status']} after {timeout_s:g} s")
            time.sleep(poll_s)
