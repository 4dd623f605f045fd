"""`/openapi.json` tells the truth: schemathesis, with every check, against a live server.

A real uvicorn server on a free port and a temporary home, seeded through the API (an experiment, a
run with a metric, a tag and an artifact, a dataset version, a queued job, a registered model version
with an alias, a shadow, an alert, a token) so operations with ids reach real objects. Schemathesis runs
all its phases (examples and coverage in one run, fuzzing and stateful in another, so `-n 2` spreads
them) with all its checks and a bounded number of examples per operation; it must find no 5xx and no
disagreement between an answer and the schema. A route outside the document must be MLflow's (fuzzed by
`tests/test_fuzz_mlflow.py`) or excluded here with a reason.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CLIENT_HEADERS, ROOT, LiveServer, start_backend, stop_process, unique
from registry_support import tiny_model_files
from route_walk import every_route

from backend.db import Database
from backend.services import shadow

MAX_EXAMPLES = 6
"""Examples per operation in the fuzzing phase for an operation with a body (the coverage phase makes every
case the schema defines, whatever this says)."""
SMALL_EXAMPLES = 4
"""For an operation without a body: a few path and query parameters, whose edge cases the coverage
phase already sends."""
EXCLUDED_CHECKS = {
    "use_after_free": "deletes are soft by design: a deleted run or experiment is still read (and restored) by id",
}
CONTENT_CHECKED = {
    "/api/v1/jobs": "the pipeline is TOML whose keys and values the schema cannot state",
    "/api/v1/runs/search": "filter and order_by follow a grammar; page_token must be one this server issued",
    "/api/v1/runs/count": "filter follows a grammar",
    "/api/v1/runs/{run_id}/batch": "a series' steps, values and timestamps must have the same length",
    "/api/v1/import/runs": "a series' steps, values and timestamps must have the same length",
    "/api/v1/models/{name}/monitor": "a model with no alias, or several and none `production`, has no default "
                                     "to watch (the fuzzer makes such models through /api/v1/import/models)",
    "/api/v1/datasets/{name}/versions": "the body must be a readable CSV or Parquet file",
    "/api/v1/data/schema": "the body must be a readable CSV or Parquet file",
    "/api/v1/runs/{run_id}/artifacts/{path}": "a path that is a folder (or crosses a file) is refused",
    "/api/v1/runs/{run_id}/artifacts": "an artifact path must not hold control characters",
    "/api/v1/models/{name}/versions": "the run must hold a model file (model/model.skops)",
    "/api/v1/models/{name}/promote": "force needs a non-empty reason",
    "/api/v1/models/{name}/retrain": "the model's latest pipeline file must have a [retrain] table",
    "/api/v1/models/{name}/requests/{request_id}/reject": "a rejection needs a reason that is not blank",
    "/api/v1/models/{name}/feedback": "a label is a class (text up to 200 characters, integer, boolean) or a number",
    "/api/v1/models/{name}/aliases/{alias}/predict": "the rows must give the columns of the model's signature",
    "/api/v1/models/{name}/versions/{version}/predict": "the rows must give the columns of the model's signature",
    "/api/v1/alerts/{alert_id}/ack": "a resolved alert cannot be acknowledged",
    "/api/v1/alerts/{alert_id}/resolve": "a note must not be blank; a resolved alert cannot be resolved again",
}
"""Operations whose schema-valid requests may still be refused with 422 (positive_data_acceptance):
rules on the content that JSON Schema cannot express. Everything else must accept schema-valid data."""
CSV = b"x,y\n" + b"".join(f"{i},{i % 3}\n".encode() for i in range(20))
ALERTING = json.dumps({"monitor": {"alerts": [{"name": "idle", "kind": "no_traffic", "window": "1m"}]}}).encode()
"""The seeded model version's pipeline file: a rule that opens an alert at the first timer round."""
PIPELINE = """name = "fuzz"
task = "classification"
[data]
dataset = "{dataset}"
target = "y"
[[models]]
estimator = "LogisticRegression"
"""


