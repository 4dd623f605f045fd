"""Small helpers for Textual inputs shared by the console's prompts."""
from __future__ import annotations

from textual.widgets import Input


def accept_suggestion(field: Input) -> None:
    """Take the completion the input shows (its suggester's), with the cursor at the end."""
    if field._suggestion:  # noqa: SLF001 - Textual keeps the shown completion here
        field.value = field._suggestion
        field.cursor_position = len(field.value)
