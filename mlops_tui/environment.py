"""What an SDK run records about where it ran: the command, plus the shared environment tags
(`mlops_tui.contract.environment`: Python, platform, key package versions, git commit of the working directory)."""
from __future__ import annotations

import sys
from pathlib import Path

from .contract import tags as tag
from .contract.environment import environment_tags

KEY_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "skops", "mlops-tui", "torch", "xgboost", "lightgbm")


def run_environment_tags() -> dict[str, str]:
    """Tags under `mlops.` that every SDK run gets."""
    command = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return {tag.SOURCE_COMMAND: command[:8000], **environment_tags(KEY_PACKAGES)}
