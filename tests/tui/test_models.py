"""Pilot tests of the Models view at 80×24, against the real backend (tests/tui/seed.py registers
churn-classifier v1..v3 from real models and moves its aliases): which screen and rows are shown,
what the forms send (a gate report computed by the server, a compare-and-set move, a rollback, a
decision) and what the registry then holds."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from rich.text import Text
from textual.widgets import Input, Label, LoadingIndicator, Static

from mlops_tui.app import MlopsApp
from mlops_tui.client import AsyncClient
from mlops_tui.contract.registry import EventAction
from mlops_tui.screens.jobs import clip
from mlops_tui.screens.model_detail import ModelScreen
from mlops_tui.screens.model_forms import DecisionModal, PromoteModal, RollbackModal
from mlops_tui.screens.model_version import VersionScreen
from mlops_tui.screens.models import ModelsScreen
from mlops_tui.screens.overview import OverviewScreen
from mlops_tui.screens.run_detail import RunDetailScreen
from mlops_tui.widgets.tables import NavTable

from .conftest import QUIET, settle
from .seed import CONSOLE_USER, DONE_JOB, MODEL, URL, Backend, actor, fixed_clock, model_run
from .test_flows import SIZE, AppFactory, row_keys, wait_until


def cell(table: NavTable, key: str, column: int) -> str:
    value = table.get_row(key)[column]
    return value.plain if isinstance(value, Text) else str(value)


def text_of(widget: Label | Static) -> str:
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def notices(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def open_model(pilot: Any) -> ModelScreen:
    """From the overview: `6`, then `enter` on the only model."""
    await settle(pilot)
    await pilot.press("6")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ModelsScreen)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ModelScreen)
    return screen


async def open_promote(pilot: Any, screen: ModelScreen, version: int) -> PromoteModal:
    table = screen.query_one("#model-versions", NavTable)
    table.move_cursor(row=row_keys(table).index(str(version)))
    await pilot.press("p")
    await settle(pilot)
    modal = pilot.app.screen
    assert isinstance(modal, PromoteModal) and modal.version == version
    return modal


async def type_into(pilot: Any, widget: Input, text: str) -> None:
    widget.focus()
    widget.value = ""
    await pilot.press(*text)


async def test_models_list_model_versions_and_enter_opens_the_source_run(make_app: AppFactory,
                                                                         backend: Backend) -> None:
    detail = await backend.seeder.get_model(MODEL)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        assert row_keys(overview.query_one("#production", NavTable)) == [MODEL]
        assert cell(overview.query_one("#production", NavTable), MODEL, 1) == f"v{detail.aliases['production']}"
        screen = await open_model(pilot)
        models = screen.app.screen_stack[-2]
        assert isinstance(models, ModelsScreen)
        listed = models.query_one(NavTable)
        assert row_keys(listed) == [MODEL]
        assert cell(listed, MODEL, 1) == "production→1 staging→3" and cell(listed, MODEL, 2) == "v3"
        versions = screen.query_one("#model-versions", NavTable)
        assert row_keys(versions) == [str(v.version) for v in detail.versions] == ["3", "2", "1"]
        assert cell(versions, "1", 2) == "production" and cell(versions, "3", 2) == "staging"
        assert cell(versions, "2", 2) == "-" and cell(versions, "1", 4) == "churn@2"
        assert cell(versions, "3", 6) == model_run(3)[:8]
        await pilot.press("j", "enter")  # v2: its source run
        await settle(pilot)
        run_screen = app.screen
        assert isinstance(run_screen, RunDetailScreen) and run_screen.run_id == detail.versions[1].run_id


async def test_history_tab_lists_every_event_newest_first_with_its_reason(make_app: AppFactory,
                                                                          backend: Backend) -> None:
    events = (await backend.seeder.model_events(MODEL)).events
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        table = screen.query_one("#model-events", NavTable)
        assert table.has_focus
        assert row_keys(table) == [str(e.seq) for e in reversed(events)]
        for event in events:
            assert cell(table, str(event.seq), 1) == clip(event.actor, 8)
            assert cell(table, str(event.seq), 2) == event.action
        rollback = next(e for e in events if e.action == EventAction.ROLLBACK)
        assert cell(table, str(rollback.seq), 4) == f"{rollback.from_version}→{rollback.to_version}"
        table.move_cursor(row=row_keys(table).index(str(rollback.seq)))
        await settle(pilot)
        detail = text_of(screen.query_one("#event-detail", Static))
        assert f"#{rollback.seq} rollback by {rollback.actor}" in detail and rollback.reason in detail


async def test_version_detail_and_m_from_a_job_and_a_run(make_app: AppFactory, backend: Backend) -> None:
    version = await backend.seeder.get_version(MODEL, 1)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        screen.query_one("#model-versions", NavTable).move_cursor(row=2)
        await pilot.press("v")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, VersionScreen) and detail.version_number == 1
        summary = detail.query_one("#version-summary", NavTable)
        assert cell(summary, "sha256", 1) == version.sha256[:48] + "…" and cell(summary, "dataset", 1) == "churn@2"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        signature = detail.query_one("#version-signature", NavTable)
        assert [cell(signature, key, 0) for key in row_keys(signature)] == [
            item["name"] for item in version.signature["inputs"]]
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert version.last_report is not None
        gates = detail.query_one("#version-gates", NavTable)
        assert [cell(gates, key, 0) for key in row_keys(gates)] == [g.gate for g in version.last_report.gates]
        assert "last promotion to production" in text_of(detail.query_one("#gates-title", Label))
    for start in (f"jobs {DONE_JOB}", f"run {model_run(1)}"):
        app = make_app(start=start)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("m")
            await settle(pilot)
            opened = app.screen
            assert isinstance(opened, VersionScreen), start
            assert (opened.model_name, opened.version_number) == (MODEL, 1)


async def test_promote_computes_the_report_live_then_moves_by_compare_and_set(make_app: AppFactory,
                                                                               backend: Backend) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        backend.switch.hold = held = asyncio.Event()  # the report takes a while: the progress line shows meanwhile
        table = screen.query_one("#model-versions", NavTable)
        table.move_cursor(row=0)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PromoteModal))
        modal = app.screen
        assert isinstance(modal, PromoteModal)
        await wait_until(pilot, lambda: backend.switch.count("POST", f"/models/{MODEL}/gates") == 1)
        assert modal.query_one(LoadingIndicator).display and "computing" in text_of(modal.query_one("#report-title",
                                                                                                    Static))
        backend.switch.hold = None
        held.set()
        await settle(pilot)
        assert not modal.query_one(LoadingIndicator).display
        # v3 to a new alias: no holder, every gate passes
        await type_into(pilot, modal.query_one("#promote-alias", Input), "shadow")
        await pilot.press("enter")
        await settle(pilot)
        expected = await backend.seeder.check_gates(MODEL, 3, "shadow")
        report = modal.query_one("#gate-report", NavTable)
        assert [cell(report, key, 1) for key in row_keys(report)] == [clip(g.name, 18) for g in expected.gates]
        assert all(cell(report, key, 5) == "✓ PASS" for key in row_keys(report)) and expected.passed
        # another move comes first: the server refuses with 409 and says who moved it
        await actor(backend, "alice").promote(MODEL, 1, "shadow", expected_version=None, reason="first")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is modal and modal.error is not None
        assert "now holds version 1, moved by alice" in modal.error
        assert (await backend.seeder.get_alias(MODEL, "shadow")).version == 1
        await pilot.press("ctrl+s")  # the report was computed again against v1: promote now
        await settle(pilot)
        assert app.screen is screen
        assert (await backend.seeder.get_alias(MODEL, "shadow")).version == 3
        last = (await backend.seeder.model_events(MODEL)).events[-1]
        assert (last.action, last.actor, last.from_version, last.to_version) == ("promote", CONSOLE_USER, 1, 3)
        assert any("churn-classifier@shadow → v3 (was v1)" in n for n in notices(app))
        assert "shadow" in cell(screen.query_one("#model-versions", NavTable), "3", 2)


async def test_a_failed_gate_blocks_a_plain_promotion_and_forcing_needs_a_reason(make_app: AppFactory,
                                                                                  backend: Backend) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        modal = await open_promote(pilot, screen, 2)  # v2's policy asks roc_auc ≥ 0.6: it fails
        assert modal.alias == "production"
        report = modal.report
        assert report is not None and not report.passed and report.champion_version == 1
        assert "only forcing remains" in text_of(modal.query_one("#form-hint", Label))
        why = text_of(modal.query_one("#report-why", Static))
        assert all(gate.detail in why for gate in report.failed)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is modal and "a plain promotion is refused" in (modal.error or "")
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert app.screen is modal and "forcing needs a reason" in (modal.error or "")
        assert backend.switch.count("POST", f"/models/{MODEL}/promote") == 0  # nothing was sent
        await type_into(pilot, modal.query_one("#form-reason", Input), "hotfix")
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert app.screen is screen
        assert (await backend.seeder.get_alias(MODEL, "production")).version == 2
        last = (await backend.seeder.model_events(MODEL)).events[-1]
        assert (last.action, last.forced, last.reason, last.actor) == ("promote", True, "hotfix", CONSOLE_USER)


async def test_rollback_names_from_and_to_and_moves_back(make_app: AppFactory, backend: Backend) -> None:
    await actor(backend, "alice").promote(MODEL, 1, "staging", expected_version=3, force=True, reason="back to lr")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        await pilot.press("b")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, RollbackModal)
        assert [c.text for c in modal.choices] == ["production: v1 → nothing before", "staging: v1 → v3"]
        assert modal.choice.alias == "production"  # the alias of the version under the cursor (v3 holds none)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "no earlier version" in (modal.error or "") and backend.switch.count("POST", "/rollback") == 0
        await pilot.press("j")
        await settle(pilot)
        question = text_of(modal.query_one("#rollback-question", Label))
        assert "from v1 back to v3" in question
        await type_into(pilot, modal.query_one("#form-reason", Input), "lr is worse")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert (await backend.seeder.get_alias(MODEL, "staging")).version == 3
        last = (await backend.seeder.model_events(MODEL)).events[-1]
        assert (last.action, last.reason, last.actor, last.to_version) == ("rollback", "lr is worse", CONSOLE_USER, 3)
        assert cell(screen.query_one("#model-versions", NavTable), "3", 2) == "staging"


async def test_approve_a_pending_request_moves_the_alias(make_app: AppFactory, backend: Backend) -> None:
    pending = (await backend.seeder.list_requests(MODEL, "PENDING")).requests
    assert [(r.alias, r.version, r.requester) for r in pending] == [("production", 3, "bob")]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert row_keys(screen.query_one("#model-requests", NavTable)) == [pending[0].id]
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DecisionModal) and modal.request.id == pending[0].id
        await type_into(pilot, modal.query_one("#form-reason", Input), "forest checked")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert (await backend.seeder.get_alias(MODEL, "production")).version == 3
        decided = (await backend.seeder.list_requests(MODEL)).requests
        assert [(r.id, r.status, r.approvers) for r in decided] == [(pending[0].id, "APPROVED", [CONSOLE_USER])]
        assert row_keys(screen.query_one("#model-requests", NavTable)) == []
        assert any(f"request {pending[0].id[:8]}" in n and "APPROVED" in n for n in notices(app))


async def test_the_requester_cannot_approve_and_reject_closes_the_request(backend: Backend) -> None:
    request = (await backend.seeder.list_requests(MODEL, "PENDING")).requests[0]
    as_bob = AsyncClient(url=URL, transport=backend.switch, user=request.requester)
    app = MlopsApp(client=as_bob, config=QUIET, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await open_model(pilot)
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DecisionModal)
        await pilot.press("ctrl+s")  # approve: the server refuses the requester's own approval
        await settle(pilot)
        assert app.screen is modal and modal.error is not None and request.requester in modal.error
        assert (await backend.seeder.list_requests(MODEL, "PENDING")).requests[0].approvers == []
    app = MlopsApp(client=backend.client, config=QUIET, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_model(pilot)
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, DecisionModal)
        await pilot.press("j")  # reject
        await type_into(pilot, modal.query_one("#form-reason", Input), "not yet")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        found = (await backend.seeder.list_requests(MODEL)).requests[0]
        assert (found.id, found.status, found.decided_by) == (request.id, "REJECTED", CONSOLE_USER)
        assert (await backend.seeder.get_alias(MODEL, "production")).version == 1


async def test_an_mlflow_version_says_where_its_signature_is(empty_backend: Backend,
                                                             make_app: Callable[..., MlopsApp]) -> None:
    """A version registered through MLflow's API: its format and source on the summary, and the empty
    Signature and Reference tabs say why they are empty (the backend never opens an MLflow model)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=empty_backend.app), base_url=URL) as http:
        run = (await http.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})).json()["run"]["info"]
        uploaded = await http.put(f"/api/2.0/mlflow-artifacts/artifacts/0/{run['run_id']}/model/MLmodel",
                                  content=b"flavors: {}\n")
        assert uploaded.status_code == 200, uploaded.text
        await http.post("/api/2.0/mlflow/registered-models/create", json={"name": "from-mlflow"})
        created = await http.post("/api/2.0/mlflow/model-versions/create", json={
            "name": "from-mlflow", "source": f"runs:/{run['run_id']}/model", "run_id": run["run_id"]})
        assert created.json()["model_version"]["status"] == "READY"
    app = make_app(start="model from-mlflow/1", on=empty_backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, VersionScreen)
        summary = screen.query_one("#version-summary", NavTable)
        assert cell(summary, "format", 1) == "mlflow (not served by the backend)"
        assert cell(summary, "source", 1) == f"runs:/{run['run_id']}/model"
        signature = screen.query_one("#version-signature", NavTable)
        assert cell(signature, "-", 0) == "in the model's MLmodel file (not read by the backend)"
        assert cell(screen.query_one("#version-reference", NavTable), "-", 0).startswith("none:")
