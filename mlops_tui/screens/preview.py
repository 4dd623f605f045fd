"""`enter` on an artifact file: a preview of a small text file, without leaving the console.

JSON is pretty-printed, a CSV's head shows as a table, TOML and other text as they are, and logs
(`.log`, `.txt`, `.out`, `.err`) from their end. At most `PREVIEW_BYTES` are fetched (the backend
answers an HTTP range); a file with a NUL byte or that is not UTF-8 is called binary, not shown.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..client import MlopsError
from ..contract import ArtifactFile
from ..formatting import safe_text, size
from ..keymap import bindings
from ..widgets.tables import NavTable

if TYPE_CHECKING:
    from ..app import MlopsApp

PREVIEW_BYTES = 64 * 1024
CSV_ROWS = 50
CSV_COLUMNS = 30
TAIL_SUFFIXES = frozenset({".log", ".txt", ".out", ".err"})


@dataclass(frozen=True)
class Preview:
    """What a file's first (or last) bytes show as: `kind` is json, csv, text or binary."""

    kind: str
    note: str
    lines: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    """For a CSV: the header, then the first rows."""


def reads_from_end(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in TAIL_SUFFIXES


def byte_range(path: str, total: int | None) -> str | None:
    """The HTTP range to ask for: nothing for a small file, else the head (a log: the tail)."""
    if total is not None and total <= PREVIEW_BYTES:
        return None
    return f"-{PREVIEW_BYTES}" if reads_from_end(path) else f"0-{PREVIEW_BYTES - 1}"


def _decode(data: bytes, cut_start: bool, cut_end: bool) -> str | None:
    """UTF-8 text, or None for binary; a character cut at either edge of the range is dropped."""
    if b"\x00" in data:
        return None
    if cut_start:
        data = data.lstrip(bytes(range(0x80, 0xC0)))  # continuation bytes of a cut character
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not cut_end)
    except UnicodeDecodeError:
        return None


def preview_of(path: str, data: bytes, total: int | None) -> Preview:
    """How `data` (all of `path`, or its first/last `PREVIEW_BYTES` of `total`) is shown."""
    total = len(data) if total is None else total
    partial = len(data) < total
    tail = partial and reads_from_end(path)
    text = _decode(data, cut_start=tail, cut_end=partial and not tail)
    if text is None:
        return Preview("binary", f"binary file ({size(total)}): not shown")
    lines = text.splitlines()
    if partial and lines:  # drop the line cut by the range
        lines = lines[1:] if tail else lines[:-1]
    shown = f"last {size(len(data))} of {size(total)}" if tail else (
        f"first {size(len(data))} of {size(total)}" if partial else size(total))
    suffix = PurePosixPath(path).suffix.lower()
    if suffix == ".json" and not partial:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return Preview("text", f"{shown} · not valid JSON, shown as text", lines)
        return Preview("json", f"{shown} · JSON", pretty.splitlines())
    if suffix in (".csv", ".tsv"):
        rows = list(csv.reader(io.StringIO("\n".join(lines[:CSV_ROWS + 1])),
                               delimiter="\t" if suffix == ".tsv" else ","))
        if rows:
            more = len(lines) - 1 - (len(rows) - 1)
            note = f"{shown} · the first {len(rows) - 1} rows" + (f" (of {len(lines) - 1}+ read)" if more > 0 else "")
            return Preview("csv", note, rows=[row[:CSV_COLUMNS] for row in rows])
    return Preview("text", shown, lines)


class ArtifactPreview(ModalScreen[None]):
    """The preview of one artifact file; `esc` or `q` closes it."""

    DEFAULT_CSS = """
    ArtifactPreview { align: center middle; }
    ArtifactPreview > Vertical { width: 100%; height: 100%; border: round $accent; background: $surface; }
    ArtifactPreview #preview-note { color: $text-muted; height: 1; padding: 0 1; }
    ArtifactPreview ScrollableContainer { height: 1fr; }
    ArtifactPreview #preview-text { width: auto; text-wrap: nowrap; }
    ArtifactPreview #preview-table { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings("preview")

    def __init__(self, run_id: str, file: ArtifactFile) -> None:
        super().__init__()
        self.run_id = run_id
        self.file = file
        self.preview: Preview | None = None
        """What is shown, once the bytes arrived (tests wait for it)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(safe_text(self.file.path), style="bold"), id="preview-title")
            yield Label("loading…", id="preview-note")
            with ScrollableContainer(id="preview-scroll"):
                yield Static("", id="preview-text")
            yield NavTable(id="preview-table")

    def on_mount(self) -> None:
        self.query_one("#preview-table").display = False
        self.query_one(ScrollableContainer).focus()
        self.run_worker(self._load(), exit_on_error=False)

    async def _load(self) -> None:
        app = cast("MlopsApp", self.app)
        try:
            data = await app.client.download_artifact(self.run_id, self.file.path,
                                                      byte_range(self.file.path, self.file.size))
        except MlopsError as error:
            self.query_one("#preview-note", Label).update(Text(f"✗ {safe_text(error.message)}"))
            return
        if len(data) > PREVIEW_BYTES:  # a server that ignored the range: keep the part asked for
            data = data[-PREVIEW_BYTES:] if reads_from_end(self.file.path) else data[:PREVIEW_BYTES]
        self.show(preview_of(self.file.path, data, self.file.size))

    def show(self, preview: Preview) -> None:
        self.preview = preview
        self.query_one("#preview-note", Label).update(Text(preview.note + "  (esc closes)"))
        if preview.kind == "csv":
            table = self.query_one("#preview-table", NavTable)
            header, *rows = preview.rows
            table.set_columns([(f"c{i}", safe_text(name), None) for i, name in enumerate(header)])
            width = len(header)
            table.sync_rows([(str(n), (row + [""] * width)[:width]) for n, row in enumerate(rows)])
            self.query_one(ScrollableContainer).display = False
            table.display = True
            table.focus()
            return
        self.query_one("#preview-text", Static).update(Text("\n".join(safe_text(line) for line in preview.lines)))
        if reads_from_end(self.file.path):
            self.query_one(ScrollableContainer).scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
