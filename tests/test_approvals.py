"""Approval requests against the real app (httpx ASGI transport, one client per user): a promotion to an
alias that needs approval waits for N distinct approvers (never the requester), expires, can be
rejected, and never moves a protected alias directly; every step is an event of the hash chain.

Versions are real: a tiny scikit-learn pipeline saved with skops, uploaded to a run with a
`pipeline.json` whose `[promote]` table is the policy under test, registered through the API. The
approvals service's clock is the test's (`Registry.clock`): expiry is tested by moving it, not by
sleeping."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from registry_support import tiny_model_files

from backend import Settings, create_app
from backend.services import approvals as approvals_service
from mlops_tui import AsyncClient, api
from mlops_tui.client import MlopsError
from mlops_tui.contract import now_ms
from mlops_tui.contract.registry import ApprovalRequest, PromoteOutcome, RequestStatus

MODEL = "churn"
URL = "http://testserver"
DAY_MS = 86_400_000
ONE_APPROVER = {"production": {"approval": True, "approval_expires": "1d"}}
TWO_APPROVERS = {"production": {"approval": True, "approvals": 2, "approval_expires": "1d"}}


@dataclass
class Clock:
    """The approvals service's `now_ms` (epoch ms)."""

    ms: int

    def __call__(self) -> int:
        return self.ms


@dataclass
class Registry:
    clock: Clock
    users: dict[str, AsyncClient]

    def __getitem__(self, user: str) -> AsyncClient:
        return self.users[user]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tiny_model_files(tmp_path_factory.mktemp("model"))


@pytest.fixture
async def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Registry]:
    app = create_app(Settings(home=tmp_path / "home", token=None, run_jobs=False))
    clock = Clock(now_ms())
    monkeypatch.setattr(approvals_service, "now_ms", clock)
    transport = httpx.ASGITransport(app=app)
    users = {user: AsyncClient(url=URL, transport=transport, user=user) for user in ("alice", "bob", "carol")}
    yield Registry(clock, users)
    for client in users.values():
        await client.aclose()
    app.state.db.close()


async def register(registry: Registry, files: dict[str, bytes], promote: dict[str, Any], count: int = 1) -> None:
    """`count` versions of MODEL, each from its own run, trained under this `[promote]` table."""
    alice = registry["alice"]
    for _ in range(count):
        run = await alice.send(api.create_run(experiment="approvals"))
        for path, content in {**files, "pipeline.json": json.dumps({"promote": promote}).encode()}.items():
            await alice.send(api.upload_artifact(run.id, path, content))
        await alice.register_version(MODEL, run.id)


async def request_move(registry: Registry, user: str, version: int, reason: str = "",
                       force: bool = False) -> ApprovalRequest:
    """Promote `version` to production as `user`: the policy makes it a pending request."""
    result = await registry[user].promote(MODEL, version, "production", reason=reason, force=force)
    assert result.outcome == PromoteOutcome.AWAITING_APPROVAL and result.request is not None
    assert result.request.status == RequestStatus.PENDING and result.request.requester == user
    return result.request


async def refused(call: Any) -> MlopsError:
    with pytest.raises(MlopsError) as caught:
        await call
    return caught.value


async def production(registry: Registry) -> int | None:
    return (await registry["alice"].get_model(MODEL)).aliases.get("production")


async def history(registry: Registry) -> list[tuple[str, str, str | None]]:
    """The model's events after the registrations, as (action, actor, request id); the chain verifies."""
    assert (await registry["alice"].verify_model(MODEL)).ok
    events = (await registry["alice"].model_events(MODEL)).events
    return [(event.action.value, event.actor, event.request_id) for event in events if event.action != "register"]


async def test_two_distinct_approvers_move_the_alias_never_the_requester(registry: Registry,
                                                                         model_files: dict[str, bytes]) -> None:
    await register(registry, model_files, TWO_APPROVERS)
    request = await request_move(registry, "alice", 1, reason="first release")
    assert request.approvals_needed == 2 and request.expected_version is None
    assert request.expires_at == request.created_at + DAY_MS
    assert request.report is not None and request.report.passed
    assert await production(registry) is None

    own = await refused(registry["alice"].approve_request(MODEL, request.id, "mine"))
    assert own.status == 403 and "requester cannot approve" in own.message

    first = await registry["bob"].approve_request(MODEL, request.id, "looks good")
    assert first.status == RequestStatus.PENDING and first.approvers == ["bob"]
    assert await production(registry) is None

    twice = await refused(registry["bob"].approve_request(MODEL, request.id, "again"))
    assert twice.status == 409 and "bob already approved" in twice.message

    done = await registry["carol"].approve_request(MODEL, request.id, "ship it")
    assert done.status == RequestStatus.APPROVED and done.approvers == ["bob", "carol"]
    assert (done.decided_by, done.decision_reason) == ("carol", "ship it")
    assert await production(registry) == 1

    again = await refused(registry["carol"].approve_request(MODEL, request.id, "late"))
    assert again.status == 409 and "APPROVED" in again.message
    assert await history(registry) == [
        ("request", "alice", request.id), ("approve", "bob", request.id), ("approve", "carol", request.id),
        ("promote", "alice", request.id)]
    promoted = (await registry["alice"].model_events(MODEL, alias="production")).events[-1]
    assert (promoted.to_version, promoted.reason, promoted.forced) == (1, "first release", False)
    assert promoted.report is not None and promoted.report.candidate_version == 1


