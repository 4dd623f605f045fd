"""How alerts, retrains and a shadow comparison read in the console: table cells for the Alerts view
and the Monitor view's panels, and the champion beside the shadow as text. Words and glyphs carry the
meaning, colour only repeats it (NO_COLOR, slow SSH links)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text

from ..contract.alerts import Alert, AlertKind, AlertStatus
from ..contract.retrain import Retrain, RetrainStatus, ShadowComparison, ShadowSide
from ..formatting import ALERT_GLYPHS, SEVERITY_GLYPHS, ago, glyph_cell, number, plural, safe_text, when

RETRAIN_GLYPHS: dict[str, tuple[str, str, str]] = {
    RetrainStatus.RUNNING: ("▸", "running", "cyan"),
    RetrainStatus.COALESCED: ("≈", "coalesced", "dim"),
    RetrainStatus.SKIPPED: ("·", "skipped", "dim"),
    RetrainStatus.FAILED: ("✗", "failed", "bold red"),
    RetrainStatus.REJECTED: ("✗", "rejected", "red"),
    RetrainStatus.SHADOWING: ("◐", "shadowing", "cyan"),
    RetrainStatus.AWAITING_APPROVAL: ("…", "approval", "blue"),
    RetrainStatus.STAGED: ("✓", "staged", "green"),
    RetrainStatus.PROMOTED: ("✓", "promoted", "bold green"),
    RetrainStatus.ROLLED_BACK: ("↶", "rolled back", "yellow"),
}
"""A retrain's outcome as a glyph and a word or two (`… approval`: a request waits for approval)."""


def measure(kind: AlertKind, value: float) -> str:
    """A rule's value in its unit: `120 ms`, `4.1%`, `0 req`, a PSI or a score as a number."""
    if kind == AlertKind.LATENCY_P95:
        return f"{value:.3g} ms"
    if kind == AlertKind.ERROR_RATE:
        return f"{value * 100:.2g}%"
    if kind == AlertKind.NO_TRAFFIC:
        return f"{value:.0f} req"
    return number(value)


def alert_value(alert: Alert) -> str:
    """`1.224 vs 0.25`: the latest value (the opening one once resolved) beside the rule's limit."""
    current = alert.value if alert.status == AlertStatus.RESOLVED or alert.last_value is None else alert.last_value
    if current is None:
        return "-"
    text = measure(alert.kind, current)
    return text if alert.threshold is None else f"{text} vs {measure(alert.kind, alert.threshold)}"


def clip(text: str, width: int) -> str:
    """`text` made safe for the terminal, cut to `width` characters with `…`."""
    text = safe_text(text)
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


ALERT_COLUMNS = [("model", "MODEL", None), ("rule", "RULE", None), ("severity", "SEV", None),
                 ("status", "STATUS", None), ("since", "SINCE", None), ("value", "VALUE VS LIMIT", None),
                 ("message", "MESSAGE", None)]


def alert_cells(alert: Alert, now: datetime, message_width: int) -> list[object]:
    """A row of the Alerts view; SINCE is how long ago it opened (it ticks)."""
    return [clip(alert.model, 24), clip(alert.rule, 20), glyph_cell(SEVERITY_GLYPHS, alert.severity),
            glyph_cell(ALERT_GLYPHS, alert.status), ago(alert.opened_at, now), alert_value(alert),
            clip(alert.message, message_width)]


def alert_detail(alert: Alert, now: datetime) -> Text:
    """The alert under the cursor in full: what and where, its message, then who acknowledged or
    resolved it and why."""
    text = Text()
    text.append(safe_text(alert.rule), style="bold")
    target = safe_text(alert.model) + (f"@{safe_text(alert.alias)}" if alert.alias else "")
    version = f" v{alert.version}" if alert.version is not None else ""
    text.append(f" ({alert.kind}) on {target}{version}, opened {when(alert.opened_at, now.tzinfo)} "
                f"({ago(alert.opened_at, now)} ago)\n")
    text.append(safe_text(alert.message))
    if alert.acknowledged_by:
        text.append(f"\nacknowledged by {safe_text(alert.acknowledged_by)} {ago(alert.acknowledged_at, now)} ago",
                    style="dim")
    if alert.resolved_by:
        text.append(f"\nresolved by {safe_text(alert.resolved_by)} {ago(alert.resolved_at, now)} ago", style="dim")
        if alert.note:
            text.append(f": {safe_text(alert.note)}", style="dim")
    return text


MODEL_ALERT_COLUMNS = [("rule", "RULE", None), ("severity", "SEV", None), ("status", "STATUS", None),
                       ("since", "SINCE", None), ("value", "VALUE VS LIMIT", None), ("message", "MESSAGE", None)]


