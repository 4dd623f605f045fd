"""A process that races promotions (tests/test_registry_race.py): kept apart from the test module so a
spawned process imports only the client."""
from __future__ import annotations

import random
from typing import Any

from mlops_tui import Client
from mlops_tui.client import MlopsError

ROUNDS = 4
VERSIONS = 4
ALIAS = "production"
GATES_SECONDS = 180.0
"""A promotion computes its gates (loads and scores both models) before it answers: slow on a busy machine."""


def racer(url: str, name: str, user: str, start: Any, results: Any) -> None:
    """Round 0: everyone expects the alias to point nowhere (one wins). Later rounds: read the holder,
    promote another version expecting that holder. Puts the outcomes on `results`."""
    outcomes: list[dict[str, Any]] = []
    chooser = random.Random(user)
    with Client(url, token="", user=user, timeout=GATES_SECONDS) as client:
        start.wait(timeout=120)
        for round_number in range(ROUNDS):
            holder = None if round_number == 0 else client.get_model(name).aliases.get(ALIAS)
            target = chooser.choice([v for v in range(1, VERSIONS + 1) if v != holder])
            reason = f"{user} round {round_number}"
            try:
                result = client.promote(name, target, ALIAS, expected_version=holder, reason=reason, force=True)
                outcomes.append({"moved": True, "expected": holder, "target": target, "reason": reason,
                                 "from": result.from_version, "round": round_number})
            except MlopsError as error:
                outcomes.append({"moved": False, "expected": holder, "target": target, "reason": reason,
                                 "status": error.status, "field": error.field, "message": error.message,
                                 "round": round_number})
    results.put(outcomes)
