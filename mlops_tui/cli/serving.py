"""`mlops predict NAME[@ALIAS|/VERSION] --input FILE.csv`: a CSV file's rows predicted by a served version.

A bare NAME predicts with `NAME@production`. The file goes to the backend as it is (the backend checks
its rows against the version's signature: a bad value is exit 1 with the message naming row and column).
`--output FILE.csv` writes the input rows with a `prediction` column (and `proba_<class>` columns with
`--proba`); a table is printed otherwise, or the answer as JSON with `--json`.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..contract.monitoring import Prediction
from ..contract.registry import parse_model_ref
from .output import JsonOption, UrlOption, connect, console, handle_errors, note, print_json, shown, usage_error

DEFAULT_ALIAS = "production"


def _target(text: str) -> tuple[str, int | str]:
    try:
        name, ref = parse_model_ref(text)
    except ValueError as error:
        usage_error(f"{text!r}: {error}")
    return name, DEFAULT_ALIAS if ref is None else ref


@handle_errors
def predict_command(
    ref: str = typer.Argument(..., metavar="NAME[@ALIAS|/VERSION]",
                              help=f"The model: NAME@ALIAS, NAME/VERSION, or NAME (NAME@{DEFAULT_ALIAS})."),
    input_file: Path = typer.Option(..., "--input", "-i", metavar="FILE.csv",
                                    help="The rows to predict: a CSV file with a header row."),
    proba: bool = typer.Option(False, "--proba", help="Add each row's class probabilities (classifiers)."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="FILE.csv",
                                       help="Write the input rows with a prediction column to this CSV file."),
    json_out: bool = JsonOption,
    url: str | None = UrlOption,
) -> None:
    """Predict a CSV file's rows with a model version (or the version an alias points at)."""
    name, target = _target(ref)
    if not input_file.is_file():
        usage_error(f"--input {str(input_file)!r}: no such file")
    content = input_file.read_bytes()
    with connect(url) as client:
        answer = client.predict_csv(name, target, content, proba=proba)
    if output is not None:
        output.write_text(_with_predictions(content, answer), encoding="utf-8")
        if not json_out:
            note(f"{len(answer.predictions)} predictions of {name}/{answer.model_version} written to {output}")
    if json_out:
        print_json(answer.model_dump(mode="json", exclude_none=True))
    elif output is None:
        _print_table(name, answer)


def _print_table(name: str, answer: Prediction) -> None:
    classes = answer.classes or []
    table = Table("ROW", "PREDICTION", *(f"P({shown(c)})" for c in classes), "REQUEST ID",
                  title=f"{shown(name)}/{answer.model_version}: {len(answer.predictions)} predictions",
                  title_justify="left")
    probabilities = answer.probabilities or [[] for _ in answer.predictions]
    for index, (prediction, shares, request_id) in enumerate(zip(answer.predictions, probabilities,
                                                                  answer.request_ids, strict=True)):
        table.add_row(str(index), shown(prediction), *(f"{share:.4f}" for share in shares), shown(request_id))
    console.print(table)


def _with_predictions(content: bytes, answer: Prediction) -> str:
    """The input CSV's rows as they were, with `prediction` (and `proba_<class>`) columns appended."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header, body = rows[0], [row for row in rows[1:] if row]
    extra = ["prediction"] + [f"proba_{c}" for c in answer.classes or []]
    probabilities = answer.probabilities or [[] for _ in answer.predictions]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header + extra)
    for row, prediction, shares in zip(body, answer.predictions, probabilities, strict=True):
        writer.writerow(row + [_cell(prediction)] + [repr(float(share)) for share in shares])
    return out.getvalue()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)
