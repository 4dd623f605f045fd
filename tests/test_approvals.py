"""Approval requests against the real app (httpx ASGI transport, one client per user): a promotion to an
alias that needs approval waits for N distinct approvers (never the requester), expires, can be
rejected, and never moves a protected alias directly; every step is an event of the hash chain.

One real pipeline is trained per module (in process, by the training job's own code) with a
`[promote]` table giving each alias under test its policy; each test registers that run as the
versions of a model of its own, so the gates are computed on a real model and its holdout. The
approvals service's clock is the test's (`Registry.clock`): expiry is tested by moving it, not by
sleeping."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import unique
from gates_support import SAMPLE, Home
from test_gates import CHURN_HEAD

from backend import Settings, create_app
from backend.services import approvals as approvals_service
from mlops_tui import AsyncClient
from mlops_tui.client import MlopsError
from mlops_tui.contract import now_ms
from mlops_tui.contract.registry import ApprovalRequest, PromoteOutcome, RequestStatus

URL = "http://testserver"
DAY_MS = 86_400_000
PIPELINE = CHURN_HEAD + """[[models]]
estimator = "LogisticRegression"
params = { C = 1.0, max_iter = 500 }
cv = 0

[promote]
max_latency_ms = 1e6  # a budget no loaded machine misses: latency is not what these tests check
latency_rows = 5

[promote.production]
approval = true
approvals = 2
approval_expires = "1d"

[promote.staging]
approval = true
approval_expires = "1d"

[promote.live]
protected = true
max_size_mb = 0.000001  # every model fails this gate
"""


@dataclass
class Clock:
    """The approvals service's `now_ms` (epoch ms)."""

    ms: int

    def __call__(self) -> int:
        return self.ms


@dataclass
class Backend:
    app: Any
    run_id: str
    """The trained run every test registers its versions from."""


@dataclass
class Registry:
    clock: Clock
    users: dict[str, AsyncClient]
    model: str
    run_id: str

    def __getitem__(self, user: str) -> AsyncClient:
        return self.users[user]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    settings = Settings(home=tmp_path_factory.mktemp("approvals"), token=None, run_jobs=False)
    app = create_app(settings)
    home = Home(settings, app.state.db)
    trained = home.train(PIPELINE, home.add_dataset("churn", SAMPLE / "churn.csv"))
    yield Backend(app, trained["run_id"])
    app.state.db.close()


@pytest.fixture
async def registry(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Registry]:
    clock = Clock(now_ms())
    monkeypatch.setattr(approvals_service, "now_ms", clock)
    transport = httpx.ASGITransport(app=backend.app)
    users = {user: AsyncClient(url=URL, transport=transport, user=user) for user in ("alice", "bob", "carol")}
    yield Registry(clock, users, unique("churn"), backend.run_id)
    for client in users.values():
        await client.aclose()


async def register(registry: Registry, count: int = 1) -> None:
    """`count` versions of the test's model, each the trained run registered again."""
    for _ in range(count):
        await registry["alice"].register_version(registry.model, registry.run_id)


async def request_move(registry: Registry, user: str, version: int, alias: str, reason: str = "",
                       force: bool = False) -> ApprovalRequest:
    """Promote `version` to `alias` as `user`: the alias's policy makes it a pending request."""
    result = await registry[user].promote(registry.model, version, alias, reason=reason, force=force)
    assert result.outcome == PromoteOutcome.AWAITING_APPROVAL and result.request is not None
    assert result.request.status == RequestStatus.PENDING and result.request.requester == user
    return result.request


async def refused(call: Any) -> MlopsError:
    with pytest.raises(MlopsError) as caught:
        await call
    return caught.value


async def holder(registry: Registry, alias: str) -> int | None:
    return (await registry["alice"].get_model(registry.model)).aliases.get(alias)


async def requests(registry: Registry, status: str | None = None) -> list[ApprovalRequest]:
    return (await registry["bob"].list_requests(registry.model, status)).requests


async def history(registry: Registry) -> list[tuple[str, str, str | None]]:
    """The model's events after its registrations, as (action, actor, request id); the chain verifies."""
    assert (await registry["alice"].verify_model(registry.model)).ok
    events = (await registry["alice"].model_events(registry.model)).events
    return [(event.action.value, event.actor, event.request_id) for event in events if event.action != "register"]


async def test_two_distinct_approvers_move_the_alias_never_the_requester(registry: Registry) -> None:
    await register(registry)
    model = registry.model
    request = await request_move(registry, "alice", 1, "production", reason="first release")
    assert request.approvals_needed == 2 and request.expected_version is None and not request.forced
    assert request.expires_at == request.created_at + DAY_MS
    assert request.report is not None and request.report.passed
    assert await holder(registry, "production") is None

    own = await refused(registry["alice"].approve_request(model, request.id, "mine"))
    assert (own.status, own.field) == (403, "X-Mlops-User") and "requester cannot approve" in own.message

    first = await registry["bob"].approve_request(model, request.id, "looks good")
    assert first.status == RequestStatus.PENDING and first.approvers == ["bob"]
    assert await holder(registry, "production") is None

    twice = await refused(registry["bob"].approve_request(model, request.id, "again"))
    assert twice.status == 409 and "bob already approved" in twice.message

    done = await registry["carol"].approve_request(model, request.id, "ship it")
    assert done.status == RequestStatus.APPROVED and done.approvers == ["bob", "carol"]
    assert (done.decided_by, done.decision_reason) == ("carol", "ship it")
    assert await holder(registry, "production") == 1

    again = await refused(registry["carol"].approve_request(model, request.id, "late"))
    assert again.status == 409 and "APPROVED" in again.message
    assert await history(registry) == [
        ("request", "alice", request.id), ("approve", "bob", request.id), ("approve", "carol", request.id),
        ("promote", "alice", request.id)]
    moved = (await registry["alice"].model_events(model, alias="production")).events[-1]
    assert (moved.to_version, moved.reason, moved.forced) == (1, "first release", False)
    assert moved.report == request.report