def model_alert_cells(alert: Alert, now: datetime, message_width: int = 60) -> list[object]:
    """A row of the Monitor view's alerts panel (the model is the view's)."""
    return alert_cells(alert, now, message_width)[1:]


RETRAIN_COLUMNS = [("when", "AGO", None), ("trigger", "TRIGGER", None), ("status", "OUTCOME", None),
                   ("version", "VER", None), ("promoted", "MOVED", None), ("job", "JOB", None),
                   ("why", "WHY", None)]


def retrain_cells(retrain: Retrain, now: datetime, why_width: int = 60) -> list[object]:
    """A row of the retrain history: how long ago and why it fired, its outcome, the version and the
    aliases it moved, its job, and why it ended so (cut to `why_width`)."""
    return [ago(retrain.created_at, now), retrain.trigger.replace("_", " "),
            glyph_cell(RETRAIN_GLYPHS, retrain.status), f"v{retrain.version}" if retrain.version is not None else "-",
            ",".join(retrain.promoted_to) or "-", (retrain.job_id or "-")[:8],
            clip(retrain.reason or retrain.detail or "-", why_width)]


def retrain_detail(retrain: Retrain) -> Text:
    """The retrain under the cursor in one line: what fired it, by whom, on which data, and why it ended so."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{retrain.trigger.replace('_', ' ')}", style="bold")
    if retrain.detail:
        text.append(f" ({safe_text(retrain.detail)})")
    text.append(f" by {safe_text(retrain.actor)}")
    if retrain.dataset:
        text.append(f" on {safe_text(retrain.dataset)}")
    text.append(f": {RETRAIN_GLYPHS.get(retrain.status, ('', retrain.status, ''))[1]}", style="bold")
    if retrain.reason:
        text.append(f" · {safe_text(retrain.reason)}")
    return text


def cell_width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def last_column_width(total: int, labels: list[str], rows: list[list[object]], least: int) -> int:
    """What a table's last column may take when the others (their `labels` and the cells of `rows`, the
    last column left out) are drawn at their width in a table `total` cells wide; 0 when less than
    `least` would be left."""
    widths = [len(label) for label in labels[:-1]]
    for cells in rows:
        widths = [max(width, cell_width(cell)) for width, cell in zip(widths, cells, strict=False)]
    left = total - sum(width + 2 for width in widths) - 3  # each cell's padding, the scrollbar, a margin
    return left if left >= least else 0


def _latency(side: ShadowSide) -> str:
    return f"{number(side.latency_p50_ms)}/{number(side.latency_p95_ms)} ms"


def shadow_text(comparison: ShadowComparison, now: datetime) -> Text:
    """The champion and the shadow side by side on the same requests: rows, errors, latency, estimated
    and actual scores, then the agreement and the verdict."""
    champion, shadow = comparison.champion, comparison.shadow
    text = Text(no_wrap=True, overflow="ellipsis")
    verdict = {"ok": ("✓ ok", "green"), "regressed": ("✗ regressed", "bold red")}.get(
        comparison.verdict, (f"… {comparison.verdict}", "blue"))
    agreement = "-" if comparison.agreement is None else f"{comparison.agreement * 100:.1f}%"
    text.append(f"{safe_text(comparison.alias)} v{champion.version} vs {safe_text(comparison.shadow_alias)} "
                f"v{shadow.version} in shadow for {ago(comparison.since, now)}: ", style="bold")
    text.append(verdict[0], style=verdict[1])
    text.append(f" · agreement {agreement} on {plural(comparison.rows, 'row')}")
    if comparison.reason:
        text.append(f" · {safe_text(comparison.reason)}")
    lines: list[tuple[str, Callable[[ShadowSide], str]]] = [
        ("rows", lambda s: f"{s.rows:,}"),
        ("errors", lambda s: f"{s.errors:,}"),
        ("p50/p95", _latency),
    ]
    for metric in dict.fromkeys([*champion.estimated, *shadow.estimated]):
        lines.append((f"{metric} est.", lambda s, m=metric: number(s.estimated.get(m))))  # type: ignore[misc]
    for metric in dict.fromkeys([*champion.actual, *shadow.actual]):
        lines.append((f"{metric}", lambda s, m=metric: number(s.actual.get(m))))  # type: ignore[misc]
    lines.append(("labeled", lambda s: f"{s.labeled:,}"))
    text.append(f"\n{'':<16}{'champion v' + str(champion.version):>16}{'shadow v' + str(shadow.version):>16}",
                style="dim")
    for label, pick in lines:
        text.append(f"\n{clip(label, 16):<16}")
        text.append(f"{pick(champion):>16}")
        text.append(f"{pick(shadow):>16}", style="bold")
    return text
