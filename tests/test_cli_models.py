"""`mlops models ...` against a live server, with versions registered from really trained runs: JSON
shapes, the human tables, and promote's exit codes (0 moved, 9 a gate failed, 10 waiting for
approval, 1 other errors, 2 usage)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, LiveServer, base_env, unique
from test_jobs import pipeline, wait_for
from typer.testing import CliRunner, Result

from mlops_tui import Client
from mlops_tui.cli import output
from mlops_tui.cli.main import app
from mlops_tui.contract.registry import AWAITING_APPROVAL_EXIT, GATE_FAILED_EXIT

runner = CliRunner()
CHURN = ROOT / "sample_data" / "churn.csv"
PROMOTE = """
[evaluate]
primary = "roc_auc"
[promote]
min_roc_auc = 0.6
max_latency_ms = 5000
latency_rows = 5
[promote.reviewed]
approval = true
[promote.tiny]
max_size_mb = 0.01
"""


GOOD = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = 1.0, max_iter = 300 }\ncv = 2'
WORSE = '[[models]]\nestimator = "DecisionTreeClassifier"\nparams = { max_depth = 1, random_state = 0 }\ncv = 2'
"""A one-split tree: its roc_auc is far below the logistic regression's on the same holdout."""


@dataclass(frozen=True)
class Trained:
    good: str
    worse: str
    """The parent runs (holding model/model.skops) of a good and a deliberately worse job."""


def trained_run(client: Client, job_id: str) -> str:
    job = wait_for(client, job_id, ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=180)
    assert job.status == "SUCCEEDED" and job.run_id, job.error
    return job.run_id


@pytest.fixture(scope="module")
def trained(live_server: LiveServer) -> Trained:
    with Client(url=live_server.url, token="") as client:
        ref = client.add_dataset_version("churn", "churn.csv", CHURN.read_bytes()).ref
        data = f'dataset = "{ref}"'
        good = client.submit_job(pipeline(unique("cli-good"), GOOD, PROMOTE, data))
        worse = client.submit_job(pipeline(unique("cli-worse"), WORSE, PROMOTE, data))
        return Trained(trained_run(client, good.id), trained_run(client, worse.id))


