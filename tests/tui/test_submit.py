"""The shared "register the data file, then submit" logic of `mlops train` and the console's `n`."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_tui.cli.main import app as cli
from mlops_tui.contract import DatasetVersion, Job
from mlops_tui.submit import (
    DataFileMissing,
    DataUploadError,
    PipelineFileError,
    data_file,
    read_pipeline,
    submit_pipeline,
    submit_pipeline_async,
)

from .seed import Backend, close_backend, open_backend

PIPELINE = 'name = "p"\ntask = "classification"\n[[models]]\nestimator = "LogisticRegression"\n' \
           '[data]\npath = "{path}"\ntarget = "y"\n'


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """The real backend in-process; it trusts one Dask scheduler, so a Dask job can be queued."""
    backend = open_backend(tmp_path / "home", monkeypatch, dask_schedulers=("tcp://127.0.0.1:8786",))
    yield backend
    close_backend(backend)


class SyncClient:
    """The two calls `submit_pipeline` makes, sent to the real backend and recorded; `refuse_upload`
    makes the upload fail as the server does for a file it cannot read."""

    def __init__(self, backend: Backend, refuse_upload: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.refuse_upload = refuse_upload
        self.backend = backend

    def add_dataset_version(self, name: str, filename: str, content: bytes) -> DatasetVersion:
        self.calls.append(("upload", name, filename, content.decode()))
        if self.refuse_upload:
            content = b"\x00\x01 not a table"
        return asyncio.run(self.backend.seeder.add_dataset_version(name, filename, content))

    def submit_job(self, pipeline: str, dataset: str | None = None, executor: str | None = None,
                   scheduler: str | None = None) -> Job:
        self.calls.append(("submit", dataset or "", executor or ""))
        return asyncio.run(self.backend.seeder.submit_job(pipeline, dataset, executor, scheduler))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "pipes").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text("a,y\n1,0\n")
    return tmp_path


def test_data_path_resolves_against_the_pipeline_folder(folder: Path) -> None:
    toml = folder / "pipes" / "p.toml"
    toml.write_text(PIPELINE.format(path="../data/sales.csv"))
    pipeline = read_pipeline(toml)
    assert pipeline.data_file == (folder / "data" / "sales.csv").resolve()
    assert pipeline.dataset_name == "sales" and pipeline.text == toml.read_text()
    assert data_file(toml, 'name = "p"\n[data]\ndataset = "sales@2"\n') is None  # a registered dataset
    assert data_file(toml, "name = [broken") is None  # the server names the problem
    with pytest.raises(DataFileMissing, match="no such file"):
        data_file(toml, PIPELINE.format(path="absent.csv"))
    with pytest.raises(PipelineFileError, match="cannot read"):
        read_pipeline(folder / "nope.toml")


def test_sync_and_async_upload_then_submit_with_the_ref(folder: Path, backend: Backend) -> None:
    toml = folder / "p.toml"
    toml.write_text(PIPELINE.format(path="data/sales.csv"))
    pipeline = read_pipeline(toml)
    client = SyncClient(backend)
    job = submit_pipeline(client, pipeline, executor="dask")
    assert client.calls == [("upload", "sales", "sales.csv", "a,y\n1,0\n"), ("submit", "sales@1", "dask")]
    assert job.dataset == "sales@1"
    uploads = lambda: backend.switch.count("POST", "/api/v1/datasets/")  # noqa: E731
    job = asyncio.run(submit_pipeline_async(backend.client, pipeline))  # the same bytes: the same version
    assert uploads() == 1 and job.dataset == "sales@1" and job.executor == "local"
    sales = asyncio.run(backend.seeder.get_dataset("sales"))
    assert [v.ref for v in sales.versions] == ["sales@1"]
    plain = read_pipeline(_write(folder / "q.toml", PIPELINE.replace('path = "{path}"', 'dataset = "sales@1"')))
    job = asyncio.run(submit_pipeline_async(backend.client, plain))
    assert uploads() == 1 and job.dataset is None  # nothing to upload


def test_a_refused_upload_is_told_apart_from_a_refused_pipeline(folder: Path, backend: Backend) -> None:
    pipeline = read_pipeline(_write(folder / "p.toml", PIPELINE.format(path="data/sales.csv")))
    client = SyncClient(backend, refuse_upload=True)
    with pytest.raises(DataUploadError) as caught:
        submit_pipeline(client, pipeline)
    assert caught.value.status == 422 and caught.value.source.name == "sales.csv"
    assert [call[0] for call in client.calls] == ["upload"]  # nothing submitted


def test_mlops_train_exit_codes_are_unchanged(folder: Path) -> None:
    runner = CliRunner()
    missing = _write(folder / "m.toml", PIPELINE.format(path="absent.csv"))
    done = runner.invoke(cli, ["train", str(missing), "--url", "http://127.0.0.1:9"])
    assert done.exit_code == 4 and "no such file" in done.output  # before any connection
    done = runner.invoke(cli, ["train", str(folder / "none.toml"), "--url", "http://127.0.0.1:9"])
    assert done.exit_code == 2 and "cannot read" in done.output


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_new_modules_keep_the_layers_apart() -> None:
    """The shared submit logic loads no Textual (the CLI uses it); the new screens load no backend."""
    code = ("import sys, mlops_tui.submit; assert 'textual' not in sys.modules; "
            "import mlops_tui.screens.jobs, mlops_tui.screens.job_detail, mlops_tui.screens.datasets, "
            "mlops_tui.screens.dataset_detail; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'backend'); assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
