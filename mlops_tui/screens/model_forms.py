"""The forms that change a model: promote a version to an alias (`p`), roll an alias back (`b`),
approve or reject a pending request (`a`). Each sends in a worker and shows what the server refused
under its fields (a 409 from a move that lost a race, a 403 for approving one's own request), so
nothing ends the console.

Promoting first computes the gate report on the server (`check_gates`) while a progress line runs;
a report with a failed gate offers nothing but forcing with a reason. The move is compare-and-set:
it sends the version the report compared against (the alias's holder then) as `expected_version`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option

from ..client import AsyncClient, MlopsError
from ..contract.registry import ALIAS_RULE, ApprovalRequest, GateReport, ModelDetail, PromoteOutcome, PromoteResult
from ..formatting import aliases_line, gate_summary, safe_text, when
from ..keymap import bindings, key_label
from ..widgets.tables import NavOptionList, NavTable
from .model_version import GATE_COLUMNS, report_rows

if TYPE_CHECKING:
    from ..app import MlopsApp

T = TypeVar("T")


def error_text(error: MlopsError) -> str:
    return f"{error.message} ({error.field})" if error.field and error.field not in error.message else error.message


def default_alias(model: ModelDetail, version: int) -> str:
    """The alias a promotion form starts on: `production` unless the version holds it already, then
    the first alias it does not hold."""
    free = [alias for alias, holder in sorted(model.aliases.items()) if holder != version]
    if model.aliases.get("production", None) != version:
        return "production"
    return free[0] if free else "staging"


class ModelForm(ModalScreen[T | None], Generic[T]):
    """A form of the registry: a title, its fields, an error line and a hint naming its keys."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("model forms")

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.error: str | None = None

    @property
    def client(self) -> AsyncClient:
        return cast("MlopsApp", self.app).client

    def key(self, spec_id: str) -> str:
        config = getattr(self.app, "config", None)
        return key_label(spec_id, dict(getattr(config, "keys", {}) or {}))

    def show_error(self, message: str | None) -> None:
        self.error = message
        label = self.query_one("#form-error", Label)
        label.update(f"✗ {message}" if message else "")
        label.set_class(bool(message), "-shown")

    def show_hint(self, text: str) -> None:
        self.query_one("#form-hint", Label).update(text)

    def failed(self, error: MlopsError) -> None:
        if error.unreachable:
            cast("MlopsApp", self.app).report_unreachable(error)
        self.show_error(error_text(error))

    def reason(self) -> str:
        return self.query_one("#form-reason", Input).value.strip()

    def footer_widgets(self) -> ComposeResult:
        yield Input(placeholder="reason (recorded in the history)", id="form-reason", max_length=2000)
        yield Label("", id="form-error", markup=False)
        yield Label("", id="form-hint", markup=False)

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_force(self) -> None:
        """Only the promotion form forces."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "force"


# -- promote ----------------------------------------------------------------------------------------
class PromoteModal(ModelForm[PromoteResult]):
    """`p`: the alias (an existing one, `tab` completes, or a new name), the gate report computed now,
    a reason; `ctrl+s` promotes when every gate passed, `ctrl+f` forces a failed one with a reason."""


    def __init__(self, model: ModelDetail, version: int) -> None:
        super().__init__()
        self.model = model
        self.version = version
        self.report: GateReport | None = None
        self.checking: str | None = None
        """The alias whose report is being computed."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f" Promote {safe_text(self.model.name)} v{self.version}", classes="section-title",
                        markup=False)
            with Horizontal():
                yield Label("alias", classes="form-label")
                yield Input(default_alias(self.model, self.version), id="promote-alias",
                            suggester=SuggestFromList(sorted(self.model.aliases), case_sensitive=True))
            yield Label(f"aliases now: {safe_text(aliases_line(self.model.aliases))} · enter checks the gates",
                        classes="status-line", markup=False)
            yield Static("", id="report-title", markup=False)
            yield LoadingIndicator(id="report-loading")
            yield NavTable(id="gate-report")
            yield Static("", id="report-why")
            yield from self.footer_widgets()

    def on_mount(self) -> None:
        table = self.query_one("#gate-report", NavTable)
        table.set_columns(GATE_COLUMNS)
        table.display = False
        self.query_one("#report-why", Static).display = False
        self.query_one("#promote-alias", Input).focus()
        self.check(self.alias)

    @property
    def alias(self) -> str:
        return self.query_one("#promote-alias", Input).value.strip()

    @property
    def current(self) -> bool:
        """A report is shown, and it is the report of the alias typed."""
        return self.report is not None and self.report.alias == self.alias and self.checking is None

    # -- the gate report ------------------------------------------------------------------------------
    def check(self, alias: str) -> None:
        if not re.match(ALIAS_RULE, alias):
            self.show_error(f"{alias!r} is not an alias name (a letter, then letters, digits, '_' or '-')")
            return
        self.checking = alias
        self.query_one("#report-loading").display = True
        self.query_one("#report-title", Static).update(
            f"computing the gates of {self.model.name}@{alias} ← v{self.version} on the server…")
        self.show_hint(f"{self.key('modelform.cancel')} cancels")
        self.run_worker(self._check(alias), group="gates", exclusive=True, exit_on_error=False)

    async def _check(self, alias: str) -> None:
        try:
            report = await self.client.check_gates(self.model.name, self.version, alias)
        except MlopsError as error:
            if self.checking == alias:
                self.checking = None
                self.query_one("#report-loading").display = False
                self.query_one("#report-title", Static).update("no gate report")
                self.failed(error)
            return
        if self.checking == alias:
            self.checking = None
            self.show_report(report)

    def show_report(self, report: GateReport) -> None:
        self.report = report
        self.query_one("#report-loading").display = False
        champion = "no holder yet" if report.champion_version is None else f"v{report.champion_version} holds it"
        on = f" on {report.data}" if report.data else ""
        self.query_one("#report-title", Static).update(
            f"gates of {report.alias} ({champion}) ← v{report.candidate_version}: {gate_summary(report)}{on}")
        table = self.query_one("#gate-report", NavTable)
        table.sync_rows(report_rows(report, self.query_one(Vertical).size.width or self.size.width))
        table.display = True
        why = self.query_one("#report-why", Static)
        why.update(self.why(report))
        why.display = True
        self.refresh_bindings()
        self.show_hint(self.hint())

    @staticmethod
    def why(report: GateReport) -> Text:
        text = Text()
        if report.passed:
            text.append("✓ every gate passed", style="bold")
            return text
        failed = report.failed
        text.append(f"✗ {len(failed)} of {len(report.gates)} gates failed: nothing moves unless forced", style="bold")
        for gate in failed:
            text.append(f"\n  {safe_text(gate.name)}: {safe_text(gate.detail)}")
        return text

    def hint(self) -> str:
        cancel = f"{self.key('modelform.cancel')} cancels"
        if self.report is None or not self.current:
            return f"enter in the alias field checks the gates · {cancel}"
        if self.report.passed:
            return f"{self.key('modelform.confirm')} promotes · tab moves to the reason · {cancel}"
        return (f"a failed gate: only forcing remains; type why in the reason, then {self.key('modelform.force')} "
                f"forces (recorded as forced) · {cancel}")

    # -- fields ---------------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if self.error and not self.busy:
            self.show_error(None)
        if event.input.id == "promote-alias":
            self.refresh_bindings()
            self.show_hint(self.hint())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "promote-alias" and not self.busy:
            self.check(self.alias)
        elif event.input.id == "form-reason":
            self.action_confirm()

    # -- sending --------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`ctrl+f` only once a current report has a failed gate."""
        if action == "force":
            return self.current and self.report is not None and not self.report.passed
        return True

    def _ready(self) -> GateReport | None:
        if self.busy:
            return None
        if self.report is None or not self.current:
            self.show_error("check the gates first: enter in the alias field")
            return None
        return self.report

    def action_confirm(self) -> None:
        report = self._ready()
        if report is None:
            return
        if not report.passed:
            self.show_error(f"gates failed: a plain promotion is refused; give a reason and press "
                            f"{self.key('modelform.force')} to force it")
            return
        self.send(report, force=False)

    def action_force(self) -> None:
        report = self._ready()
        if report is None:
            return
        if report.passed:
            self.show_error(f"every gate passed: {self.key('modelform.confirm')} promotes, nothing to force")
            return
        if not self.reason():
            self.show_error("forcing needs a reason: type why in the reason field")
            self.query_one("#form-reason", Input).focus()
            return
        self.send(report, force=True)

    def send(self, report: GateReport, force: bool) -> None:
        self.busy = True
        self.show_hint("forcing…" if force else "promoting…")
        self.run_worker(self._promote(report, force), group="promote", exclusive=True, exit_on_error=False)

    async def _promote(self, report: GateReport, force: bool) -> None:
        result: PromoteResult | None = None
        try:
            result = await self.client.promote(self.model.name, self.version, report.alias,
                                               expected_version=report.champion_version, reason=self.reason(),
                                               force=force)
        except MlopsError as error:
            self.failed(error)
            if error.status == 409:  # another move came first: judge the candidate against the new holder
                self.busy = False
                self.check(report.alias)
                return
        finally:
            self.busy = False
        if result is None:
            self.show_hint(self.hint())
            return
        if result.outcome == PromoteOutcome.GATES_FAILED:
            if result.report is not None:
                self.show_report(result.report)
            self.show_error("the server found a failed gate: nothing moved")
            return
        self.dismiss(result)


