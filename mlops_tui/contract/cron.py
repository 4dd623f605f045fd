"""Five-field cron lines (`[retrain] schedule`), in UTC, with the standard library only.

`minute hour day-of-month month day-of-week`; each field is `*`, a number, a range `a-b`, a list
`a,b,c`, any of them with a step (`*/15`, `1-30/5`); months and weekdays also by name (`jan`, `mon`);
weekday 0 and 7 are both Sunday. As in Vixie cron, when both day fields are restricted a day matches
either of them. `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly` stand for their lines.

`parse` raises ValueError naming the field; `next_after(expr, epoch_ms)` is the first minute strictly
after `epoch_ms` the line matches.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
          "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
MONTHS = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
WEEKDAYS = {name: index for index, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day-of-month", 1, 31, {}), ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, WEEKDAYS))
SEARCH_YEARS = 5
"""How far `next_after` looks before saying a line never fires (`0 0 30 2 *`: February 30th)."""


@dataclass(frozen=True)
class Cron:
    """A parsed line: the allowed values of each field (weekdays 0-6, Sunday 0)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    """Day-of-month is `*`: only the weekday field restricts the day."""
    any_weekday: bool

    def day_matches(self, moment: datetime) -> bool:
        by_day = moment.day in self.days
        by_weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday


def parse(expr: str) -> Cron:
    """The line's fields; ValueError naming the bad field (`cron day-of-week field '8': ...`)."""
    text = MACROS.get(expr.strip().lower(), expr.strip())
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise ValueError(f"a cron line has {len(FIELDS)} fields (minute hour day-of-month month day-of-week), "
                         f"{expr.strip()!r} has {len(parts)}")
    values = [_field(part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in values[4])
    return Cron(values[0], values[1], values[2], values[3], weekdays, parts[2] == "*", parts[4] == "*")


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        try:
            found.update(_item(item.lower(), low, high, names))
        except ValueError as error:
            raise ValueError(f"cron {name} field {text!r}: {error}") from None
    return frozenset(found)


def _item(item: str, low: int, high: int, names: dict[str, int]) -> range:
    span, _, step_text = item.partition("/")
    step = _number(step_text, 1, 1_000, {}) if step_text else 1
    if span == "*":
        start, end = low, high
    elif "-" in span:
        first, _, last = span.partition("-")
        start, end = _number(first, low, high, names), _number(last, low, high, names)
        if start > end:
            raise ValueError(f"range {span!r} runs backwards")
    else:
        start = _number(span, low, high, names)
        end = high if step_text else start
    return range(start, end + 1, step)


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}-{high}")
    return value


def check(expr: str) -> str:
    """`expr` when it parses and fires at least once in `SEARCH_YEARS` years; ValueError otherwise."""
    next_after(expr, 0)
    return expr


def next_after(expr: str | Cron, epoch_ms: int) -> int:
    """The first whole minute strictly after `epoch_ms` (UTC) that the line matches, in epoch ms."""
    cron = parse(expr) if isinstance(expr, str) else expr
    moment = datetime.fromtimestamp(epoch_ms // 60_000 * 60, UTC) + timedelta(minutes=1)
    limit = moment.year + SEARCH_YEARS
    while moment.year <= limit:
        if moment.month not in cron.months:
            moment = (moment.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
        elif not cron.day_matches(moment):
            moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
        elif moment.hour not in cron.hours:
            moment = moment.replace(minute=0) + timedelta(hours=1)
        elif moment.minute not in cron.minutes:
            moment += timedelta(minutes=1)
        else:
            return int(moment.timestamp()) * 1000
    raise ValueError(f"cron line {expr if isinstance(expr, str) else ''!r} never fires (no matching day in "
                     f"{SEARCH_YEARS} years)")
