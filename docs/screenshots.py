"""Regenerate the README's console screenshots: `.venv/bin/python docs/screenshots.py`.

Each screen is drawn by Textual from the tests' fixed data (SVG), then turned into a PNG with
`rsvg-convert` (Debian: `apt-get install librsvg2-bin`) when it is installed.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ["TEXTUAL_ANIMATIONS"] = "none"
os.environ["MLOPS_CONFIG"] = "/home/you/.config/mlops-tui/config.toml"
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mlops_tui.app import MlopsApp  # noqa: E402
from tui.conftest import QUIET, settle  # noqa: E402
from tui.fakes import DONE_JOB, FakeClient, fixed_clock  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SIZE = (100, 30)
RUN = FakeClient().runs[9].id
SHOTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "overview": (None, ()),
    "runs": ("runs churn", ("j", "plus", "j", "j", "space", "j", "space")),
    "run-detail": (f"run {RUN}", ()),
    "run-charts": (f"run {RUN}", ("right_square_bracket",)),
    "compare": ("runs churn", ("space", "space", "space", "c", "right_square_bracket")),
    "compare-charts": ("runs churn", ("space", "space", "c", "left_square_bracket")),
    "filter-error": ("runs churn", ("slash", *"metrics.acc >> 1", "enter")),
    "help": (None, ("question_mark",)),
    "jobs": ("jobs", ()),
    "job-detail": (f"jobs {DONE_JOB}", ()),
    "dataset": ("datasets churn", ("space", "j", "j", "space")),
    "dataset-diff": ("datasets churn", ("space", "j", "j", "space", "d")),
}


async def shoot(name: str, start: str | None, keys: tuple[str, ...]) -> Path:
    app = MlopsApp(client=FakeClient(), config=QUIET, clock=fixed_clock, start=start)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        svg = app.export_screenshot(title=f"mlops tui: {name}")
    path = OUT / f"{name}.svg"
    path.write_text(svg)
    return path


def to_png(svg: Path) -> None:
    # xml:space keeps the spaces Textual writes at the start of styled runs of text
    source = svg.read_text().replace("<svg ", '<svg xml:space="preserve" ', 1)
    subprocess.run(["rsvg-convert", "-o", str(svg.with_suffix(".png"))], input=source.encode(), check=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (start, keys) in SHOTS.items():
        svg = asyncio.run(shoot(name, start, keys))
        if shutil.which("rsvg-convert"):
            to_png(svg)
        print(svg.relative_to(ROOT))


if __name__ == "__main__":
    main()
