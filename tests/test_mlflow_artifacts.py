"""MLflow's artifact proxy with the real client: files logged through it are the run's own files (listed
and downloaded natively too, and the other way round), paths stay inside, writes need a live owner,
registered files never change, and bodies over the limit are refused."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import mlflow.artifacts
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from backend.settings import Settings
from mlops_tui import Client
from mlops_tui.contract import Run
from tests.conftest import LiveServer, make_client, unique

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def run(live_client: Client) -> Run:
    return live_client.create_run(experiment=unique("proxy"))


def repo_of(server: LiveServer, uri: str) -> ArtifactRepository:
    return get_artifact_repository(uri, tracking_uri=server.url)


def run_repo(server: LiveServer, run: Run) -> ArtifactRepository:
    return repo_of(server, f"mlflow-artifacts:/{run.experiment_id}/{run.id}")


def write_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256)) * 40, "sub/deeper/c.json": b'{"c": 1}',
             "sub/empty": b"", "sub/with space é.txt": "ünïcode".encode()}
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return files


def test_logged_files_round_trip_and_are_the_runs_own_files(live_server: LiveServer, live_client: Client,
                                                           run: Run, tmp_path: Path) -> None:
    files = write_tree(tmp_path / "tree")
    repo = run_repo(live_server, run)
    repo.log_artifacts(str(tmp_path / "tree"), "outputs")
    (tmp_path / "single.txt").write_bytes(b"one file")
    repo.log_artifact(str(tmp_path / "single.txt"))

    listed = {(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts()}
    assert {("single.txt", False, 8), ("outputs", True, None)} <= listed
    assert [(f.path, f.is_dir) for f in repo.list_artifacts("outputs")] == [
        ("outputs/a.txt", False), ("outputs/sub", True)]
    assert repo.list_artifacts("single.txt") == []  # a file lists nothing, as in MLflow
    assert repo.list_artifacts("no-such-folder") == []

    (tmp_path / "down").mkdir()
    local = Path(repo.download_artifacts("outputs", str(tmp_path / "down")))
    assert {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()} == files

    native = {f.path: f.size for f in live_client.list_artifacts(run.id, "outputs/sub")}
    assert native == {"outputs/sub/b.bin": len(files["sub/b.bin"]), "outputs/sub/deeper": None, "outputs/sub/empty": 0,
                      "outputs/sub/with space é.txt": 9}
    assert live_client.download_artifact(run.id, "outputs/sub/b.bin") == files["sub/b.bin"]
    on_disk = live_server.home / "artifacts" / run.experiment_id / run.id / "single.txt"
    assert on_disk.read_bytes() == b"one file"


def test_the_fluent_api_logs_lists_and_downloads(mlflow_fluent: str, live_client: Client, tmp_path: Path,
                                                 subprocess_env: dict[str, str]) -> None:
    files = write_tree(tmp_path / "tree")
    (tmp_path / "config.yaml").write_text("depth: 3\n")
    mlflow.set_experiment(unique("fluent-artifacts"))
    with mlflow.start_run() as active:
        mlflow.log_artifact(str(tmp_path / "config.yaml"))
        mlflow.log_artifacts(str(tmp_path / "tree"), artifact_path="data")
    run_id = active.info.run_id
    listed = MlflowClient().list_artifacts(run_id, "data")
    assert [(f.path, f.is_dir) for f in listed] == [("data/a.txt", False), ("data/sub", True)]
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data", dst_path=str(tmp_path / "d")))
    assert {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()} == files
    assert live_client.download_artifact(run_id, "config.yaml") == b"depth: 3\n"  # natively, the same file
    assert {f.path for f in live_client.list_artifacts(run_id)} == {"config.yaml", "data"}
    cli = subprocess.run([sys.executable, "-m", "mlops_tui.cli.main", "runs", "download", run_id, "data", "--dest",
                          str(tmp_path / "cli")], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert {p.relative_to(tmp_path / "cli" / "data").as_posix(): p.read_bytes()
            for p in (tmp_path / "cli").rglob("*") if p.is_file()} == files


def test_a_native_upload_is_listed_and_downloaded_through_mlflow(live_server: LiveServer, live_client: Client,
                                                                run: Run, tmp_path: Path) -> None:
    live_client.upload_artifact(run.id, "native/report.csv", b"a,b\n1,2\n")
    repo = run_repo(live_server, run)
    assert [(f.path, f.file_size) for f in repo.list_artifacts("native")] == [("native/report.csv", 8)]
    local = repo.download_artifacts("native/report.csv", str(tmp_path))
    assert Path(local).read_bytes() == b"a,b\n1,2\n"


def test_a_download_is_plain_bytes(live_server: LiveServer, live_client: Client, run: Run) -> None:
    live_client.upload_artifact(run.id, "page.html", b"<script>alert(1)</script>")
    response = httpx.get(f"{live_server.url}{PROXY}/{run.experiment_id}/{run.id}/page.html")
    assert response.status_code == 200 and response.content == b"<script>alert(1)</script>"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_paths_that_leave_the_artifact_folder_are_refused(live_server: LiveServer, run: Run) -> None:
    base = f"{live_server.url}{PROXY}"
    folder = f"{run.experiment_id}/{run.id}"
    outside = live_server.home / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("secret")
    (live_server.home / "artifacts" / folder).mkdir(parents=True, exist_ok=True)  # whichever test runs first
    (live_server.home / "artifacts" / folder / "link").symlink_to(outside, target_is_directory=True)
    with httpx.Client() as http:
        attempts = [
            http.put(f"{base}/{folder}/%2E%2E/%2E%2E/%2E%2E/escaped.txt", content=b"x"),
            http.put(f"{base}/{folder}/link/planted.txt", content=b"x"),
            http.get(f"{base}/{folder}/link/secret.txt"),
            http.get(f"{base}/{folder}/%2E%2E/%2E%2E/%2E%2E/mlops.db"),
            http.get(base, params={"path": f"{folder}/../../.."}),
            http.get(base, params={"path": "/etc"}),
        ]
    for response in attempts:
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "path" in response.json()["message"]
    assert not (live_server.home / "escaped.txt").exists()
    assert not (outside / "planted.txt").exists()
    assert "link" not in {f.path for f in run_repo(live_server, run).list_artifacts()}


def test_writes_need_a_live_run_or_logged_model_of_that_experiment(live_server: LiveServer, live_client: Client,
                                                                  run: Run) -> None:
    deleted = live_client.create_run(experiment=unique("proxy-deleted"))
    live_client.delete_run(deleted.id)
    base = f"{live_server.url}{PROXY}"
    cases = {
        f"{run.experiment_id}/{'0' * 32}/x.txt": ("RESOURCE_DOES_NOT_EXIST", "not found"),
        f"{run.experiment_id}/models/m-{'0' * 32}/artifacts/x.txt": ("RESOURCE_DOES_NOT_EXIST", "logged model"),
        f"{deleted.experiment_id}/{deleted.id}/x.txt": ("INVALID_PARAMETER_VALUE", "deleted"),
        f"{int(run.experiment_id) + 1000}/{run.id}/x.txt": ("INVALID_PARAMETER_VALUE", "is in experiment"),
        f"{run.experiment_id}/{run.id}": ("INVALID_PARAMETER_VALUE", "file"),
        "loose.txt": ("INVALID_PARAMETER_VALUE", "must name a file"),
    }
    with httpx.Client() as http:
        for path, (code, words) in cases.items():
            response = http.put(f"{base}/{path}", content=b"x")
            assert response.json()["error_code"] == code, (path, response.text)
            assert words in response.json()["message"], (path, response.text)
            assert response.status_code in (400, 404)
    assert not (live_server.home / "artifacts" / deleted.experiment_id / deleted.id / "x.txt").exists()
    assert not (live_server.home / "artifacts" / "loose.txt").exists()


def test_a_registered_versions_files_never_change(live_server: LiveServer, live_client: Client,
                                                  tmp_path: Path) -> None:
    owner = live_client.create_run(experiment=unique("proxy-registered"))
    live_client.upload_artifact(owner.id, "model/model.skops", b"the registered bytes")
    live_client.register_version(unique("proxy-model"), owner.id)
    repo = run_repo(live_server, owner)
    (tmp_path / "model.skops").write_bytes(b"tampered")
    (tmp_path / "extra.txt").write_bytes(b"extra")
    for name, where in (("model.skops", "model"), ("extra.txt", "model"), ("extra.txt", "model/nested")):
        with pytest.raises(Exception, match="registered model version"):
            repo.log_artifact(str(tmp_path / name), where)
    with pytest.raises(Exception, match="registered model version"):
        repo.delete_artifacts("model")
    assert live_client.download_artifact(owner.id, "model/model.skops") == b"the registered bytes"
    repo.log_artifact(str(tmp_path / "extra.txt"), "notes")  # the rest of the run stays writable
    repo.delete_artifacts("notes")
    assert [f.path for f in repo.list_artifacts()] == ["model"]


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Run]]:
    settings = Settings(home=tmp_path_factory.mktemp("proxy-limit"), token=None, max_body_bytes=1000)
    with make_client(settings) as client:
        created = client.post("/api/v1/runs", json={"experiment": "limits"})
        assert created.status_code in (200, 201), created.text
        yield client, Run.model_validate(created.json())


def test_uploads_over_the_size_limit_are_refused_and_leave_nothing(small_limit: tuple[TestClient, Run]) -> None:
    client, run = small_limit
    folder = f"{run.experiment_id}/{run.id}"
    declared = client.put(f"{PROXY}/{folder}/big.bin", content=b"x" * 1001)
    streamed = client.put(f"{PROXY}/{folder}/big.bin",
                          content=iter([b"x" * 600, b"x" * 600]))
    for response in (declared, streamed):
        assert response.status_code in (400, 413), response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "1000 bytes" in response.json()["message"]
    fits = client.put(f"{PROXY}/{folder}/fits.bin", content=b"x" * 1000)
    assert fits.status_code == 200, fits.text
    listed = client.get(PROXY, params={"path": folder}).json()
    assert listed == {"files": [{"path": "fits.bin", "is_dir": False, "file_size": 1000}]}


def test_multipart_and_presigned_transfers_fall_back_to_put_and_get(live_server: LiveServer, run: Run,
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1")
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    (tmp_path / "parts.bin").write_bytes(b"p" * 5000)
    repo = run_repo(live_server, run)
    repo.log_artifact(str(tmp_path / "parts.bin"), "multipart")
    assert [(f.path, f.file_size) for f in repo.list_artifacts("multipart")] == [("multipart/parts.bin", 5000)]
    (tmp_path / "back").mkdir()
    local = repo.download_artifacts("multipart/parts.bin", str(tmp_path / "back"))  # presigned: falls back to GET
    assert Path(local).read_bytes() == b"p" * 5000


def test_a_page_gets_no_preflight_for_a_put(live_server: LiveServer, run: Run) -> None:
    """Why the proxy's PUT needs no header of ours: a browser asks first, and this server never says yes."""
    response = httpx.options(f"{live_server.url}{PROXY}/{run.experiment_id}/{run.id}/x.txt",
                             headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


def test_the_tracking_services_listing(live_server: LiveServer, live_client: Client, run: Run) -> None:
    live_client.upload_artifact(run.id, "listed/deep/x.txt", b"xyz")
    live_client.upload_artifact(run.id, "listed/y.txt", b"y")
    url = f"{live_server.url}/api/2.0/mlflow/artifacts/list"
    body = httpx.get(url, params={"run_id": run.id, "path": "listed"}).json()
    assert body == {"root_uri": f"mlflow-artifacts:/{run.experiment_id}/{run.id}",
                    "files": [{"path": "listed/deep", "is_dir": True},
                              {"path": "listed/y.txt", "is_dir": False, "file_size": 1}]}
    escaped = httpx.get(url, params={"run_uuid": run.id, "path": "listed/../../.."})
    assert (escaped.status_code, escaped.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    unknown = httpx.get(url, params={"run_id": "0" * 32})
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
