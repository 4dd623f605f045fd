"""Hostile artifact paths against the real app: every form of climbing out of a folder (`..`, absolute,
percent-encoded once and twice, backslashes, NUL, control characters, overlong names) and every link
planted in a run's folder (at `/etc`, at the database file, at a folder outside), on every artifact
route family: native upload, download and listing, MLflow's proxy upload, download, listing and delete,
MLflow's `artifacts/list`, and registration. Then the CLI's side: a hostile listing never makes
`mlops runs download` or the replica's model cache write outside their folder.

Nothing is ever written through a link to `/etc` (CI runs as root: a broken rule would really write
there); writes are tried through links to a scratch folder and to the test's own database instead."""
from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import CLIENT_HEADERS, LiveServer, unique

from backend.replica.download import ModelMismatch, cached_path
from mlops_tui.contract import ArtifactFile, paths
from mlops_tui.contract.registry import ModelVersion
from mlops_tui.download import UnsafePath, plan

CLIMBING = {
    "dot-dot": "../escape.txt",
    "dot-dot-deep": "sub/../../../escape.txt",
    "absolute": "/tmp/escape.txt",
    "encoded": "%2e%2e%2fescape.txt",
    "encoded-upper": "%2E%2E%2F%2E%2E%2Fescape.txt",
    "encoded-slash": "..%2fescape.txt",
    "double-encoded": "%252e%252e%252fescape.txt",
    "double-encoded-absolute": "%252fetc%252fpasswd",
    "encoded-backslash": "..%5cescape.txt",
}
"""Forms that climb out, as the route receives them (the URL carries them percent-encoded once more)."""
MALFORMED = {
    "backslash": ("..\\escape.txt", "backslash"),
    "backslash-inside": ("sub\\escape.txt", "backslash"),
    "nul": ("escape.txt\x00.png", "NUL"),
    "escape-sequence": ("\x1b[31mescape.txt", "control characters"),
    "overlong-name": ("e" * 256 + ".txt", "longer than 255 bytes"),
    "overlong-unicode-name": ("é" * 128, "longer than 255 bytes"),
    "overlong-path": ("a/" * 600 + "escape.txt", "longer than 1024"),
}
"""Forms refused before any file system call, each with the words of its refusal."""
HOSTILE = {**{k: (v, "stay inside") for k, v in CLIMBING.items()}, **MALFORMED}
RULE_ONLY = {"newline": ("escape\n.txt", "control characters")}
"""Forms the routes never see: a newline in a URL's path matches no route (404, tested below)."""
INSIDE_A_RUN = {k: v for k, v in HOSTILE.items() if not k.startswith(("absolute", "double-encoded-absolute"))}
"""Forms that still climb when appended to a run's folder (`<exp>/<run>//tmp/x` is `<exp>/<run>/tmp/x`)."""


@dataclass
class Home:
    client: httpx.Client
    home: Path
    outside: Path
    run_id: str
    experiment_id: str

    @property
    def run_folder(self) -> Path:
        return self.home / "artifacts" / self.experiment_id / self.run_id

    @property
    def mlflow_folder(self) -> str:
        return f"{self.experiment_id}/{self.run_id}"