NOT_FUZZED = {
    "/openapi.json": "the document the fuzzer reads",
    "/docs": "Swagger UI's HTML page, no input",
    "/docs/oauth2-redirect": "Swagger UI's HTML page, no input",
    "/redoc": "ReDoc's HTML page, no input",
}
"""Routes neither in `/openapi.json` (fuzzed here) nor MLflow's (fuzzed by `test_fuzz_mlflow`), with why."""


def test_every_route_is_fuzzed_or_excluded_with_a_reason() -> None:
    """A route added outside the OpenAPI document and outside the MLflow prefixes fails here until it is
    fuzzed or named in `NOT_FUZZED`; a route added to the document is fuzzed by the run below."""
    unfuzzed = {route.path for route in every_route() if not route.in_schema and not route.is_mlflow}
    assert unfuzzed == set(NOT_FUZZED), unfuzzed ^ set(NOT_FUZZED)


def seed(url: str, folder: Path) -> dict[str, str | list[str | int]]:
    """Real objects for the path parameters: ids and names the fuzzer could not guess. The registered
    model takes the dataset's name (both are `{name}`), its version 1 the alias `production`."""
    with httpx.Client(base_url=url, headers=CLIENT_HEADERS, timeout=30) as http:
        experiment = http.post("/api/v1/experiments", json={"name": unique("fuzz")}).raise_for_status().json()
        run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"], "tags": {"team": "fuzz"}})
        run_id = run.raise_for_status().json()["id"]
        http.post(f"/api/v1/runs/{run_id}/batch", json={
            "params": {"lr": 0.1}, "metrics": [{"key": "loss", "value": 0.5, "step": 1}]}).raise_for_status()
        http.put(f"/api/v1/runs/{run_id}/artifacts/notes.txt", content=b"hello").raise_for_status()
        dataset = unique("fuzz-data")
        http.post(f"/api/v1/datasets/{dataset}/versions", params={"filename": "data.csv"},
                  content=CSV).raise_for_status()
        job = http.post("/api/v1/jobs", json={"pipeline": PIPELINE.format(dataset=f"{dataset}@1"),
                                              "dataset": f"{dataset}@1"}).raise_for_status().json()
        for path, content in tiny_model_files(folder).items():
            http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).raise_for_status()
        http.post(f"/api/v1/models/{dataset}/versions", json={"run_id": run_id}).raise_for_status()
        http.post(f"/api/v1/models/{dataset}/promote", json={
            "version": 1, "alias": "production", "force": True, "reason": "fuzz seed"}).raise_for_status()
        alert_id = first_alert(http, folder, experiment["id"])
        token = http.post("/api/v1/auth/tokens", json={"name": unique("fuzz"), "role": "viewer"})
        token_id = token.raise_for_status().json()["id"]
    return {"ref": experiment["id"], "run_id": run_id, "key": "loss", "path": "notes.txt", "name": dataset,
            "version": ["1", 1], "job_id": job["id"], "alias": "production", "alert_id": alert_id,
            "token_id": token_id}
    # `version` is text for a dataset (a number or `latest`) and a number for a model


def first_alert(http: httpx.Client, folder: Path, experiment_id: str, timeout: float = 60.0) -> str:
    """The id of the alert the server's timer opens for a model nobody calls whose pipeline file pages
    when nobody does (`ALERTING`; its own run, so the seeded run holds no JSON artifact the fuzzer
    could overwrite with bytes that are not JSON)."""
    run_id = http.post("/api/v1/runs", json={"experiment_id": experiment_id}).raise_for_status().json()["id"]
    for path, content in {**tiny_model_files(folder), "pipeline.json": ALERTING}.items():
        http.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=content).raise_for_status()
    name = unique("fuzz-alerting")
    http.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id}).raise_for_status()
    http.post(f"/api/v1/models/{name}/promote", json={
        "version": 1, "alias": "production", "force": True, "reason": "fuzz seed"}).raise_for_status()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = http.get("/api/v1/alerts").raise_for_status().json()["alerts"]
        if found:
            return str(found[0]["id"])
        time.sleep(0.2)
    raise AssertionError("the seeded model's no_traffic rule opened no alert")


