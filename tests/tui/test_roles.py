"""The console's role rules: one client-side table (`mlops_tui.permissions.GATED`) that must agree with the
backend's (`backend.access.ROLE_OF`); and the console as a viewer, an operator, an admin, with no token, and
with auth off: who it acts as in the header, what it shows disabled, what a refused key says."""
from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Label

from backend import Settings, create_app
from backend.access import ROLE_OF
from mlops_tui import api
from mlops_tui.app import MlopsApp
from mlops_tui.client import AsyncClient
from mlops_tui.contract.auth import Role, WhoAmI
from mlops_tui.keymap import KEY_SPECS
from mlops_tui.permissions import GATED, gated_actions, refusal
from mlops_tui.screens.jobs import JobsScreen
from mlops_tui.screens.modals import ConfirmModal
from mlops_tui.screens.model_detail import ModelScreen
from mlops_tui.screens.model_forms import PromoteModal
from mlops_tui.widgets.header import StatusHeader

from .conftest import QUIET, settle
from .seed import URL, Backend, fixed_clock
from .test_flows import SIZE, wait_until
from .test_models import notices, open_model


def test_every_console_action_needs_the_role_the_backend_declares_for_its_routes() -> None:
    for binding, gate in GATED.items():
        assert binding in KEY_SPECS, f"{binding}: no such key binding"
        assert gate.routes and all(route in ROLE_OF for route in gate.routes), f"{binding}: {gate.routes}"
        needed = [ROLE_OF[route] for route in gate.routes]
        highest = max((role for role in needed if role is not None), key=lambda role: role.rank)
        assert gate.role is highest, f"{binding} says {gate.role}, the backend needs {highest} for {gate.routes}"
        assert gate.role is not Role.viewer  # a read needs no entry


def test_an_action_name_is_gated_wherever_its_key_is_bound() -> None:
    gated = gated_actions()
    assert len(gated) == len(GATED)
    for spec in KEY_SPECS.values():  # no other binding runs a gated action unguarded under another id
        if spec.action in gated:
            assert spec.id in GATED, f"{spec.id} runs {spec.action}, gated only under another id"


def test_a_refusal_names_who_and_the_role_needed() -> None:
    viewer = WhoAmI(name="vic", role=Role.viewer, auth=True)
    operator = WhoAmI(name="olga", role=Role.operator, auth=True)
    assert refusal(viewer, "cancel_job") == "vic is viewer: cancelling a job needs the operator role"
    assert refusal(operator, "cancel_job") is None
    assert refusal(operator, "promote") == "olga is operator: promoting needs the admin role"
    assert refusal(viewer, "mark") is None and refusal(None, "promote") is None


# --- the console against a real backend with auth on ------------------------------------------------

SERVER_TOKEN = "tui-root-s3cret"


@pytest.fixture
def auth_backend(alerts_home: Path, tmp_path: Path) -> Iterator[tuple[Any, dict[Role, str]]]:
    """A real backend (in process) on a copy of the seeded home with jobs, models and alerts, auth on;
    a token per role, made through the API."""
    home = tmp_path / "auth-home"
    shutil.copytree(alerts_home, home)
    app = create_app(Settings(home=home, token=SERVER_TOKEN, run_jobs=False, automation=False))

    async def make() -> dict[Role, str]:
        root = AsyncClient(url=URL, transport=httpx.ASGITransport(app=app), token=SERVER_TOKEN)
        return {role: (await root.send(api.create_token(f"tui-{role.value}", role))).token for role in Role}

    tokens = asyncio.run(make())
    yield app, tokens
    app.state.db.close()


def console(app: Any, token: str | None) -> MlopsApp:
    return MlopsApp(client=AsyncClient(url=URL, transport=httpx.ASGITransport(app=app), token=token or ""),
                    config=QUIET, clock=fixed_clock)


def header_who(app: MlopsApp) -> str:
    return str(app.screen.query_one(StatusHeader).query_one("#who", Label).render())


async def signed_in(pilot: Any, expected: str) -> None:
    """Wait until the console knows who it acts as, and check the header says so."""
    await wait_until(pilot, lambda: pilot.app.backend_state.who is not None)
    assert header_who(pilot.app) == expected


async def press(pilot: Any, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def enabled(app: MlopsApp, key: str) -> bool:
    return app.screen.active_bindings[key].enabled


async def test_a_viewer_sees_who_they_are_and_gated_keys_say_why_without_a_request(
        auth_backend: tuple[Any, dict[Role, str]]) -> None:
    backend, tokens = auth_backend
    app = console(backend, tokens[Role.viewer])
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, "tui-viewer (viewer)")
        await press(pilot, "4")
        assert isinstance(app.screen, JobsScreen)
        jobs_before = [job.model_dump() for job in await app.client.list_jobs()]
        assert not enabled(app, "x") and not enabled(app, "R") and not enabled(app, "n")  # shown disabled
        for key in ("x", "R", "n"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, JobsScreen)  # no question asked, no form opened
        assert notices(app)[-3:] == ["tui-viewer is viewer: cancelling a job needs the operator role",
                                     "tui-viewer is viewer: retrying a job needs the operator role",
                                     "tui-viewer is viewer: starting a job needs the operator role"]
        assert [job.model_dump() for job in await app.client.list_jobs()] == jobs_before
        await press(pilot, "7")
        await press(pilot, "a")
        assert notices(app)[-1] == "tui-viewer is viewer: acknowledging an alert needs the operator role"
        await open_model(pilot)
        await press(pilot, "p")
        assert isinstance(app.screen, ModelScreen)
        assert notices(app)[-1] == "tui-viewer is viewer: promoting needs the admin role"
        assert not any("backend error" in str(n.title) for n in app._notifications)


async def test_an_operator_may_cancel_but_not_promote_and_an_admin_may_promote(
        auth_backend: tuple[Any, dict[Role, str]]) -> None:
    backend, tokens = auth_backend
    app = console(backend, tokens[Role.operator])
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, "tui-operator (operator)")
        await press(pilot, "4")
        assert enabled(app, "x")
        await press(pilot, "x")
        assert isinstance(app.screen, ConfirmModal)  # allowed: the question is asked
        await press(pilot, "n")
        screen = await open_model(pilot)
        assert not enabled(app, "p") and not enabled(app, "b")
        await press(pilot, "p")
        assert app.screen is screen and notices(app)[-1] == "tui-operator is operator: promoting needs the admin role"
    app = console(backend, tokens[Role.admin])
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, "tui-admin (admin)")
        await open_model(pilot)
        assert enabled(app, "p")
        await press(pilot, "p")
        assert isinstance(app.screen, PromoteModal)


async def test_no_token_says_how_to_set_one_and_auth_off_says_so(auth_backend: tuple[Any, dict[Role, str]],
                                                                backend: Backend) -> None:
    served, _ = auth_backend
    app = console(served, None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: any("MLOPS_TOKEN" in n for n in notices(app)))
        assert app.backend_state.who is None and header_who(app) == ""
        assert any("needs a token and none is set" in n for n in notices(app))
    app = MlopsApp(client=backend.client, config=QUIET, clock=fixed_clock)
    async with app.run_test(size=SIZE) as pilot:
        await signed_in(pilot, "auth off (admin)")
        await press(pilot, "4")
        assert enabled(app, "x") and enabled(app, "n")
