"""One model version (`v` on a version, `:models NAME/3`, `:models NAME@production`): what it is
(status, aliases, source run and job, dataset, file sha256 and size, metrics), its input signature,
a summary of its training reference statistics, and the gate report of its last promotion.
`enter` on the summary opens the source run."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Label, TabbedContent, TabPane

from ..contract.registry import GateReport, ModelVersion
from ..formatting import gate_summary, gate_value, number, safe_text, size, status, verdict, when
from ..widgets.tables import NavTable
from . import registry
from .jobs import clip
from .run_detail import TabbedView

TOP_VALUES = 3
"""Values shown per categorical column of the reference statistics."""


def reference_rows(reference: dict[str, Any] | None) -> list[tuple[str, list[Any]]]:
    """One row per feature (and the target): kind, count, nulls, then mean ± std and the range of a
    numeric column, or the unique count and the most frequent values of a categorical one."""
    rows: list[tuple[str, list[Any]]] = []
    if not reference:
        return rows
    for part, columns in (("feature", reference.get("features") or {}), ("target", reference.get("target") or {})):
        for column, stats in columns.items():
            if not isinstance(stats, dict):
                continue
            kind = str(stats.get("kind", "?"))
            if kind == "numeric":
                spread = f"{number(stats.get('mean'))} ± {number(stats.get('std'))}"
                summary = f"{spread}  [{number(stats.get('min'))}, {number(stats.get('max'))}]"
            else:
                top = [f"{value} {count}" for value, count in (stats.get("frequencies") or {}).items()
                       if value != "__other__"][:TOP_VALUES]
                summary = f"{stats.get('unique', '?')} unique: " + ", ".join(top)
            rows.append((f"{part}:{column}", [column if part == "feature" else f"{column} (target)", kind,
                                              f"{stats.get('count', 0):,}", f"{stats.get('nulls', 0):,}",
                                              clip(summary, 60)]))
    return rows


GATE_COLUMNS: list[tuple[str, str, int | None]] = [
    ("gate", "GATE", None), ("check", "CHECK", None), ("threshold", "THRESHOLD", None),
    ("candidate", "CANDIDATE", None), ("champion", "CHAMPION", None), ("result", "RESULT", None)]
"""A gate report's table: the promotion form's and a version's last one."""


def report_rows(report: GateReport | None, width: int) -> list[tuple[str, list[Any]]]:
    """A gate per row; the check's name and the values are cut to fit `width` cells (80 and up)."""
    if report is None:
        return []
    spare = max(width - 80, 0)
    check, value = 18 + spare // 2, 10 + spare // 8
    return [(str(index), [str(gate.gate), clip(gate.name, check), clip(gate_value(gate.threshold), value),
                          clip(gate_value(gate.candidate), value), clip(gate_value(gate.champion), value),
                          verdict(gate.passed)])
            for index, gate in enumerate(report.gates)]


