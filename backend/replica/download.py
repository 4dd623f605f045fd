"""A version's model file, fetched from the backend into the replica's cache folder and checked
against the sha256 the version was registered with: bytes that do not match are refused, never
written where they would be loaded, never loaded."""
from __future__ import annotations

import hashlib
from pathlib import Path

from mlops_tui.client import Client
from mlops_tui.contract import paths
from mlops_tui.contract.registry import ModelVersion
from mlops_tui.download import write_file


class ModelMismatch(RuntimeError):
    """The bytes the backend sent are not the registered model (a changed file or a tampered answer)."""


def cached_path(cache_dir: Path, version: ModelVersion) -> Path:
    """`<cache>/<name>-<version>-<sha256 prefix>.skops`, kept inside the cache folder (the name and the
    hash come from the backend's answer: checked by the shared path rule, one file name, no folder)."""
    name = f"{version.name}-{version.version}-{version.sha256[:16]}.skops"
    try:
        path = paths.resolve_inside(cache_dir, name, "the cache folder")
    except paths.UnsafePath as error:
        raise ModelMismatch(f"model name {version.name!r} does not make a file name inside {cache_dir}: {error}"
                            ) from None
    if path.parent != cache_dir.resolve():
        raise ModelMismatch(f"model name {version.name!r} does not make a file name inside {cache_dir}")
    return path


def model_bytes(client: Client, cache_dir: Path, version: ModelVersion) -> bytes:
    """The registered model file of `version`: the cached copy when its hash still matches, else
    downloaded, checked, then moved into the cache (atomic: a worker never reads half a file)."""
    path = cached_path(cache_dir, version)
    if path.exists():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == version.sha256:
            return data
    data = client.download_model(version.name, version.version)
    found = hashlib.sha256(data).hexdigest()
    if found != version.sha256:
        raise ModelMismatch(f"{version.name}/{version.version}: the downloaded file's sha256 {found[:12]}… is not "
                            f"the registered {version.sha256[:12]}…; refused, not loaded")
    write_file(path, data)
    return data
