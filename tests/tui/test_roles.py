"""The console's role rules: one client-side table (`mlops_tui.permissions.GATED`) that must agree with the
backend's (`backend.access.ROLE_OF`)."""
from __future__ import annotations

from backend.access import ROLE_OF
from mlops_tui.contract.auth import Role, WhoAmI
from mlops_tui.keymap import KEY_SPECS
from mlops_tui.permissions import GATED, gated_actions, refusal


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