# -- roll back ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RollbackChoice:
    alias: str
    holder: int
    target: int | None
    """The version it held before its last move still standing (None: nothing to go back to)."""

    @property
    def text(self) -> str:
        back = f"v{self.target}" if self.target is not None else "nothing before"
        return f"{self.alias}: v{self.holder} → {back}"


class RollbackModal(ModelForm[PromoteResult]):
    """`b`: pick the alias (each line names from→to), a reason; `ctrl+s` rolls it back."""

    def __init__(self, model: str, choices: list[RollbackChoice], preferred: str) -> None:
        super().__init__()
        self.model = model
        self.choices = choices
        self.preferred = preferred

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f" Roll back an alias of {safe_text(self.model)}", classes="section-title", markup=False)
            yield NavOptionList(*[Option(Text(safe_text(c.text)), id=c.alias) for c in self.choices],
                                id="rollback-aliases")
            yield Label("", classes="form-text", id="rollback-question", markup=False)
            yield from self.footer_widgets()

    def on_mount(self) -> None:
        options = self.query_one("#rollback-aliases", OptionList)
        names = [c.alias for c in self.choices]
        options.highlighted = names.index(self.preferred) if self.preferred in names else 0
        (self.query_one("#form-reason", Input) if len(self.choices) == 1 else options).focus()
        self.show_choice()

    @property
    def choice(self) -> RollbackChoice:
        index = self.query_one("#rollback-aliases", OptionList).highlighted or 0
        return self.choices[index]

    def show_choice(self) -> None:
        choice = self.choice
        if choice.target is None:
            question = f"{choice.alias} holds v{choice.holder} and held nothing before: there is nothing to roll back"
        else:
            question = (f"Move {self.model}@{choice.alias} from v{choice.holder} back to v{choice.target}? "
                        "(the server checks first that it still loads and matches its hash)")
        self.query_one("#rollback-question", Label).update(safe_text(question))
        self.show_hint(f"{self.key('modelform.confirm')} rolls back · tab moves · "
                       f"{self.key('modelform.cancel')} cancels")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show_error(None)
        self.show_choice()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#form-reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        if self.busy:
            return
        choice = self.choice
        if choice.target is None:
            self.show_error(f"{choice.alias} has no earlier version to go back to")
            return
        self.busy = True
        self.show_hint("rolling back…")
        self.run_worker(self._rollback(choice), group="rollback", exclusive=True, exit_on_error=False)

    async def _rollback(self, choice: RollbackChoice) -> None:
        result: PromoteResult | None = None
        try:
            result = await self.client.rollback(self.model, choice.alias, self.reason())
        except MlopsError as error:
            self.failed(error)
        finally:
            self.busy = False
        if result is None:
            self.show_choice()
        else:
            self.dismiss(result)


