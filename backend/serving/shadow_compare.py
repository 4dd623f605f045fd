"""Predicting a batch of shadowed requests cheaply, and the rows that record both sides' answers.

The shadow thread takes the requests that queued in the last moments and predicts them with the shadow in
one call (their rows merged into one table when they carry the same columns): a scikit-learn call costs
about as much for one row as for fifty, so the shadow takes little of the CPU the requests need. A merged
call that fails is retried request by request (one bad request fails alone). The shadow's latency is
sampled: about once a second the batch's first request is predicted alone, as the champion predicted it,
and timed (timing every request alone would cost as much as shadowing without batches).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd

from ..errors import DomainError
from .inputs import Table
from .predictor import LoadedModel, Output

MAX_ERROR = 200
AGREE_WITHIN = 0.05
"""Regressors agree when the shadow's prediction is within this share of the champion's."""


@dataclass(frozen=True)
class Offered:
    """A request the champion answered (or refused after reading its rows), waiting for the shadow."""

    shadow_id: int
    shadow_version: int
    champion: LoadedModel
    table: Table
    frame: pd.DataFrame | None
    """The champion's conformed rows (None when the champion refused them)."""
    output: Output | None
    error: str | None
    champion_ms: float | None
    request_ids: list[str] | None
    time_ms: int


@dataclass(frozen=True)
class Answer:
    """The shadow's answer to one request: its output, or why it failed; its time when it was timed."""

    output: Output | None
    error: str | None = None
    took_ms: float | None = None


def compare(load: Callable[[], LoadedModel], group: Sequence[Offered], timed: bool) -> list[tuple[Any, ...]]:
    """The stored rows of a group of requests (same shadow, same champion): the shadow's answers beside
    the champion's (the first request's timed, when `timed`)."""
    answers = shadow_answers(load, group, timed)
    probabilities = champion_probabilities(group)
    return [row for offered, proba, answer in zip(group, probabilities, answers, strict=True)
            for row in stored_rows(offered, proba, answer)]


def shadow_answers(load: Callable[[], LoadedModel], group: Sequence[Offered], timed: bool) -> list[Answer]:
    try:
        model = load()
    except DomainError as refused:
        return [Answer(None, refused.message)] * len(group)
    except Exception as failed:  # whatever the shadow does wrong is its error, never the request's
        return [Answer(None, f"{type(failed).__name__}: {failed}")] * len(group)
    answers = [predict(model, group[0].table, timed=True)] if timed else []
    rest = group[len(answers):]
    if rest:
        merged = merge([offered.table for offered in rest])
        whole = predict(model, merged) if merged is not None else None
        if whole is not None and whole.output is not None:
            answers += split(whole.output, [offered.table.rows for offered in rest])
        else:
            answers += [predict(model, offered.table) for offered in rest]
    return answers


def predict(model: LoadedModel, table: Table, timed: bool = False) -> Answer:
    """The model's answer to the table's rows (conformed to its own signature), timed when asked."""
    started = time.perf_counter()
    try:
        output = model.predict(model.conform(table).frame, proba=has_proba(model))
    except DomainError as refused:
        return Answer(None, refused.message)
    except Exception as failed:
        return Answer(None, f"{type(failed).__name__}: {failed}")
    return Answer(output, None, (time.perf_counter() - started) * 1000.0 if timed else None)


def has_proba(model: LoadedModel) -> bool:
    return model.classes is not None and hasattr(model.pipeline, "predict_proba")


def merge(tables: Sequence[Table]) -> Table | None:
    """One table of all the rows, when every table has the same columns in the same order (else None)."""
    first = tables[0]
    names = list(first.columns)
    if any(list(table.columns) != names or table.from_text != first.from_text for table in tables):
        return None
    return Table({name: [value for table in tables for value in table.columns[name]] for name in names},
                 sum(table.rows for table in tables), first.place, first.missing_field, first.from_text)


def split(output: Output, sizes: Sequence[int]) -> list[Answer]:
    answers, start = [], 0
    for size in sizes:
        end = start + size
        probabilities = output.probabilities[start:end] if output.probabilities is not None else None
        answers.append(Answer(Output(output.predictions[start:end], probabilities, output.classes)))
        start = end
    return answers


def champion_probabilities(group: Sequence[Offered]) -> list[list[list[float]] | None]:
    """Each request's champion probabilities: as answered, else computed here for all of them in one call
    (off the request path), so the comparison can estimate both sides' performance."""
    found: list[list[list[float]] | None] = [
        offered.output.probabilities if offered.output is not None else None for offered in group]
    missing = [index for index, offered in enumerate(group)
               if found[index] is None and offered.output is not None and offered.frame is not None]
    champion = group[0].champion
    if not missing or not has_proba(champion):
        return found
    try:
        frame = pd.concat([group[index].frame for index in missing], ignore_index=True)
        computed = champion.pipeline.predict_proba(frame).tolist()
    except Exception:  # the champion answered; its probabilities are a bonus
        return found
    start = 0
    for index in missing:
        end = start + group[index].table.rows
        found[index] = computed[start:end]
        start = end
    return found


def stored_rows(offered: Offered, champion_proba: list[list[float]] | None, answer: Answer) -> list[tuple[Any, ...]]:
    """One `shadow_rows` row per request row (`store.shadows.ROW_COLUMNS` order); the times on the first."""
    regressor = offered.champion.classes is None
    ours, theirs = offered.output, answer.output
    ids: list[str | None] = [*offered.request_ids] if offered.request_ids else [None] * offered.table.rows
    error = answer.error[:MAX_ERROR] if answer.error is not None else None
    refused = offered.error[:MAX_ERROR] if offered.error is not None else None
    found = []
    for index in range(offered.table.rows):
        mine = ours.predictions[index] if ours is not None else None
        their = theirs.predictions[index] if theirs is not None else None
        found.append((
            offered.shadow_id, ids[index], offered.time_ms, offered.champion.version, int(index == 0),
            int(agree(mine, their, regressor)) if ours is not None and theirs is not None else None,
            _json(mine) if ours is not None else None,
            _json(champion_proba[index]) if champion_proba is not None else None,
            offered.champion_ms if index == 0 else None, refused,
            _json(their) if theirs is not None else None,
            _json(theirs.probabilities[index]) if theirs is not None and theirs.probabilities else None,
            answer.took_ms if index == 0 else None, error))
    return found


def agree(champion: Any, shadow: Any, regressor: bool) -> bool:
    """Same class; for a regressor, within `AGREE_WITHIN` of the champion's value."""
    if regressor and isinstance(champion, int | float) and isinstance(shadow, int | float):
        if not (math.isfinite(champion) and math.isfinite(shadow)):
            return False
        return abs(champion - shadow) <= AGREE_WITHIN * abs(champion)
    return bool(champion == shadow)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
