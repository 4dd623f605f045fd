"""Limits on what a pipeline may ask for: expression nesting and length, TOML nesting, candidates per
job, size params, and Dask schedulers only from the server's configuration. Each is a 422 over the
API that says which limit was passed, and exit 3 from `mlops train`."""
from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import ROOT, LiveServer, base_env

from backend import Settings, create_app
from backend.db import Database
from backend.errors import Invalid, JobFailure
from backend.pipelines import config as pipeline_config
from backend.pipelines import expressions
from backend.services.training import Training
from backend.store import jobs as store_jobs

HEAD = 'name = "limits"\ntask = "classification"\n[data]\ndataset = "d@1"\ntarget = "y"\n'
MODEL = '[[models]]\nestimator = "LogisticRegression"\nparams = { C = [0.5, 1.0] }\ncv = 2\n'


def pipeline(features: str = "", models: str = MODEL, extra: str = "") -> str:
    return HEAD + (f"[features]\n{features}\n" if features else "") + models + extra


def derived(expr: str) -> str:
    return pipeline(f"derived = [{{ name = 'z', expr = '{expr}' }}]")


def grid(size: int) -> str:
    values = ", ".join(str(1 + i) for i in range(size))
    return f'[[models]]\nestimator = "DecisionTreeClassifier"\nparams = {{ max_depth = [{values}], ' \
           f'min_samples_leaf = [{values}] }}\ncv = 2\n'


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home", token=None, run_jobs=False, max_candidates=500,
                        dask_schedulers=("tcp://127.0.0.1:8786", "tcp://10.0.0.5:8786"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


CASES = {
    "parentheses": (derived("(" * 160 + "a" + ")" * 160), "pipeline", "deeper than 40 levels"),
    "unary-minus": (derived("-" * 20_000 + "a"), "pipeline", "limit is 2,000"),
    "unary-minus-short": (derived("-" * 1_000 + "a"), "pipeline", "deeper than 40 levels"),
    "power-chain": (derived("^".join(["a"] * 2_000)), "pipeline", "limit is 2,000"),
    "power-chain-short": (derived("^".join(["a"] * 300)), "pipeline", "deeper than 40 levels"),
    "calls": (derived("abs(" * 100 + "a" + ")" * 100), "pipeline", "deeper than 40 levels"),
    "arrays": (pipeline(extra="x = " + "[" * 500 + "]" * 500 + "\n"), "pipeline", "500 levels deep; the limit is 16"),
    "inline-tables": (pipeline(extra="x = " + "{ a = " * 3_000 + "1" + " }" * 3_000 + "\n"), "pipeline",
                      "3,000 levels deep; the limit is 16"),
    "dotted-keys": (pipeline(extra="x." + ".".join(["k"] * 3_000) + " = 1\n"), "pipeline", "levels deep"),
    "grid": (pipeline(models=grid(1_000)), "pipeline", "1,000,000 candidates (1,000,000) are more than the 500"),
    "grid-and-random": (pipeline(models=MODEL + '[[models]]\nestimator = "GaussianNB"\nparams = { var_smoothing = '
                                 '{ low = 0.0, high = 1.0 } }\nsearch = { kind = "random", n_iter = 499 }\n'),
                        "pipeline", "501 candidates (2 + 499)"),
    "n_estimators": (pipeline(models='[[models]]\nestimator = "RandomForestClassifier"\n'
                              'params = { n_estimators = 1e9 }\n'), "pipeline",
                     "params.n_estimators = 1e+09 is above the limit of 5,000"),
    "max_iter-list": (pipeline(models='[[models]]\nestimator = "LogisticRegression"\n'
                               'params = { max_iter = [100, 200000] }\n'), "pipeline",
                      "params.max_iter = 200000 is above the limit of 100,000"),
    "n_estimators-distribution": (pipeline(models='[[models]]\nestimator = "ExtraTreesClassifier"\nparams = '
                                           '{ n_estimators = { dist = "int", low = 10, high = 90000 } }\n'
                                           'search = { kind = "random", n_iter = 2 }\n'),
                                  "pipeline", "n_estimators = 90000 is above the limit"),
    "file-size": ("#" * 1_000_001, "pipeline", "at most 1000000 characters"),
    "scheduler-from-the-file": (pipeline(extra='[executor]\nkind = "dask"\nscheduler = "tcp://evil.example:8786"\n'),
                                "scheduler", "'tcp://evil.example:8786' is not one this server allows"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_limit_is_a_422_naming_it(api: TestClient, case: str) -> None:
    text, field, says = CASES[case]
    answer = api.post("/api/v1/jobs", json={"pipeline": text})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == field and says in body["detail"], body
    assert api.get("/api/v1/jobs").json()["jobs"] == []


def test_a_scheduler_from_the_request_must_be_on_the_servers_list(api: TestClient) -> None:
    refused = api.post("/api/v1/jobs", json={"pipeline": pipeline(), "executor": "dask",
                                             "scheduler": "tcp://attacker:8786"})
    assert refused.status_code == 422 and refused.json()["field"] == "scheduler"
    chosen = api.post("/api/v1/jobs", json={"pipeline": pipeline(), "executor": "dask",
                                            "scheduler": "tcp://10.0.0.5:8786"})
    assert chosen.status_code == 201 and chosen.json()["scheduler"] == "tcp://10.0.0.5:8786"
    default = api.post("/api/v1/jobs", json={"pipeline": pipeline(), "executor": "dask"})
    assert default.status_code == 201 and default.json()["scheduler"] == "tcp://127.0.0.1:8786"


def test_no_dask_job_without_a_configured_scheduler(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path, token=None, run_jobs=False, dask_schedulers=())),
                    raise_server_exceptions=False) as api:
        answer = api.post("/api/v1/jobs", json={"pipeline": pipeline(), "executor": "dask",
                                                "scheduler": "tcp://127.0.0.1:8786"})
    assert answer.status_code == 422 and answer.json()["field"] == "scheduler"
    assert "MLOPS_DASK_SCHEDULERS is empty" in answer.json()["detail"]


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_MAX_CANDIDATES", "7")
    monkeypatch.setenv("MLOPS_DASK_SCHEDULERS", " tcp://a:1 , tcp://b:2,")
    settings = Settings()
    assert settings.max_candidates == 7 and settings.dask_schedulers == ("tcp://a:1", "tcp://b:2")


def test_the_candidate_cap_is_the_setting(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path, token=None, run_jobs=False, max_candidates=3)),
                    raise_server_exceptions=False) as api:
        four = api.post("/api/v1/jobs", json={"pipeline": pipeline(models=grid(2))})
        two = api.post("/api/v1/jobs", json={"pipeline": pipeline()})
    assert four.status_code == 422 and "4 candidates (4) are more than the 3" in four.json()["detail"]
    assert two.status_code == 201


