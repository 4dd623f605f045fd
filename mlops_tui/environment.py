"""What a run records about where it ran: git commit, command, Python and key package versions."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .contract import tags as tag

KEY_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "skops", "mlops-tui", "torch", "xgboost", "lightgbm")


def git_commit(folder: Path | None = None) -> str | None:
    """The HEAD commit of the repository holding `folder` (the working directory), if any."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder or Path.cwd(), capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_environment_tags() -> dict[str, str]:
    """Tags under `mlops.` that every SDK run gets."""
    tags = {
        tag.SOURCE_COMMAND: " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python",
                                          *sys.argv[1:]])[:8000],
        tag.PYTHON: platform.python_version(),
        tag.PLATFORM: platform.platform(),
        tag.PACKAGES: json.dumps(package_versions(), sort_keys=True),
    }
    commit = git_commit()
    if commit:
        tags[tag.GIT_COMMIT] = commit
    return tags