def seed_shadow(server: LiveServer, name: str, run_id: str) -> None:
    """Version 2 of the seeded model in shadow of `production`, so `GET .../shadow` answers its document too
    (started in the database, as a job or another backend would)."""
    with httpx.Client(base_url=server.url, headers=CLIENT_HEADERS, timeout=30) as http:
        http.post(f"/api/v1/models/{name}/versions", json={"run_id": run_id}).raise_for_status()
    db = Database(server.db_path)
    try:
        shadow.start(db, name, 2)
    finally:
        db.close()


SEEDED_SHARE = 0.5
"""How often a path parameter takes the seeded value; otherwise it is generated (ids that do not exist)."""


def config(seeded: dict[str, str | list[str | int]], paths: dict[str, dict[str, Any]]) -> str:
    """The schemathesis configuration (TOML): path parameters that are half the time a seeded object's,
    the content-checked operations, fewer examples for the operations of `paths` without a body."""
    lines: list[str] = []
    for name, value in sorted(seeded.items()):
        values = value if isinstance(value, list) else [value]
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    lines += ["[parameters]"] + [f'"path.{name}" = {{ dictionary = "{name}", probability = {SEEDED_SHARE} }}'
                                 for name in sorted(seeded)]
    for path in sorted(CONTENT_CHECKED):
        lines += ["", "[[operations]]", f'include-path = "{path}"',
                  "checks.positive_data_acceptance.expected-statuses = "
                  '["2xx", "3xx", "401", "403", "404", "409", "422", "429"]']
    for path, item in sorted(paths.items()):
        for method, operation in sorted(item.items()):
            if "requestBody" not in operation:
                lines += ["", "[[operations]]", f'include-path = "{path}"', f'include-method = "{method.upper()}"',
                          f"generation.max-examples = {SMALL_EXAMPLES}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (the fuzzer writes, renames and deletes); queued jobs never start; the alias long
    poll waits half a second at most (the fuzzer asks for up to 60 s)."""
    home = tmp_path_factory.mktemp("fuzz-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_MAX_JOBS", "0")
        patch.setenv("MLOPS_MAX_ALIAS_WAIT", "0.5")
        patch.setenv("MLOPS_CONTROL_INTERVAL", "0.5")  # the seeded alert opens at once
        patch.setenv("MLOPS_WEBHOOK_URL", "http://127.0.0.1:9/fuzz-hook")  # the test event is queued (and refused)
        server = start_backend(home, home.parent / f"{home.name}.log")
    yield server
    stop_process(server.process)


@pytest.fixture(scope="module")
def fuzz_config(fuzz_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The seeded server's schemathesis configuration, in a folder of its own, and how many operations
    `/openapi.json` has: shared by the module's runs (one per group of phases)."""
    folder = tmp_path_factory.mktemp("fuzz-config")
    seeded = seed(fuzz_server.url, folder / "model")
    seed_shadow(fuzz_server, str(seeded["name"]), str(seeded["run_id"]))
    paths = httpx.get(f"{fuzz_server.url}/openapi.json").json()["paths"]
    (folder / "schemathesis.toml").write_text(config(seeded, paths))
    return folder, sum(len(item) for item in paths.values())


PHASES = ["examples,coverage", "fuzzing,stateful"]
"""Two runs of about the same length, so `-n 2` puts them on both workers (each then starts its own
server); on one worker they share the server, one after the other."""


@pytest.mark.timeout(600)  # the registry's operations lengthened the run past the default 300 s on a busy machine
@pytest.mark.parametrize("phases", PHASES)
def test_openapi_holds_under_fuzzing(fuzz_server: LiveServer, fuzz_config: tuple[Path, int], phases: str) -> None:
    folder, operations = fuzz_config
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{fuzz_server.url}/openapi.json",
               "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS), "--phases", phases,
               "--max-examples", str(MAX_EXAMPLES), "--seed", "8", "--workers", "1", "--no-color",
               "--header", f"X-Mlops-Client: {CLIENT_HEADERS['X-Mlops-Client']}",
               "--request-timeout", "30", "--suppress-health-check", "all"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": ""})
    took = time.monotonic() - started
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, f"schemathesis found problems ({took:.0f} s):\n{report}"
    assert f"Tested: {operations}" in result.stdout, report  # every operation was reached