class VersionScreen(TabbedView):
    """A version's tabs: Summary, Signature, Reference, Gates."""

    view_name = "version"

    def __init__(self, name: str, version: int | None = None, alias: str | None = None) -> None:
        super().__init__()
        self.model_name = name
        self.version_number = version
        self.alias = alias
        self.version: ModelVersion | None = None

    @property
    def crumb(self) -> str:
        which = f"v{self.version_number}" if self.version_number is not None else f"@{self.alias}"
        return f"Models › {self.model_name} › {which}"

    def compose_body(self) -> ComposeResult:
        yield Label("loading…", classes="status-line", id="version-title")
        with TabbedContent(initial="tab-version"):
            with TabPane("Summary", id="tab-version"):
                yield NavTable(id="version-summary")
            with TabPane("Signature", id="tab-signature"):
                yield NavTable(id="version-signature")
            with TabPane("Reference", id="tab-reference"):
                yield NavTable(id="version-reference")
            with TabPane("Gates", id="tab-gates"):
                yield Label("", classes="status-line", id="gates-title")
                yield NavTable(id="version-gates")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#version-summary", NavTable).set_columns([("key", "FIELD", None), ("value", "VALUE", None)])
        self.query_one("#version-signature", NavTable).set_columns([("name", "INPUT", None),
                                                                    ("dtype", "DTYPE", None)])
        self.query_one("#version-reference", NavTable).set_columns([
            ("column", "COLUMN", None), ("kind", "KIND", None), ("count", "COUNT", None), ("nulls", "NULLS", None),
            ("summary", "SUMMARY", None)])
        self.query_one("#version-gates", NavTable).set_columns(GATE_COLUMNS)
        self.query_one("#version-summary", NavTable).focus()

    async def fetch(self) -> ModelVersion:
        if self.version_number is None and self.alias is not None:
            return await self.client.get_alias(self.model_name, self.alias)
        assert self.version_number is not None
        return await self.client.get_version(self.model_name, self.version_number)

    def render_data(self, data: object) -> None:
        assert isinstance(data, ModelVersion)
        version = self.version = data
        self.version_number = version.version
        self.set_crumb(self.crumb)
        zone = self.mlops.clock().tzinfo
        title = Text()
        title.append_text(status(version.status))
        title.append(f"  {safe_text(version.name)} v{version.version}", style="bold")
        if version.aliases:
            title.append(f"  {safe_text(', '.join(version.aliases))}")
        if version.primary_metric:
            title.append(f"  {safe_text(version.primary_metric)} {number(version.primary_value)}")
        self.query_one("#version-title", Label).update(title)
        fields = [("run", f"{version.run_id} (enter opens it)" if version.run_id else "-"),
                  ("job", version.job_id or "-"),
                  ("dataset", version.dataset or "-"), ("file", version.model_path),
                  ("sha256", version.sha256 if self.size.width >= 100 else version.sha256[:48] + "…"),
                  ("size", size(version.size_bytes)),
                  ("created", f"{when(version.created_at, zone, with_year=True)} by {version.created_by}"),
                  ("pipeline hash", (version.pipeline_hash or "-")[:16])]
        if version.model_format != "skops":  # registered through the MLflow API: kept, never served here
            fields += [("format", f"{version.model_format} (not served by the backend)"),
                       ("source", version.source or "-")]
        fields += [(f"metric {key}", number(value)) for key, value in sorted(version.metrics.items())]
        fields += [(f"tag {key}", value) for key, value in sorted(version.tags.items())]
        if version.description:
            fields.append(("description", version.description))
        self.query_one("#version-summary", NavTable).sync_rows([(key, [key, value]) for key, value in fields])
        inputs = version.signature.get("inputs") or []
        signature = [(str(index), [str(item.get("name", "?")), str(item.get("dtype", "?"))])
                     for index, item in enumerate(inputs) if isinstance(item, dict)]
        reference = reference_rows(version.reference)
        if version.model_format != "skops":  # the backend never opens an MLflow model, so it has neither
            signature = signature or [("-", ["in the model's MLmodel file (not read by the backend)", "-"])]
            reference = reference or [("-", ["none: only skops pipelines get reference statistics",
                                             "-", "-", "-", "-"])]
        self.query_one("#version-signature", NavTable).sync_rows(signature)
        self.query_one("#version-reference", NavTable).sync_rows(reference)
        report = version.last_report
        self.query_one("#version-gates", NavTable).sync_rows(report_rows(report, self.size.width))
        self.query_one("#gates-title", Label).update(Text(safe_text(
            "never promoted: no gate report" if report is None else
            f"last promotion to {report.alias} at {when(report.computed_at, zone)}: {gate_summary(report)}"
            + (f" on {report.data}" if report.data else ""))))

    def on_data_table_row_selected(self, event: NavTable.RowSelected) -> None:
        if event.data_table.id == "version-summary" and self.version is not None and self.version.run_id:
            self.app.push_screen(registry.run_detail(self.version.run_id))
