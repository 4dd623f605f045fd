"""The backend's one path resolver: `mlops_tui.contract.paths` (the rule the CLI shares), with its
refusals as `Invalid` naming the request's field (a 422, or MLflow's INVALID_PARAMETER_VALUE).

Every name that becomes a path in the backend goes through `resolve_inside`: artifact paths from
requests (native and MLflow), run folders and model paths from database rows, dataset files."""
from __future__ import annotations

from pathlib import Path

from mlops_tui.contract import paths

from .errors import Invalid

RUN_FOLDER = "the run's folder"


def resolve_inside(root: Path, relative: str, field: str = "path", where: str = RUN_FOLDER,
                   follow_last: bool = True) -> Path:
    """`root / relative` with links followed, or `Invalid` naming `field` when it would leave `root` or
    breaks a rule of `mlops_tui.contract.paths` (NUL, control characters, backslashes, absolute paths,
    `..`, percent-encoded `..`, overlong names, a link that leads outside). `follow_last=False` keeps
    the last component as it is (a delete removes a link, not what it points at)."""
    try:
        return paths.resolve_inside(root, relative, where, follow_last)
    except paths.UnsafePath as error:
        raise Invalid(f"{field} {error}", field) from None