@pytest.fixture(autouse=True)
def _terminal_of_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Human output as an 80-column terminal shows it (the tables are made to fit), whatever
    terminal pytest runs in; the actor is alice unless a test says otherwise."""
    monkeypatch.setattr(output.console, "width", 80)
    monkeypatch.setattr(output.errors, "width", 80)
    monkeypatch.setenv("MLOPS_USER", "alice")


def invoke(*args: str) -> Result:
    return runner.invoke(app, ["models", *args])


def json_of(result: Result, code: int = 0) -> Any:
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout} {result.stderr} {result.exception!r}"
    return json.loads(result.stdout)  # the whole of stdout is one JSON document


def assert_error(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout} {result.stderr} {result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error:"), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert result.stdout == ""


def register(run_id: str, name: str, *extra: str) -> dict[str, Any]:
    return json_of(invoke("register", run_id, "--name", name, "--json", *extra))  # type: ignore[no-any-return]


@pytest.fixture
def model(trained: Trained, live_env: LiveServer) -> Iterator[str]:
    """A fresh model: v1 the good run, v2 the worse one."""
    name = unique("churn")
    assert register(trained.good, name)["version"] == 1
    assert register(trained.worse, name)["version"] == 2
    yield name


# --- reading ---------------------------------------------------------------------------------


def test_register_list_and_show_json_shapes(trained: Trained, live_env: LiveServer) -> None:
    name = unique("churn")
    created = register(trained.good, name, "--description", "first cut")
    assert (created["name"], created["version"], created["run_id"], created["status"]) == (name, 1, trained.good,
                                                                                           "READY")
    assert len(created["sha256"]) == 64 and created["created_by"] == "alice"
    listed = json_of(invoke("list", "--json"))
    assert list(listed) == ["models"]
    [entry] = [m for m in listed["models"] if m["name"] == name]
    assert entry["latest_version"] == 1 and entry["aliases"] == {}
    json_of(invoke("promote", name, "1", "--to", "production", "--json"))
    entry = next(m for m in json_of(invoke("list", "--json"))["models"] if m["name"] == name)
    assert entry["aliases"] == {"production": 1}

    shown = json_of(invoke("show", name, "--json"))
    assert shown["name"] == name and shown["aliases"] == {"production": 1}
    [version] = shown["versions"]
    assert {"version", "run_id", "status", "metrics", "dataset", "sha256"} <= set(version)
    assert version["dataset"].startswith("churn@") and "roc_auc" in version["metrics"]
    one = json_of(invoke("show", f"{name}/1", "--json"))
    by_alias = json_of(invoke("show", f"{name}@production", "--json"))
    assert one["version"] == by_alias["version"] == 1 and one["sha256"] == created["sha256"]
    assert [c["name"] for c in one["signature"]["inputs"]][:1] == ["tenure_months"]


def test_show_human_tables(model: str, trained: Trained) -> None:
    invoke("promote", model, "1", "--to", "production")
    versions = invoke("show", model)
    assert versions.exit_code == 0, versions.stderr
    for word in ("VERSION", "STATUS", "ALIASES", "METRIC", "DATASET", "CREATED", "BY", "RUN", "production=v1",
                 "roc_auc", "alice", trained.good[:8], trained.worse[:8]):
        assert word in versions.stdout, word
    one = invoke("show", f"{model}@production")
    assert one.exit_code == 0, one.stderr
    for word in (f"{model}/1", "Signature", "tenure_months", "sha256", "metrics", "target churned", "Gates:", "PASS"):
        assert word in one.stdout, word


def test_human_output_escapes_what_users_wrote(trained: Trained, live_env: LiveServer) -> None:
    name = unique("esc")
    register(trained.good, name, "--description", "\x1b[2Jgone")
    shown = invoke("show", f"{name}/1")
    assert "\\x1b[2Jgone" in shown.stdout and "\x1b" not in shown.stdout
    assert json_of(invoke("show", f"{name}/1", "--json"))["description"] == "\x1b[2Jgone"  # --json stays exact


def test_register_refuses_a_run_without_a_model_file(live_env: LiveServer, live_client: Client) -> None:
    run = live_client.create_run(experiment=unique("no-model"))
    assert_error(invoke("register", run.id, "--name", unique("empty")), 1, "model/model.skops")


@pytest.mark.parametrize("args, named", [
    (["show", "churn@1bad"], "alias"),
    (["show", "churn/0"], "version number"),
    (["show", "churn/x"], "version number"),
    (["show", "no name"], "model name"),
    (["history", "churn/1"], "name alone"),
    (["promote", "churn/1", "2", "--to", "production"], "already names a version"),
    (["promote", "churn", "--to", "production"], "name a version"),
    (["promote", "churn", "1", "--to", "Bad alias"], "--to"),
    (["rollback", "churn", "--alias", "9lives"], "--alias"),
    (["history", "churn", "--at", "yesterday"], "--at"),
    (["requests", "churn", "--status", "nope"], "PENDING"),
    (["promote", "churn", "2", "--to", "production", "--force"], "--force needs --reason"),
    (["promote", "churn", "2", "--to", "production", "--force", "--reason", "  "], "--force needs --reason"),
    (["reject", "churn", "abc", "--reason", ""], "--reason"),
])
def test_bad_refs_and_options_are_usage_errors_before_anything_is_sent(args: list[str], named: str) -> None:
    # MLOPS_URL points nowhere here: anything sent would fail with exit 1 "cannot reach"
    assert_error(invoke(*args), 2, named)


# --- promotion -------------------------------------------------------------------------------


def alias_of(name: str, alias: str) -> int | None:
    found = json_of(invoke("show", name, "--json"))["aliases"]
    return found.get(alias)  # type: ignore[no-any-return]


def test_promote_rollback_and_history_at(model: str) -> None:
    dry = json_of(invoke("gates", model, "1", "--to", "production", "--json"))
    assert dry["passed"] is True and dry["champion_version"] is None
    moved = json_of(invoke("promote", model, "1", "--to", "production", "--json"))
    assert (moved["outcome"], moved["version"], moved["from_version"]) == ("moved", 1, None)
    time.sleep(0.01)
    between = int(time.time() * 1000)
    time.sleep(0.01)
    json_of(invoke("promote", model, "2", "--to", "production", "--force", "--reason", "hotfix: ship the tree",
                   "--json"))
    assert alias_of(model, "production") == 2
    back = json_of(invoke("rollback", model, "--alias", "production", "--reason", "tree too weak", "--json"))
    assert (back["outcome"], back["version"], back["from_version"]) == ("moved", 1, 2)
    assert alias_of(model, "production") == 1

    events = json_of(invoke("history", model, "--json"))["events"]
    moves = [(e["action"], e["from_version"], e["to_version"], e["reason"]) for e in events
             if e["action"] in ("promote", "rollback")]
    assert moves == [("promote", None, 1, ""), ("promote", 1, 2, "hotfix: ship the tree"),
                     ("rollback", 2, 1, "tree too weak")]
    assert [e["version"] for e in events if e["action"] == "register"] == [1, 2]
    assert {e["actor"] for e in events} == {"alice"}

    then = json_of(invoke("history", model, "--at", str(between), "--json"))
    assert then["aliases_at"] == {"production": 1}
    assert [e["action"] for e in then["events"]] == ["register", "register", "promote"]
    assert "at " in (human := invoke("history", model, "--at", str(between)).stdout)
    assert "production held v1" in human
    timeline = invoke("history", model, "--alias", "production")
    for word in ("TIME", "ACTOR", "ACTION", "rollback", "- → v1", "v1 → v2", "v2 → v1", "hotfix:",
                 "alice", "✓"):
        assert word in timeline.stdout, word
    assert "register" not in timeline.stdout  # --alias keeps that alias's events


def test_a_worse_model_fails_the_champion_gate_computed_now(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    json_of(invoke("promote", model, "1", "--to", "production", "--json"))
    report = json_of(invoke("gates", f"{model}/2", "--to", "production", "--json"), GATE_FAILED_EXIT)
    champion = next(gate for gate in report["gates"] if gate["gate"] == "champion")
    assert not champion["passed"] and report["champion_version"] == 1
    assert champion["candidate"] < champion["champion"]  # both computed now, the candidate's is lower

    refused = invoke("promote", model, "2", "--to", "production")
    assert refused.exit_code == GATE_FAILED_EXIT, refused.stderr
    for word in ("(candidate v2, champion v1)", "GATE", "CHECK", "THRESHOLD", "CANDIDATE", "CHAMPION", "RESULT",
                 "PASS", "FAIL champion: roc_auc"):  # at 80 columns each detail is a line under the table
        assert word in refused.stdout, word
    assert "not moved" in refused.stderr and "still points at v1" in refused.stderr
    assert alias_of(model, "production") == 1
    monkeypatch.setattr(output.console, "width", 140)
    wide = invoke("gates", model, "2", "--to", "production").stdout
    assert "DETAIL" in wide and "FAIL champion:" not in wide  # a terminal of 120+ columns has room for a column

    forced = json_of(invoke("promote", model, "2", "--to", "production", "--force", "--reason", "incident 42",
                            "--json"))
    assert forced["outcome"] == "moved" and forced["event"]["forced"] is True
    timeline = invoke("history", model).stdout
    assert "forced: ✗" in timeline and "champion" in timeline


def test_a_failed_gate_exits_9_and_moves_nothing(model: str) -> None:
    refused = invoke("promote", model, "1", "--to", "tiny")
    assert refused.exit_code == GATE_FAILED_EXIT, refused.stderr
    assert "FAIL" in refused.stdout and "MB" in refused.stdout
    assert "not moved: 1 gate failed: model size MB; tiny still points at nothing" in refused.stderr
    result = json_of(invoke("promote", model, "1", "--to", "tiny", "--json"), GATE_FAILED_EXIT)
    assert (result["outcome"], result["event"]) == ("gates_failed", None)
    assert [g["gate"] for g in result["report"]["gates"] if not g["passed"]] == ["size"]
    assert alias_of(model, "tiny") is None
    assert [e["action"] for e in json_of(invoke("history", model, "--json"))["events"]] == ["register", "register"]
    forced = json_of(invoke("promote", model, "1", "--to", "tiny", "--force", "--reason", "size is fine", "--json"))
    assert forced["event"]["forced"] is True and alias_of(model, "tiny") == 1


def test_history_at_takes_iso_dates(model: str) -> None:
    assert json_of(invoke("history", model, "--at", "2001-01-01", "--json"))["events"] == []
    everything = json_of(invoke("history", model, "--at", "2999-01-01T00:00:00Z", "--json"))
    assert [e["action"] for e in everything["events"]] == ["register", "register"]


def test_a_racing_move_wins_and_the_loser_exits_1_naming_it(model: str, live_env: LiveServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    json_of(invoke("promote", model, "1", "--to", "production", "--json"))
    send = Client.promote

    def racer_moves_first(self: Client, *args: Any, **kwargs: Any) -> Any:
        """Between the CLI reading production's holder and its move, another operator moves it."""
        with Client(url=live_env.url, user="racer") as other:
            send(other, model, 2, "production", force=True, reason="racing")
        return send(self, *args, **kwargs)

    monkeypatch.setattr(Client, "promote", racer_moves_first)
    assert_error(invoke("promote", model, "2", "--to", "production", "--force", "--reason", "me too"), 1,
                 "racer", "2")


