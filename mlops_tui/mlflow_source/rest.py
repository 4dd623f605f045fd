"""An MLflow tracking server read through its REST API (`/api/2.0/mlflow/...`) with httpx: experiments
and runs searched page by page (deleted ones too), every metric's full history paged, the registry,
and artifacts through the server's artifact proxy (`mlflow-artifacts:` URIs) or a local folder."""
from __future__ import annotations

import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from ..contract.imports import ImportedExperiment, ImportedRun
from .base import ArtifactFile, Points, SourceError, SourceModel, SourceVersion, dataset_input, imported_run
from .sqlite import files_under, local_folder

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
PAGE = 1000
HISTORY_PAGE = 25_000
CHUNK = 200
"""Runs whose histories are fetched together."""
PARALLEL = 8
"""Requests in flight at once while fetching histories."""


def _pairs(items: list[dict[str, Any]] | None, name: str = "key") -> dict[str, str]:
    return {item[name]: str(item.get("value", "")) for item in items or []}


class RestSource:
    """An MLflow tracking server at `url` (`http(s)://host:port[/prefix]`)."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.description = self.url
        self.skipped_points = 0
        self.http = httpx.Client(base_url=self.url, timeout=timeout, follow_redirects=False)
        self._experiment_names: dict[str, str] = {}
        self._artifact_uris: dict[str, str] = {}
        self._listed: dict[str, list[ArtifactFile] | None] = {}
        """Artifact listings fetched ahead (in parallel), each taken once."""
        self._runs_seen: int | None = None
        self.experiments()  # fails early, with a message, when nothing MLflow answers there

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise SourceError(f"cannot reach the MLflow server at {self.url}: {error}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            detail = body.get("message") if isinstance(body, dict) else response.text[:200]
            raise SourceError(f"{self.url}{path}: {response.status_code} {detail or response.reason_phrase} "
                              "(is this an MLflow tracking server?)")
        return body

    def _pages(self, method: str, path: str, field: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = dict(request, **({"page_token": token} if token else {}))
            args = {"json": page} if method == "POST" else {"params": page}
            body = self._call(method, path, **args)
            yield from body.get(field, [])
            token = body.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[ImportedExperiment]:
        found = []
        for experiment in self._pages("POST", f"{API}/experiments/search", "experiments",
                                      {"max_results": PAGE, "view_type": "ALL"}):
            self._experiment_names[str(experiment["experiment_id"])] = experiment["name"]
            found.append(ImportedExperiment.model_construct(
                name=experiment["name"], tags=_pairs(experiment.get("tags")),
                created_at=_int(experiment.get("creation_time")),
                lifecycle_stage="deleted" if experiment.get("lifecycle_stage") == "deleted" else "active"))
        return found

    def _search(self) -> Iterator[dict[str, Any]]:
        ids = list(self._experiment_names)
        for start in range(0, len(ids), 100):
            yield from self._pages("POST", f"{API}/runs/search", "runs", {
                "experiment_ids": ids[start:start + 100], "max_results": PAGE, "run_view_type": "ALL",
                "order_by": ["attributes.start_time ASC"]})

    def run_count(self) -> int:
        return sum(1 for _ in self._search())

    def runs(self) -> Iterator[ImportedRun]:
        chunk: list[dict[str, Any]] = []
        for run in self._search():
            chunk.append(run)
            if len(chunk) == CHUNK:
                yield from self._whole(chunk)
                chunk = []
        yield from self._whole(chunk)

    def _whole(self, chunk: list[dict[str, Any]]) -> Iterator[ImportedRun]:
        """The runs with every metric's full history, fetched `PARALLEL` requests at a time (a history is a
        request per metric: MLflow's REST API has no bulk form)."""
        wanted = [(run["info"].get("run_id") or run["info"]["run_uuid"], metric["key"])
                  for run in chunk for metric in run.get("data", {}).get("metrics", [])]
        uris = [run["info"].get("artifact_uri", "") for run in chunk]
        with ThreadPoolExecutor(PARALLEL) as pool:
            histories = dict(zip(wanted, pool.map(lambda pair: list(self._history(*pair)), wanted), strict=True))
            self._listed.update(zip(uris, pool.map(self._list, uris), strict=True))  # the importer asks next
        for run in chunk:
            info, data = run["info"], run.get("data", {})
            run_id = info.get("run_id") or info["run_uuid"]
            points = Points()
            for metric in data.get("metrics", []):
                for point in histories[(run_id, metric["key"])]:
                    points.add(metric["key"], int(point.get("step", 0)), _value(point.get("value")),
                               int(point.get("timestamp", 0)))
            self.skipped_points += points.skipped
            self._artifact_uris[run_id] = info.get("artifact_uri", "")
            inputs = [dataset_input(d["dataset"]["name"], d["dataset"]["digest"], d["dataset"].get("source_type"),
                                    d["dataset"].get("source"), d["dataset"].get("schema"),
                                    d["dataset"].get("profile"), _pairs(d.get("tags")))
                      for d in run.get("inputs", {}).get("dataset_inputs", [])]
            yield imported_run(run_id, self._experiment_names.get(str(info["experiment_id"]), "Default"),
                               info.get("run_name"), info.get("user_id"), info.get("status"),
                               _int(info.get("start_time")), _int(info.get("end_time")), info.get("lifecycle_stage"),
                               _pairs(data.get("params")), _pairs(data.get("tags")), points, inputs)

    def _history(self, run_id: str, key: str) -> Iterator[dict[str, Any]]:
        return self._pages("GET", f"{API}/metrics/get-history", "metrics",
                           {"run_id": run_id, "run_uuid": run_id, "metric_key": key, "max_results": HISTORY_PAGE})

    def run_artifact_uri(self, run_id: str) -> str:
        return self._artifact_uris.get(run_id, "")

    def files_at(self, uri: str) -> list[ArtifactFile] | None:
        if uri in self._listed:
            return self._listed.pop(uri)
        return self._list(uri)

    def _list(self, uri: str) -> list[ArtifactFile] | None:
        root = _proxy_root(uri)
        if root is None:
            folder = local_folder(uri)
            return files_under(folder) if folder is not None and folder.is_dir() else None
        found: list[ArtifactFile] = []
        pending = [""]
        while pending:
            relative = pending.pop()
            try:
                listed = self._call("GET", ARTIFACTS, params={"path": posixpath.join(root, relative) if relative
                                                              else root})
            except SourceError:
                return None  # a server that does not serve artifacts (`mlflow server --no-serve-artifacts`)
            for entry in listed.get("files", []):
                path = posixpath.join(relative, entry["path"]) if relative else entry["path"]
                if entry.get("is_dir"):
                    pending.append(path)
                else:
                    found.append(ArtifactFile(path, _int(entry.get("file_size"))))
        return sorted(found, key=lambda f: f.path)

    def read_at(self, uri: str, path: str) -> bytes:
        root = _proxy_root(uri)
        if root is None:
            folder = local_folder(uri)
            assert folder is not None
            return (folder / path).read_bytes()
        try:
            response = self.http.get(f"{ARTIFACTS}/{quote(posixpath.join(root, path))}")
        except httpx.HTTPError as error:
            raise SourceError(f"cannot read artifact {path} at {uri}: {error}") from None
        if response.status_code != 200:
            raise SourceError(f"cannot read artifact {path} at {uri}: {response.status_code}")
        return response.content

    def models(self) -> list[SourceModel]:
        models = []
        for model in self._pages("GET", f"{API}/registered-models/search", "registered_models",
                                 {"max_results": PAGE}):
            found = SourceModel(model["name"], model.get("description") or "", _pairs(model.get("tags")),
                                aliases={a["alias"]: int(a["version"]) for a in model.get("aliases", [])},
                                creation_time=_int(model.get("creation_timestamp")) or 0)
            for version in self._pages("GET", f"{API}/model-versions/search", "model_versions",
                                       {"filter": f"name = '{_quoted(model['name'])}'", "max_results": 200}):
                found.versions.append(SourceVersion(
                    int(version["version"]), version.get("source") or "", version.get("run_id") or "",
                    version.get("description") or "", _pairs(version.get("tags")),
                    self._download_uri(model["name"], version["version"]),
                    version.get("user_id") or "", _int(version.get("creation_timestamp")) or 0,
                    version.get("status") or "READY"))
            found.versions.sort(key=lambda v: v.version)
            models.append(found)
        return models

    def _download_uri(self, name: str, version: object) -> str:
        try:
            return str(self._call("GET", f"{API}/model-versions/get-download-uri",
                                  params={"name": name, "version": str(version)}).get("artifact_uri", ""))
        except SourceError:
            return ""


def _proxy_root(uri: str) -> str | None:
    """The folder an `mlflow-artifacts:` URI names under the server's artifact proxy (None: another scheme)."""
    parsed = urlparse(uri)
    return parsed.path.strip("/") if parsed.scheme == "mlflow-artifacts" else None


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _value(value: Any) -> float:
    """A metric value as MLflow's JSON carries it: a number, or "NaN"/"Infinity" text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
