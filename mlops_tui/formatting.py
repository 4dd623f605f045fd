"""How values read in the console: times in the clock's zone, short durations, compact numbers,
and statuses as a glyph plus a word so they read without colour."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from rich.text import Text

from .contract import JobStatus, RunStatus
from .contract.alerts import AlertStatus, Severity
from .contract.monitoring import DriftStatus
from .contract.registry import GateReport, RequestStatus, VersionStatus

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware; its zone is the zone times are shown in."""


def system_clock() -> datetime:
    return datetime.now().astimezone()


STATUS_GLYPHS: dict[str, tuple[str, str]] = {
    RunStatus.RUNNING: ("▸", "cyan"),
    RunStatus.SCHEDULED: ("…", "blue"),
    RunStatus.FINISHED: ("✓", "green"),
    RunStatus.FAILED: ("✗", "red"),
    RunStatus.KILLED: ("■", "yellow"),
    # jobs
    JobStatus.QUEUED: ("…", "blue"),
    JobStatus.SUCCEEDED: ("✓", "green"),
    JobStatus.CANCELLED: ("■", "yellow"),
    # model versions and approval requests
    VersionStatus.READY: ("✓", "green"),
    VersionStatus.ARCHIVED: ("■", "yellow"),
    RequestStatus.PENDING: ("…", "blue"),
    RequestStatus.APPROVED: ("✓", "green"),
    RequestStatus.REJECTED: ("✗", "red"),
    RequestStatus.EXPIRED: ("■", "yellow"),
}
"""Each run, job, model version and request status's glyph and colour: the console and the CLI
both colour by it."""


DRIFT_GLYPHS: dict[str, tuple[str, str]] = {
    DriftStatus.DRIFT: ("▲ drift", "bold red"),
    DriftStatus.WARN: ("! warn", "yellow"),
    DriftStatus.OK: ("✓ ok", "green"),
    DriftStatus.TOO_FEW: ("… too few", "dim"),
}
"""A drift verdict as a glyph and a word (readable without colour): the console and the CLI show it so."""


def drift_cell(status: DriftStatus) -> Text:
    """`▲ drift`: the glyph carries the colour, the word stays plain."""
    word, style = DRIFT_GLYPHS[status]
    glyph, _, rest = word.partition(" ")
    return Text.assemble((glyph, style), " " + rest)


SEVERITY_GLYPHS: dict[str, tuple[str, str, str]] = {
    Severity.CRITICAL: ("‼", "crit", "bold red"),
    Severity.WARNING: ("!", "warn", "yellow"),
    Severity.INFO: ("·", "info", "dim"),
}
ALERT_GLYPHS: dict[str, tuple[str, str, str]] = {
    AlertStatus.OPEN: ("●", "open", "bold red"),
    AlertStatus.ACKNOWLEDGED: ("◐", "acked", "yellow"),
    AlertStatus.RESOLVED: ("✓", "resolved", "green"),
}
"""An alert's severity and status as a glyph and a short word (the glyph carries the colour)."""


def glyph_cell(glyphs: dict[str, tuple[str, str, str]], value: str) -> Text:
    """`‼ crit`, `● open`: a glyph in colour and a plain word; an unknown value as itself."""
    glyph, word, style = glyphs.get(value, ("?", value, ""))
    return Text.assemble((glyph, style), " " + word)


def ago(ms: int | None, now: datetime) -> str:
    """How long ago `ms` was, coarse enough not to flicker: `40s`, `12m`, `3h05m`, `2d04h`, `31d`; `-` for None."""
    if ms is None:
        return "-"
    seconds = max(int(now.timestamp() * 1000) - ms, 0) // 1000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds < 10 * 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    return f"{seconds // 86400}d"


def status_markup(value: str) -> str:
    """A status word in Rich markup, coloured as the console colours its glyph (the CLI's tables)."""
    colour = STATUS_GLYPHS.get(value, ("?", "white"))[1]
    return f"[{colour}]{value}[/]"


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL[ord("\t")] = " "
_CONTROL.update({code: f"\\u{code:04x}" for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                                       *range(0x2066, 0x206A))})
"""C0 and C1 controls (ESC, BEL, the 8-bit CSI 0x9b...), and the bidirectional controls that reorder what
follows them (a name that reads `gpj.exe` as `exe.jpg`): shown as escapes."""


