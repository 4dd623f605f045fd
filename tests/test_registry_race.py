"""Promotions racing from separate processes against a live server: each sends the version it expects the
alias to hold; exactly the winners move, the losers get 409 naming who won, and the audit trail is one
consistent chain (each move starts where the previous one ended)."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from conftest import LiveServer, unique
from registry_racer import ALIAS, GATES_SECONDS, ROUNDS, VERSIONS, racer
from registry_support import large_model_files, run_with_files, tiny_model_files

from mlops_tui import Client
from mlops_tui.client import MlopsError

PROCESSES = 8


def test_racing_promotions_from_processes_form_one_consistent_chain(live_server: LiveServer,
                                                                    tmp_path: Path) -> None:
    name = unique("race")
    with Client(live_server.url, token="", user="setup", timeout=GATES_SECONDS) as client:
        run_id = run_with_files(client, large_model_files(tmp_path / "model"))
        for _ in range(VERSIONS):  # the same model file, registered as 4 versions
            client.register_version(name, run_id)
        context = multiprocessing.get_context("spawn")
        start, results = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=racer, args=(live_server.url, name, f"racer{i}", start, results))
                   for i in range(PROCESSES)]
        for worker in workers:
            worker.start()
        outcomes = [item for _ in workers for item in results.get(timeout=180)]
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        moves = [e for e in client.model_events(name).events if e.action == "promote"]
        check = client.verify_model(name)
        final = client.get_model(name).aliases

    assert len(outcomes) == PROCESSES * ROUNDS
    won = [o for o in outcomes if o["moved"]]
    lost = [o for o in outcomes if not o["moved"]]
    assert len([o for o in won if o["round"] == 0]) == 1  # all expected "nowhere": exactly one got there first
    for outcome in lost:
        assert (outcome["status"], outcome["field"]) == (409, "expected_version"), outcome
        assert f"{name}@{ALIAS} now holds version " in outcome["message"] and ", moved by racer" in outcome["message"]
    for outcome in won:
        assert outcome["from"] == outcome["expected"]  # a move happened from exactly what its sender saw
    # exactly the winners moved, and nothing else
    assert sorted((e.actor + " " + e.reason.partition(" ")[2], e.to_version) for e in moves) == \
        sorted((o["reason"], o["target"]) for o in won)
    # one chain: each move starts where the previous one ended
    previous = None
    for event in moves:
        assert event.from_version == previous, [(e.seq, e.from_version, e.to_version) for e in moves]
        previous = event.to_version
    assert final == {ALIAS: previous}
    assert check.ok and check.events == VERSIONS + len(won)


@pytest.mark.parametrize("expected", [None, 2])
def test_a_stale_expectation_moves_nothing(live_server: LiveServer, tmp_path: Path, expected: int | None) -> None:
    name = unique("stale")
    with Client(live_server.url, token="", user="carol", timeout=GATES_SECONDS) as client:
        files = tiny_model_files(tmp_path / "model")
        for _ in range(3):
            client.register_version(name, run_with_files(client, files))
        client.promote(name, 1, ALIAS, expected_version=None, force=True, reason="first")
        if expected == 2:
            client.promote(name, 3, ALIAS, expected_version=1, force=True, reason="second")
        with pytest.raises(MlopsError) as caught:
            client.promote(name, 2 if expected is None else 1, ALIAS, expected_version=expected, force=True,
                           reason="stale")
        assert caught.value.status == 409 and "moved by carol" in caught.value.message
        assert [e.reason for e in client.model_events(name, alias=ALIAS).events] == \
            (["first"] if expected is None else ["first", "second"])