@pytest.fixture(scope="module")
def planted(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """The live backend (uvicorn decodes a URL's path once, as in production: in-process test clients
    decode it twice) and a run of its own whose folder holds a real file and links planted as a job could
    plant them: `etc` -> /etc, `db` -> the database file, `out` -> a folder outside with a secret in it."""
    outside = tmp_path_factory.mktemp("hostile-outside")
    (outside / "secret.txt").write_text("top secret")
    with httpx.Client(base_url=live_server.url, headers=CLIENT_HEADERS, timeout=30) as client:
        run = client.post("/api/v1/runs", json={"experiment": unique("hostile")}).json()
        found = Home(client, live_server.home, outside, run["id"], run["experiment_id"])
        assert client.put(f"/api/v1/runs/{run['id']}/artifacts/inside.txt", content=b"ok").status_code == 201
        folder = found.run_folder
        (folder / "etc").symlink_to("/etc", target_is_directory=True)
        (folder / "db").symlink_to(live_server.db_path)
        (folder / "out").symlink_to(outside, target_is_directory=True)
        yield found


def database_ok(home: Path) -> None:
    with sqlite3.connect(home / "mlops.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def nothing_escaped(found: Home) -> None:
    """No `escape*` file anywhere in the test's folders, the secret and the database intact."""
    for root in (found.home, found.outside, found.home.parent, Path("/tmp")):
        assert not [p for p in root.glob("escape*")], root
    assert sorted(p.name for p in found.outside.iterdir()) == ["secret.txt"]
    assert (found.outside / "secret.txt").read_text() == "top secret"
    database_ok(found.home)


def native_refused(response: object, words: str) -> None:
    status, body = response.status_code, response.json()  # type: ignore[attr-defined]
    assert (status, body.get("field"), body.get("code")) == (422, "path", "invalid"), (status, body)
    assert words in body["detail"], body
    assert "top secret" not in str(body) and "root:" not in str(body)


def mlflow_refused(response: object, words: str) -> None:
    status, body = response.status_code, response.json()  # type: ignore[attr-defined]
    assert (status, body.get("error_code")) == (400, "INVALID_PARAMETER_VALUE"), (status, body)
    assert words in body["message"], body


def url(path: str) -> str:
    """`path` as a URL path segment: every character the route must receive as it is, percent-encoded."""
    return quote(path, safe="")


# --- the rule itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", {**HOSTILE, **RULE_ONLY}, ids=list({**HOSTILE, **RULE_ONLY}))
def test_the_rule_refuses_every_form(tmp_path: Path, form: str) -> None:
    relative, words = {**HOSTILE, **RULE_ONLY}[form]
    with pytest.raises(paths.UnsafePath, match=words.replace("(", r"\(")):
        paths.resolve_inside(tmp_path, relative)


@pytest.mark.parametrize("relative", ["a.txt", "sub/deeper/c.json", "with space é.txt", "100%.txt", "a%20b.txt",
                                      "dots..in..name", ".hidden", "a/./b", "e" * 255, "日本語/ファイル.csv"])
def test_the_rule_keeps_ordinary_names(tmp_path: Path, relative: str) -> None:
    target = paths.resolve_inside(tmp_path, relative)
    assert tmp_path.resolve() in target.parents


def test_a_link_inside_the_root_is_followed_and_one_leading_out_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "out").symlink_to(tmp_path, target_is_directory=True)
    assert paths.resolve_inside(root, "alias/x") == (root / "real" / "x").resolve()
    with pytest.raises(paths.UnsafePath, match="leaves"):
        paths.resolve_inside(root, "out/x")
    assert paths.resolve_inside(root, "out", follow_last=False) == root.resolve() / "out"  # the link itself
    with pytest.raises(paths.UnsafePath, match="leaves"):
        paths.resolve_inside(root, "out/x", follow_last=False)


# --- native routes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", HOSTILE, ids=list(HOSTILE))
def test_native_routes_refuse_every_form(planted: Home, form: str) -> None:
    relative, words = HOSTILE[form]
    base = f"/api/v1/runs/{planted.run_id}/artifacts"
    native_refused(planted.client.put(f"{base}/{url(relative)}", content=b"evil"), words)
    native_refused(planted.client.get(f"{base}/{url(relative)}"), words)
    native_refused(planted.client.get(base, params={"path": relative}), words)
    nothing_escaped(planted)


@pytest.mark.parametrize("relative", ["etc/passwd", "db", "out/secret.txt"])
def test_native_reads_through_planted_links_are_refused(planted: Home, relative: str) -> None:
    base = f"/api/v1/runs/{planted.run_id}/artifacts"
    response = planted.client.get(f"{base}/{url(relative)}")
    native_refused(response, "leaves the run's folder")
    assert b"SQLite format" not in response.content
    native_refused(planted.client.get(base, params={"path": relative.partition("/")[0]}), "leaves")
    listed = planted.client.get(base).json()["files"]
    assert [entry["path"] for entry in listed] == ["inside.txt"]  # links leading out are left out


@pytest.mark.parametrize("relative", ["db", "out/secret.txt", "out/escape.txt"])
def test_native_writes_through_planted_links_are_refused(planted: Home, relative: str) -> None:
    response = planted.client.put(f"/api/v1/runs/{planted.run_id}/artifacts/{url(relative)}", content=b"evil")
    native_refused(response, "leaves the run's folder")
    nothing_escaped(planted)
    assert (planted.run_folder / "db").is_symlink()  # the link itself is left as it was


# --- MLflow's routes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", HOSTILE, ids=list(HOSTILE))
def test_mlflow_routes_refuse_every_form(planted: Home, form: str) -> None:
    relative, words = HOSTILE[form]
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    if form in INSIDE_A_RUN:
        inside_run = f"{proxy}/{url(planted.mlflow_folder + '/' + relative)}"
        mlflow_refused(planted.client.put(inside_run, content=b"evil"), words)
        mlflow_refused(planted.client.get(inside_run), words)
        mlflow_refused(planted.client.delete(inside_run), words)
        mlflow_refused(planted.client.get(proxy, params={"path": f"{planted.mlflow_folder}/{relative}"}), words)
    from_root = f"{proxy}/{url(relative)}"  # a path from the root of the artifact store
    mlflow_refused(planted.client.put(from_root, content=b"evil"), words)
    mlflow_refused(planted.client.get(from_root), words)
    mlflow_refused(planted.client.delete(from_root), words)
    mlflow_refused(planted.client.get(proxy, params={"path": relative}), words)
    listing = planted.client.get("/api/2.0/mlflow/artifacts/list", params={"run_id": planted.run_id, "path": relative})
    mlflow_refused(listing, words)
    nothing_escaped(planted)
    assert sorted(p.name for p in planted.run_folder.iterdir()) == ["db", "etc", "inside.txt", "out"]


def test_a_newline_in_a_url_path_matches_no_route(planted: Home) -> None:
    for target in (f"/api/v1/runs/{planted.run_id}/artifacts/{url('escape' + chr(10) + '.txt')}",
                   f"/api/2.0/mlflow-artifacts/artifacts/{url(planted.mlflow_folder + '/escape' + chr(10) + '.txt')}"):
        assert planted.client.put(target, content=b"evil").status_code == 404
    native_refused(planted.client.get(f"/api/v1/runs/{planted.run_id}/artifacts", params={"path": "a\nb"}),
                   "control characters")
    nothing_escaped(planted)


@pytest.mark.parametrize("relative", ["etc/passwd", "db", "out/secret.txt"])
def test_mlflow_reads_through_planted_links_are_refused(planted: Home, relative: str) -> None:
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    response = planted.client.get(f"{proxy}/{url(planted.mlflow_folder + '/' + relative)}")
    mlflow_refused(response, "leaves")
    assert b"SQLite format" not in response.content and b"top secret" not in response.content
    folder = relative.partition("/")[0]
    mlflow_refused(planted.client.get(proxy, params={"path": f"{planted.mlflow_folder}/{folder}"}), "leaves")
    listing = planted.client.get("/api/2.0/mlflow/artifacts/list", params={"run_id": planted.run_id, "path": folder})
    mlflow_refused(listing, "leaves")
    listed = planted.client.get(proxy, params={"path": planted.mlflow_folder}).json()["files"]
    assert {entry["path"] for entry in listed} == {"inside.txt"}


def test_mlflow_writes_through_planted_links_are_refused(planted: Home) -> None:
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    for relative in ("db", "out/secret.txt", "out/escape.txt"):
        response = planted.client.put(f"{proxy}/{url(planted.mlflow_folder + '/' + relative)}", content=b"evil")
        mlflow_refused(response, "leaves")
        mlflow_refused(planted.client.delete(f"{proxy}/{url(planted.mlflow_folder + '/out/secret.txt')}"), "leaves")
    nothing_escaped(planted)


def test_an_mlflow_delete_of_a_planted_link_removes_the_link_not_its_target(planted: Home) -> None:
    folder = planted.run_folder
    (folder / "db-too").symlink_to(planted.home / "mlops.db")
    (folder / "out-too").symlink_to(planted.outside, target_is_directory=True)
    before = hashlib.sha256((planted.home / "mlops.db").read_bytes()).hexdigest()
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    for name in ("db-too", "out-too"):
        response = planted.client.delete(f"{proxy}/{url(planted.mlflow_folder + '/' + name)}")
        assert response.status_code == 200, response.text
        assert not (folder / name).is_symlink() and not (folder / name).exists()
    assert hashlib.sha256((planted.home / "mlops.db").read_bytes()).hexdigest() == before
    nothing_escaped(planted)


# --- registration: a model file planted as a link ------------------------------------------------------------


@pytest.mark.parametrize("target", ["db", "etc"])
def test_a_model_file_planted_as_a_link_out_is_not_registered(planted: Home, target: str) -> None:
    run = planted.client.post("/api/v1/runs", json={"experiment": unique("hostile")}).json()
    folder = planted.home / "artifacts" / run["experiment_id"] / run["id"] / "model"
    folder.mkdir(parents=True)
    (folder / "model.skops").symlink_to(planted.home / "mlops.db" if target == "db" else Path("/etc/hostname"))
    (folder / "signature.json").symlink_to(planted.outside / "secret.txt")
    name = unique("planted")
    response = planted.client.post(f"/api/v1/models/{name}/versions", json={"run_id": run["id"]})
    assert (response.status_code, response.json()["field"]) == (422, "run_id"), response.text
    assert "leaves the run's folder" in response.json()["detail"]
    assert planted.client.get(f"/api/v1/models/{name}").status_code == 404


# --- the CLI's side: a hostile backend's listing ---------------------------------------------------------------


@pytest.mark.parametrize("form", HOSTILE, ids=list(HOSTILE))
def test_a_download_plan_refuses_every_form(tmp_path: Path, form: str) -> None:
    relative, words = HOSTILE[form]
    dest = tmp_path / "dest"
    files = [ArtifactFile(path="fine.txt", is_dir=False, size=1), ArtifactFile(path=relative, is_dir=False, size=1)]
    with pytest.raises(UnsafePath, match="refusing artifact path"):
        plan(files, "", dest)
    assert not dest.exists()  # refused before anything is written


def test_a_download_plan_refuses_a_link_in_the_destination(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "model").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafePath, match="leaves"):
        plan([ArtifactFile(path="model/model.skops", is_dir=False, size=1)], "", dest)
    planned = plan([ArtifactFile(path="model/model.skops", is_dir=False, size=1)], "model/model.skops", dest)
    assert [p.target for p in planned] == [dest.resolve() / "model.skops"]


@pytest.mark.parametrize("name", ["../../escape", "a/b", "/etc/passwd", "..%2fescape", "x\x00y", "e" * 300])
def test_the_replica_cache_refuses_a_hostile_model_name(tmp_path: Path, name: str) -> None:
    version = ModelVersion.model_construct(name=name, version=1, sha256="ab" * 32)
    with pytest.raises(ModelMismatch, match="does not make a file name"):
        cached_path(tmp_path / "cache", version)
    assert os.listdir(tmp_path) == []