async def test_reject_needs_a_reason_and_the_requester_may_withdraw(registry: Registry) -> None:
    await register(registry, count=2)
    model = registry.model
    request = await request_move(registry, "alice", 1, "staging")
    blank = await refused(registry["bob"].reject_request(model, request.id, "  "))
    assert (blank.status, blank.field) == (422, "reason")

    rejected = await registry["bob"].reject_request(model, request.id, "holdout too small")
    assert rejected.status == RequestStatus.REJECTED
    assert (rejected.decided_by, rejected.decision_reason) == ("bob", "holdout too small")
    late = await refused(registry["carol"].approve_request(model, request.id, "ok"))
    assert late.status == 409 and "REJECTED (by bob)" in late.message
    assert await holder(registry, "staging") is None

    withdrawn = await request_move(registry, "alice", 2, "staging")
    mine = await registry["alice"].reject_request(model, withdrawn.id, "wrong version")
    assert (mine.status, mine.decided_by) == (RequestStatus.REJECTED, "alice")
    assert await history(registry) == [
        ("request", "alice", request.id), ("reject", "bob", request.id),
        ("request", "alice", withdrawn.id), ("reject", "alice", withdrawn.id)]


async def test_an_expired_request_is_closed_never_approved(registry: Registry) -> None:
    await register(registry, count=2)
    listed = await request_move(registry, "alice", 1, "staging")
    registry.clock.ms += 1
    approved_late = await request_move(registry, "alice", 2, "staging")

    registry.clock.ms = listed.expires_at - 1
    assert {request.id for request in await requests(registry, "PENDING")} == {listed.id, approved_late.id}

    registry.clock.ms = approved_late.expires_at
    model = next(m for m in (await registry["bob"].list_models()).models if m.name == registry.model)
    assert model.pending_requests == 0  # past their expiry: not counted, even before they are closed
    late = await refused(registry["bob"].approve_request(registry.model, approved_late.id, "sorry, late"))
    assert late.status == 409 and "EXPIRED" in late.message
    assert await holder(registry, "staging") is None
    expired = await requests(registry, "EXPIRED")
    assert {request.id for request in expired} == {listed.id, approved_late.id}
    assert all(request.decided_at == approved_late.expires_at and request.decided_by is None for request in expired)
    assert await requests(registry, "PENDING") == []
    assert await history(registry) == [
        ("request", "alice", listed.id), ("request", "alice", approved_late.id),
        ("expire", "system", listed.id), ("expire", "system", approved_late.id)]


async def test_a_protected_alias_is_never_moved_by_a_promote_even_forced(registry: Registry) -> None:
    await register(registry)
    failed = await registry["alice"].promote(registry.model, 1, "live")
    assert failed.outcome == PromoteOutcome.GATES_FAILED and failed.request is None

    forced = await request_move(registry, "alice", 1, "live", reason="hotfix, the size limit is stale", force=True)
    assert forced.forced and forced.report is not None and not forced.report.passed
    assert await holder(registry, "live") is None
    await registry["bob"].approve_request(registry.model, forced.id, "ok for the hotfix")
    assert await holder(registry, "live") == 1
    moved = (await registry["alice"].model_events(registry.model, alias="live")).events[-1]
    assert (moved.action, moved.request_id, moved.forced, moved.reason) == (
        "promote", forced.id, True, "hotfix, the size limit is stale")
    assert [event[0] for event in await history(registry)] == ["request", "approve", "promote"]


async def test_a_request_whose_alias_moved_meanwhile_is_refused_naming_the_winner(registry: Registry) -> None:
    await register(registry, count=2)
    loser = await request_move(registry, "alice", 1, "staging")
    winner = await request_move(registry, "carol", 2, "staging")
    await registry["bob"].approve_request(registry.model, winner.id, "v2 first")
    assert await holder(registry, "staging") == 2

    conflict = await refused(registry["bob"].approve_request(registry.model, loser.id, "v1 too"))
    assert conflict.status == 409 and "now holds version 2, moved by carol" in conflict.message
    assert await holder(registry, "staging") == 2
    closed = await requests(registry, "REJECTED")
    assert [request.id for request in closed] == [loser.id]
    assert "now holds version 2, moved by carol" in closed[0].decision_reason
    same = await refused(registry["alice"].promote(registry.model, 2, "staging"))
    assert (same.status, same.field) == (409, "version") and "already points at version 2" in same.message
    assert await history(registry) == [
        ("request", "alice", loser.id), ("request", "carol", winner.id), ("approve", "bob", winner.id),
        ("promote", "carol", winner.id), ("approve", "bob", loser.id), ("reject", "bob", loser.id)]


async def test_listing_and_unknown_requests(registry: Registry) -> None:
    await register(registry, count=2)
    first = await request_move(registry, "alice", 1, "staging")
    registry.clock.ms += 1
    second = await request_move(registry, "alice", 2, "production")
    assert [request.id for request in await requests(registry)] == [second.id, first.id]
    assert (await registry["bob"].get_model(registry.model)).pending_requests == 2
    missing = await refused(registry["bob"].approve_request(registry.model, "nope", ""))
    assert (missing.status, missing.field) == (404, "request_id")
    other = await refused(registry["bob"].list_requests("no-such-model"))
    assert other.status == 404
    bad = await refused(registry["bob"].list_requests(registry.model, "LOST"))
    assert (bad.status, bad.field) == (422, "status")