def safe_text(value: str) -> str:
    """Text a user sent, made safe for a terminal: control characters (ESC, BEL, C1, DEL, newlines)
    are shown as `\\x1b` escapes instead of being sent raw, so a name cannot clear the screen or set
    the window title; bidirectional overrides as `\\u202e`, so it cannot read as another name. `--json`
    output never goes through this; it stays exact."""
    return value.translate(_CONTROL)


def status(value: str) -> Text:
    """`✓ FINISHED`: the glyph carries the colour, the word stays plain (bold when it failed), so it
    reads the same under NO_COLOR."""
    glyph, style = STATUS_GLYPHS.get(value, ("?", ""))
    text = Text()
    text.append(glyph, style=style)
    text.append(" " + value, style="bold" if value == RunStatus.FAILED else "")
    return text


def verdict(passed: bool) -> Text:
    """`✓ PASS` / `✗ FAIL` (bold): a gate's outcome, readable without colour."""
    if passed:
        return Text.assemble(("✓", "green"), " PASS")
    return Text.assemble(("✗", "red"), (" FAIL", "bold"))


def aliases_line(aliases: dict[str, int]) -> str:
    """`production→3 staging→4`: a model's aliases and the versions they point at, by name."""
    return " ".join(f"{alias}→{version}" for alias, version in sorted(aliases.items())) or "-"


def gate_summary(report: GateReport | None, names: bool = True) -> str:
    """`✓ 6/6` when every gate passed, `✗ 4/6 champion,latency` naming the failed ones (unless not
    `names`); `-` without a report."""
    if report is None:
        return "-"
    passed = sum(gate.passed for gate in report.gates)
    if report.passed or not names:
        return f"{'✓' if report.passed else '✗'} {passed}/{len(report.gates)}"
    failed = ",".join(dict.fromkeys(str(gate.gate) for gate in report.failed))
    return f"✗ {passed}/{len(report.gates)} {failed}"


def gate_value(value: float | str | None) -> str:
    """A gate's threshold or measured value: numbers compact, text as is, `-` when not measured."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else number(value)


WHEN_WIDTH = 11
"""Cells of `when` (`03-14 09:11`): a column of them is this wide from the start, so it never shows
a cut time before the table has measured its cells."""


def when(ms: int | None, zone: tzinfo | None, with_year: bool = False) -> str:
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=zone)
    return moment.strftime("%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M")


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = max(ms, 0) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 run`, `2 runs`, `1,000 runs`."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}"


def run_duration(start: int, end: int | None, now: datetime) -> str:
    """A finished run's duration, or a running one's time so far (marked with a trailing +)."""
    if end is not None:
        return duration(end - start)
    return duration(int(now.timestamp() * 1000) - start) + "+"


BAR_FULL, BAR_EMPTY = "█", "░"
SPARKS = " ▁▂▃▄▅▆▇█"


def progress(done: int, total: int, width: int = 6) -> str:
    """`3/8 ██░░░░`: the count carries the meaning, the bar is a glance; `-` before the total is known."""
    if total <= 0:
        return "-"
    filled = round(width * min(max(done, 0), total) / total)
    return f"{done}/{total} " + BAR_FULL * filled + BAR_EMPTY * (width - filled)


def sparkline(counts: list[int] | list[float], width: int | None = None) -> str:
    """A histogram as block characters (`▁▃▇█▅▂`); `width` merges neighbouring bins to fit."""
    values = [float(c) for c in counts]
    if not values:
        return ""
    if width is not None and 0 < width < len(values):
        step = len(values) / width
        values = [sum(values[int(i * step):int((i + 1) * step)]) for i in range(width)]
    top = max(values)
    if top <= 0:
        return SPARKS[1] * len(values)
    return "".join(SPARKS[max(1, round(v / top * (len(SPARKS) - 1)))] if v > 0 else SPARKS[0] for v in values)


def size(value: int) -> str:
    """`1.2 MB`: a byte count for people."""
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"