# -- approve or reject --------------------------------------------------------------------------------
APPROVE, REJECT = "approve", "reject"


class DecisionModal(ModelForm[ApprovalRequest]):
    """`a`: a pending request in full, approve or reject (picked in a list), a reason; `ctrl+s` sends."""

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical():
            yield Label(f" Request {request.id[:8]}: {safe_text(request.model)}@{safe_text(request.alias)} → "
                        f"v{request.version}", classes="section-title", markup=False)
            yield Static(self.summary(), classes="form-text")
            yield NavOptionList(Option(f"approve: move {safe_text(request.alias)} to v{request.version}",
                                       id=APPROVE),
                                Option("reject: close the request, nothing moves", id=REJECT),
                                id="decision")
            yield from self.footer_widgets()

    def summary(self) -> Text:
        request = self.request
        zone = cast("MlopsApp", self.app).clock().tzinfo if self.is_attached else None
        text = Text()
        holder = "nothing" if request.expected_version is None else f"v{request.expected_version}"
        text.append(f"asked by {safe_text(request.requester)} at {when(request.created_at, zone)}, "
                    f"expires {when(request.expires_at, zone)}; {request.alias} holds {holder} now\n")
        approvers = ", ".join(safe_text(a) for a in request.approvers) or "none yet"
        text.append(f"approvals {len(request.approvers)}/{request.approvals_needed} ({approvers}) · gates "
                    f"{gate_summary(request.report)}" + (" · FORCED" if request.forced else "") + "\n")
        text.append(f"reason: {safe_text(request.reason) or '-'}")
        return text

    def on_mount(self) -> None:
        self.query_one("#decision", OptionList).highlighted = 0
        self.query_one("#decision", OptionList).focus()
        self.show_hint(f"pick approve or reject · {self.key('modelform.confirm')} sends · tab moves · "
                       f"{self.key('modelform.cancel')} cancels")

    @property
    def decision(self) -> str:
        options = self.query_one("#decision", OptionList)
        return REJECT if options.highlighted == 1 else APPROVE

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#form-reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.show_hint("sending…")
        self.run_worker(self._decide(self.decision), group="decide", exclusive=True, exit_on_error=False)

    async def _decide(self, decision: str) -> None:
        answer: ApprovalRequest | None = None
        request = self.request
        try:
            send = self.client.approve_request if decision == APPROVE else self.client.reject_request
            answer = await send(request.model, request.id, self.reason())
        except MlopsError as error:
            self.failed(error)
        finally:
            self.busy = False
        if answer is None:
            self.show_hint(f"{self.key('modelform.confirm')} sends · {self.key('modelform.cancel')} cancels")
        else:
            self.dismiss(answer)