def test_approval_exit_10_then_approve_by_someone_else(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    waiting = invoke("promote", model, "1", "--to", "reviewed")
    assert waiting.exit_code == AWAITING_APPROVAL_EXIT, waiting.stderr
    [request] = json_of(invoke("requests", model, "--status", "pending", "--json"))["requests"]
    assert request["id"] in waiting.stdout and f"mlops models approve {model} {request['id']}" in waiting.stdout
    assert alias_of(model, "reviewed") is None
    assert_error(invoke("approve", model, request["id"]), 1, "alice")  # never your own request
    monkeypatch.setenv("MLOPS_USER", "bob")
    approved = json_of(invoke("approve", model, request["id"], "--reason", "looks good", "--json"))
    assert approved["status"] == "APPROVED" and approved["approvers"] == ["bob"]
    assert alias_of(model, "reviewed") == 1


def test_reject_needs_a_reason_and_moves_nothing(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = json_of(invoke("promote", model, "2", "--to", "reviewed", "--json"), AWAITING_APPROVAL_EXIT)
    request = opened["request"]["id"]
    assert invoke("reject", model, request).exit_code == 2  # --reason is required
    monkeypatch.setenv("MLOPS_USER", "bob")
    rejected = json_of(invoke("reject", model, request, "--reason", "tree too weak", "--json"))
    assert rejected["status"] == "REJECTED" and rejected["decision_reason"] == "tree too weak"
    assert alias_of(model, "reviewed") is None
    listed = invoke("requests", model)
    for word in ("REQUEST", "MOVE", "REJECTED", "alice", "reviewed", "→ v2"):
        assert word in listed.stdout, word


# --- archive, delete, policy, verify ---------------------------------------------------------


def test_archive_and_delete(model: str) -> None:
    json_of(invoke("promote", model, "1", "--to", "production", "--json"))
    assert_error(invoke("archive", model, "1"), 1, "production")
    assert_error(invoke("delete", f"{model}@production"), 1, "production")
    archived = json_of(invoke("archive", model, "2", "--reason", "superseded", "--json"))
    assert archived["status"] == "ARCHIVED"
    deleted = invoke("delete", f"{model}/2")
    assert deleted.exit_code == 0 and f"deleted {model}/2" in deleted.stdout
    assert [v["version"] for v in json_of(invoke("show", model, "--json"))["versions"]] == [1]


def test_policy(model: str) -> None:
    policy = json_of(invoke("policy", model, "--json"))
    assert policy["default"]["thresholds"] == {"min_roc_auc": 0.6}
    assert policy["aliases"]["reviewed"]["approval"] is True
    human = invoke("policy", model, "--version", "1")
    for word in ("SETTING", "* (default)", "reviewed", "min_roc_auc 0.6", "approval"):
        assert word in human.stdout, word


def tamper(db_path: Path, name: str, seq: int) -> None:
    """Change a stored event behind the store's back (the triggers that forbid it dropped and put
    back in the same transaction)."""
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        triggers = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'model_events'"
                                ).fetchall()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TRIGGER model_events_no_update")
        conn.execute("UPDATE model_events SET reason = 'rewritten' WHERE name = ? AND seq = ?", (name, seq))
        conn.execute([sql for (sql,) in triggers if "no_update" in sql][0])
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_verify_intact_then_broken(model: str, live_env: LiveServer) -> None:
    intact = invoke("verify", model)
    assert intact.exit_code == 0 and "intact" in intact.stdout and "2 events" in intact.stdout
    assert json_of(invoke("verify", model, "--json"))["ok"] is True
    tamper(live_env.db_path, model, 2)
    assert_error(invoke("verify", model), 1, "event 2")
    broken = json_of(invoke("verify", model, "--json"), 1)
    assert (broken["ok"], broken["first_bad"]) == (False, 2)


# --- a real process --------------------------------------------------------------------------


def test_process_errors_have_no_traceback(live_server: LiveServer, tmp_path: Path) -> None:
    env = base_env(tmp_path / "home", live_server.url)
    for args, code in ((["show", unique("nobody")], 1), (["show", "a@@b"], 2),
                       (["promote", "x", "1", "--to", "production", "--force"], 2)):
        done = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "models", *args], capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == code, done.stderr
        assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