async def test_reject_needs_a_reason_and_the_requester_may_withdraw(registry: Registry,
                                                                    model_files: dict[str, bytes]) -> None:
    await register(registry, model_files, ONE_APPROVER, count=2)
    request = await request_move(registry, "alice", 1)
    blank = await refused(registry["bob"].reject_request(MODEL, request.id, "  "))
    assert (blank.status, blank.field) == (422, "reason")

    rejected = await registry["bob"].reject_request(MODEL, request.id, "holdout too small")
    assert rejected.status == RequestStatus.REJECTED
    assert (rejected.decided_by, rejected.decision_reason) == ("bob", "holdout too small")
    late = await refused(registry["carol"].approve_request(MODEL, request.id, "ok"))
    assert late.status == 409 and "REJECTED (by bob)" in late.message
    assert await production(registry) is None

    withdrawn = await request_move(registry, "alice", 2)
    mine = await registry["alice"].reject_request(MODEL, withdrawn.id, "wrong version")
    assert (mine.status, mine.decided_by) == (RequestStatus.REJECTED, "alice")
    assert await history(registry) == [
        ("request", "alice", request.id), ("reject", "bob", request.id),
        ("request", "alice", withdrawn.id), ("reject", "alice", withdrawn.id)]


async def test_an_expired_request_is_closed_never_approved(registry: Registry, model_files: dict[str, bytes]) -> None:
    await register(registry, model_files, ONE_APPROVER, count=2)
    listed = await request_move(registry, "alice", 1)
    registry.clock.ms += 1
    approved_late = await request_move(registry, "alice", 2)

    registry.clock.ms = listed.expires_at - 1
    pending = (await registry["bob"].list_requests(MODEL, "PENDING")).requests
    assert {request.id for request in pending} == {listed.id, approved_late.id}

    registry.clock.ms = approved_late.expires_at
    late = await refused(registry["bob"].approve_request(MODEL, approved_late.id, "sorry, late"))
    assert late.status == 409 and "EXPIRED" in late.message
    assert await production(registry) is None
    expired = (await registry["bob"].list_requests(MODEL, "EXPIRED")).requests
    assert {request.id for request in expired} == {listed.id, approved_late.id}
    assert all(request.decided_at == approved_late.expires_at and request.decided_by is None for request in expired)
    assert (await registry["bob"].list_requests(MODEL, "PENDING")).requests == []
    assert await history(registry) == [
        ("request", "alice", listed.id), ("request", "alice", approved_late.id),
        ("expire", "system", listed.id), ("expire", "system", approved_late.id)]


async def test_a_protected_alias_is_never_moved_by_a_promote_even_forced(registry: Registry,
                                                                          model_files: dict[str, bytes]) -> None:
    await register(registry, model_files, {"production": {"protected": True, "max_size_mb": 0.000001}})
    failed = await registry["alice"].promote(MODEL, 1, "production")
    assert failed.outcome == PromoteOutcome.GATES_FAILED and failed.request is None

    forced = await request_move(registry, "alice", 1, reason="hotfix, size limit is stale", force=True)
    assert forced.forced and forced.report is not None and not forced.report.passed
    assert await production(registry) is None
    await registry["bob"].approve_request(MODEL, forced.id, "ok for the hotfix")
    assert await production(registry) == 1
    moved = (await registry["alice"].model_events(MODEL, alias="production")).events[-1]
    assert (moved.action, moved.request_id, moved.forced, moved.reason) == (
        "promote", forced.id, True, "hotfix, size limit is stale")
    assert [event[0] for event in await history(registry)] == ["request", "approve", "promote"]


async def test_a_request_whose_alias_moved_meanwhile_is_refused_naming_the_winner(
        registry: Registry, model_files: dict[str, bytes]) -> None:
    await register(registry, model_files, ONE_APPROVER, count=2)
    loser = await request_move(registry, "alice", 1)
    winner = await request_move(registry, "carol", 2)
    await registry["bob"].approve_request(MODEL, winner.id, "v2 first")
    assert await production(registry) == 2

    conflict = await refused(registry["bob"].approve_request(MODEL, loser.id, "v1 too"))
    assert conflict.status == 409 and "now holds version 2, moved by carol" in conflict.message
    assert await production(registry) == 2
    closed = (await registry["bob"].list_requests(MODEL, "REJECTED")).requests
    assert [request.id for request in closed] == [loser.id]
    assert "now holds version 2, moved by carol" in closed[0].decision_reason
    assert await history(registry) == [
        ("request", "alice", loser.id), ("request", "carol", winner.id), ("approve", "bob", winner.id),
        ("promote", "carol", winner.id), ("approve", "bob", loser.id), ("reject", "bob", loser.id)]


async def test_listing_and_unknown_requests(registry: Registry, model_files: dict[str, bytes]) -> None:
    await register(registry, model_files, ONE_APPROVER, count=2)
    first = await request_move(registry, "alice", 1)
    registry.clock.ms += 1
    second = await request_move(registry, "alice", 2)
    assert [request.id for request in (await registry["bob"].list_requests(MODEL)).requests] == [second.id, first.id]
    assert (await registry["bob"].get_model(MODEL)).pending_requests == 2
    missing = await refused(registry["bob"].approve_request(MODEL, "nope", ""))
    assert (missing.status, missing.field) == (404, "request_id")
    other = await refused(registry["bob"].list_requests("no-such-model"))
    assert other.status == 404
    bad = await refused(registry["bob"].list_requests(MODEL, "LOST"))
    assert (bad.status, bad.field) == (422, "status")
