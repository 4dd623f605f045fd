"""Small modal questions: yes/no before cancelling a job, and the path of a pipeline file to start.

The submit modal does its work in a worker and shows what went wrong under the input (a missing
file, a data file that is not there, the server refusing the pipeline), so nothing ends the console.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label

from ..client import MlopsError
from ..contract import Job
from ..formatting import safe_text
from ..keymap import bindings, key_label
from ..submit import DataFileMissing, DataUploadError, PipelineFileError, read_pipeline, submit_pipeline_async
from ..widgets.inputs import accept_suggestion

if TYPE_CHECKING:
    from ..app import MlopsApp




def _keymap(screen: ModalScreen[Any]) -> dict[str, str]:
    config = getattr(screen.app, "config", None)
    return dict(getattr(config, "keys", {}) or {})


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question; dismisses with True only on `y`."""

    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical { width: 60; max-width: 100%; height: auto; border: round $warning;
                              background: $surface; padding: 0 1; }
    ConfirmModal #confirm-question { text-style: bold; margin: 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings("confirm")

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_text(self.question), id="confirm-question", markup=False)
            if self.detail:
                yield Label(safe_text(self.detail), classes="status-line", markup=False)
            keys = _keymap(self)
            yield Label(f"{key_label('confirm.yes', keys)} yes · {key_label('confirm.no', keys)} no",
                        classes="status-line", id="confirm-keys", markup=False)

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class PathSuggester(Suggester):
    """Completes the last part of a path from what is on disk: folders (ending with `/`) and TOML files."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        head, _, stem = value.rpartition("/")
        folder = Path(os.path.expanduser(head or ".")) if head or not value.startswith("/") else Path("/")
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return None
        for name in names:
            if not name.startswith(stem) or name == stem or name.startswith("."):
                continue
            is_dir = (folder / name).is_dir()
            if is_dir or name.endswith(".toml"):
                suffix = "/" if is_dir else ""
                return f"{head}/{name}{suffix}" if head or value.startswith("/") else f"{name}{suffix}"
        return None


class SubmitModal(ModalScreen[Job | None]):
    """`n`: the path of a pipeline TOML; its `data.path` is uploaded as a dataset version, then the
    job is submitted. Dismisses with the new job; errors stay under the input."""

    DEFAULT_CSS = """
    SubmitModal { align: center middle; }
    SubmitModal > Vertical { width: 76; max-width: 100%; height: auto; border: round $primary;
                             background: $surface; }
    SubmitModal Input, SubmitModal Input:focus { border: none; height: 1; padding: 0 1; background: $boost;
                                                 margin: 1 0 0 0; }
    SubmitModal #submit-error { color: $error; padding: 0 1; display: none; height: auto; }
    SubmitModal #submit-error.-shown { display: block; }
    SubmitModal #submit-hint { height: auto; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = bindings("start form")

    def __init__(self, initial: str = "") -> None:
        super().__init__()
        self.initial = initial
        self.busy = False
        self.error: str | None = None

    @property
    def hint(self) -> str:
        keys = _keymap(self)
        return (f"enter starts it · {key_label('form.complete', keys)} completes · "
                f"{key_label('form.cancel', keys)} cancels\n"
                "data.path is uploaded first, as a version of the dataset <file name>")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(" Start a pipeline from a file", classes="section-title")
            yield Input(self.initial, placeholder="path/to/pipeline.toml", suggester=PathSuggester(),
                        id="submit-path")
            yield Label("", id="submit-error", markup=False)
            yield Label(self.hint, id="submit-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def show_error(self, message: str | None) -> None:
        self.error = message
        label = self.query_one("#submit-error", Label)
        label.update(f"✗ {message}" if message else "")
        label.set_class(bool(message), "-shown")

    def action_complete(self) -> None:
        accept_suggestion(self.query_one(Input))

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.error and not self.busy:
            self.show_error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.busy:
            return
        if not text:
            self.show_error("type the path of a pipeline TOML file")
            return
        self.busy = True
        self.query_one("#submit-hint", Label).update("submitting…\n")
        self.run_worker(self._submit(Path(os.path.expanduser(text))), group="submit", exclusive=True,
                        exit_on_error=False)

    async def _submit(self, path: Path) -> None:
        app = cast("MlopsApp", self.app)
        job: Job | None = None
        try:
            pipeline = read_pipeline(path)
            job = await submit_pipeline_async(app.client, pipeline)
        except (PipelineFileError, DataFileMissing) as error:
            self.show_error(str(error))
        except UnicodeDecodeError:
            self.show_error(f"cannot read {path}: not a text file")
        except DataUploadError as error:
            self.show_error(f"uploading {error.source.name}: {_message(error)}")
        except MlopsError as error:
            if error.unreachable:
                app.report_unreachable(error)
            self.show_error(_message(error))
        finally:
            self.busy = False
        if job is not None:
            self.dismiss(job)
        else:
            self.query_one("#submit-hint", Label).update(self.hint)


def _message(error: MlopsError) -> str:
    return f"{error.message} ({error.field})" if error.field and error.field not in error.message else error.message