def test_limits_just_inside_are_accepted() -> None:
    assert expressions.parse("(" * 12 + "a" + ")" * 12)
    assert expressions.parse("-" * 39 + "a")
    with pytest.raises(expressions.ExpressionError, match="deeper than 40"):
        expressions.parse("-" * 40 + "a")
    nested = "x = " + "[" * 16 + "]" * 16 + "\n" + pipeline()
    assert pipeline_config.bracket_depth(nested) == 16
    with pytest.raises(Invalid, match="unknown key 'x'"):  # parsed: only the unknown key is wrong
        pipeline_config.parse(nested)
    # brackets inside strings and comments are not nesting
    quoted = pipeline(extra="# [[[[[[[[[[[[[[[[[[[[\n") + '[validation]\nrequired_columns = ["[[[[[[[[[[[[[[[[[[", ' \
                                                         "'{{{{{{{{{{{{{{{{{{{{', \"\\\"[[[[[[[[[[[[[[[[[[[[[\"]\n"
    assert pipeline_config.parse(quoted).validation.required_columns[0] == "[" * 18


def test_mlops_train_exits_3_naming_the_count(live_server: LiveServer, tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    file.write_text(pipeline(models=grid(1_000)))
    done = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "train", str(file)], capture_output=True,
                          text=True, env=base_env(tmp_path / "home", live_server.url), timeout=120, cwd=ROOT)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "1,000,000 candidates" in done.stderr and "Traceback" not in done.stderr


def test_the_worker_checks_the_scheduler_again_before_it_connects(tmp_path: Path) -> None:
    """A job stored before the list changed (or retried after) does not reach an unlisted scheduler."""
    settings = Settings(home=tmp_path, token=None, run_jobs=False, dask_schedulers=("tcp://127.0.0.1:8786",))
    db = Database(settings.db_path)
    stale = store_jobs.create(db, "stale", "{}", "h", None, None, "dask", "tcp://10.9.9.9:8786")
    with pytest.raises(JobFailure) as caught:
        Training(settings, db, stale).scheduler()
    assert caught.value.kind == "config"
    assert "'tcp://10.9.9.9:8786' is not one this server allows" in caught.value.message
    listed = store_jobs.create(db, "listed", "{}", "h", None, None, "dask", "tcp://127.0.0.1:8786")
    assert Training(settings, db, listed).scheduler() == "tcp://127.0.0.1:8786"
    local = store_jobs.create(db, "local", "{}", "h", None, None, "local", None)
    assert Training(settings, db, local).scheduler() is None
