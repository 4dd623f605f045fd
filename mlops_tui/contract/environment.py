"""What a run records about where it ran: Python, platform, key package versions and the git commit.

SDK runs (`mlops_tui.environment`) and training jobs (`backend.services.training`) both record these tags.
"""
from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from . import tags


def git_commit(folder: Path | None = None) -> str | None:
    """The HEAD commit of the repository holding `folder` (the working directory), if any."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder or Path.cwd(), capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of those of `names` that are installed."""
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment_tags(packages: tuple[str, ...], source: Path | None = None) -> dict[str, str]:
    """`mlops.python`, `mlops.platform`, `mlops.packages` (JSON of `packages`' versions) and, when `source`
    (default: the working directory) is in a git checkout, `mlops.git.commit`."""
    found = {
        tags.PYTHON: platform.python_version(),
        tags.PLATFORM: platform.platform(),
        tags.PACKAGES: json.dumps(package_versions(packages), sort_keys=True),
    }
    commit = git_commit(source)
    if commit:
        found[tags.GIT_COMMIT] = commit
    return found
