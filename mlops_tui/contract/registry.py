"""The model registry's contract: versions, aliases, promotion gates, approval requests and the
audit trail, as the backend declares them and the client parses them.

A model version is `NAME/VERSION` (e.g. `churn-classifier/3`); an alias names one version
(`churn-classifier@production`). Every change is an `Event` in an append-only, hash-chained log.
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .requests import MAX_SAFE_INT, Strict

MODEL_NAME_RULE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""A registered model's name: letters, digits, '.', '_' and '-' (never '/' or '@', which separate a
name from a version or an alias)."""
ALIAS_RULE = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
"""An alias: a letter, then letters, digits, '_' or '-' (`production`, `staging`, `champion`)."""
MAX_REASON = 2000
MAX_DESCRIPTION = 5000
USER_HEADER = "X-Mlops-User"
"""Who sends the request: the OS user the CLI or console runs as. Recorded as the actor of every registry
event while auth is off; with auth on, the token's name is recorded instead."""
GATE_FAILED_EXIT = 9
"""`mlops models promote` exits 9 when a gate failed (nothing moved)."""
AWAITING_APPROVAL_EXIT = 10
"""`mlops models promote` exits 10 when the move waits for approval (a request was opened)."""


class VersionStatus(StrEnum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"


class EventAction(StrEnum):
    REGISTER = "register"
    ARCHIVE = "archive"
    DELETE = "delete"
    PROMOTE = "promote"
    """An alias moved (`forced` says whether failed gates were overridden)."""
    REQUEST = "request"
    APPROVE = "approve"
    REJECT = "reject"
    EXPIRE = "expire"
    ROLLBACK = "rollback"
    UNSET = "unset"
    """An alias removed (MLflow's delete-alias): `from_version` is the version it held."""


ALIAS_MOVES = frozenset({EventAction.PROMOTE, EventAction.ROLLBACK})
"""Events that change which version an alias points at (an approval that completes a request is
recorded as `approve` followed by the `promote` it caused)."""


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class GateName(StrEnum):
    SIGNATURE = "signature"
    THRESHOLD = "threshold"
    CHAMPION = "champion"
    LATENCY = "latency"
    SIZE = "size"
    INTEGRITY = "integrity"
    """The model file's bytes still match the sha256 recorded at registration."""


def parse_model_ref(text: str) -> tuple[str, int | str | None]:
    """`NAME` → (NAME, None); `NAME/3` → (NAME, 3); `NAME@production` → (NAME, "production").
    Raises ValueError with a message for anything else."""
    name, at, alias = text.partition("@")
    if at:
        if not re.match(ALIAS_RULE, alias):
            raise ValueError(f"{alias!r} is not an alias name (letters, digits, '_', '-'; starts with a letter)")
        ref: int | str | None = alias
    else:
        name, slash, version = text.partition("/")
        if slash:
            if not version.isdigit() or int(version) < 1:
                raise ValueError(f"{version!r} is not a version number (1, 2, ...)")
            ref = int(version)
        else:
            ref = None
    if not re.match(MODEL_NAME_RULE, name):
        raise ValueError(f"{name!r} is not a model name (letters, digits, '.', '_', '-'; at most 128)")
    return name, ref


# --- policy ----------------------------------------------------------------------------------


class AliasPolicy(BaseModel):
    """The gates (and approvals) a move to one alias must pass: the pipeline's `[promote]` table with
    its `[promote.ALIAS]` table laid over it."""

    model_config = ConfigDict(extra="ignore")

    signature: bool = True
    """The candidate's inputs must be compatible with the alias holder's."""
    thresholds: dict[str, float] = Field(default_factory=dict)
    """`min_<metric>` / `max_<metric>` → bound, checked on scores computed at promotion time."""
    min_improvement: float = 0.0
    """The candidate must beat the alias holder on the primary metric by at least this much."""
    max_latency_ms: float = 200.0
    """p95 single-row prediction time of the candidate, in CPU ms (so a busy machine does not fail a
    model; on an idle one it is the wall-clock time)."""
    max_size_mb: float = 1024.0
    latency_rows: int = 50
    approval: bool = False
    approvals: int = 1
    """Distinct approvers needed (never the requester)."""
    approval_expires: str = "7d"
    protected: bool = False
    """Moved only through an approved request, never by a plain promote (even forced)."""

    @property
    def needs_request(self) -> bool:
        return self.approval or self.protected


class Policy(BaseModel):
    """A model's promotion policy, as its version's pipeline file set it: the default for every alias
    and the alias-specific ones."""

    model_config = ConfigDict(extra="ignore")

    name: str
    version: int | None
    """The version whose pipeline file the policy comes from (the latest by default)."""
    default: AliasPolicy
    aliases: dict[str, AliasPolicy] = Field(default_factory=dict)


# --- gate reports ----------------------------------------------------------------------------


class GateResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    gate: GateName
    name: str
    """What was checked, e.g. `min_roc_auc`, `p95 latency`, `roc_auc vs champion`."""
    passed: bool
    threshold: float | str | None = None
    candidate: float | str | None = None
    champion: float | str | None = None
    detail: str = ""
    """One line a person reads: what was measured and, on a failure, by how much it missed."""


class GateReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    alias: str
    candidate_version: int
    champion_version: int | None
    passed: bool
    gates: list[GateResult]
    data: str | None = None
    """What the scores were computed on, e.g. `churn@1 holdout (1250 rows, seed 7)`."""
    primary_metric: str | None = None
    computed_at: int
    seconds: float = 0.0

    @property
    def failed(self) -> list[GateResult]:
        return [gate for gate in self.gates if not gate.passed]


# --- the registry's objects ------------------------------------------------------------------


class ModelVersion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    version: int
    status: VersionStatus
    run_id: str
    """The run whose artifacts hold the model file (a pipeline job's parent run); empty for an MLflow
    version registered without a run."""
    best_run_id: str | None = None
    job_id: str | None = None
    dataset: str | None = None
    """The dataset version it was trained on, `name@N`."""
    pipeline_hash: str | None = None
    primary_metric: str | None = None
    primary_value: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """Holdout scores logged at training time."""
    model_path: str
    """The model file, relative to the run's artifact root (`model/model.skops`); for an `mlflow` version,
    its folder relative to the home's artifact root (`<experiment>/<run>/model`)."""
    sha256: str
    size_bytes: int
    signature: dict[str, Any] = Field(default_factory=dict)
    created_at: int
    created_by: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    """The aliases pointing at this version now."""
    reference: dict[str, Any] | None = None
    """Training reference statistics (only when one version is asked for)."""
    last_report: GateReport | None = None
    """The gate report of this version's last promotion (only when one version is asked for)."""
    model_format: str = "skops"
    """`skops`: a pipeline the backend serves; `mlflow`: an MLmodel folder registered through the MLflow API,
    stored and downloaded but never loaded by the backend (serve it with `mlflow models serve`)."""
    source: str | None = None
    """Where an MLflow client said the files are (`runs:/...`, `models:/m-...`, `mlflow-artifacts:/...`)."""
    logged_model_id: str | None = None
    """The MLflow logged model the version was registered from."""


class RegisteredModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    latest_version: int
    aliases: dict[str, int] = Field(default_factory=dict)
    version_count: int
    created_at: int
    updated_at: int
    description: str = ""
    primary_metric: str | None = None
    latest_value: float | None = None
    pending_requests: int = 0


class ModelList(BaseModel):
    models: list[RegisteredModel]


class ModelDetail(RegisteredModel):
    versions: list[ModelVersion]
    """Newest first."""


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    seq: int
    """Position in the model's chain, from 1."""
    time: int
    actor: str
    action: EventAction
    model: str
    alias: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    version: int | None = None
    """The version registered, archived, deleted or requested."""
    request_id: str | None = None
    reason: str = ""
    forced: bool = False
    report: GateReport | None = None
    prev_hash: str
    hash: str


class EventList(BaseModel):
    events: list[Event]
    at: int | None = None
    aliases_at: dict[str, int] | None = None
    """With `at`: which version each alias held at that moment."""


class ChainCheck(BaseModel):
    model: str
    ok: bool
    events: int
    first_bad: int | None = None
    """The seq of the first event that was altered, or the position where one was removed."""
    detail: str = ""


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    model: str
    alias: str
    version: int
    expected_version: int | None
    """The version the alias held when the request was made (the move is compare-and-set against it)."""
    requester: str
    reason: str = ""
    forced: bool = False
    status: RequestStatus
    approvals_needed: int
    approvers: list[str] = Field(default_factory=list)
    decided_by: str | None = None
    decision_reason: str = ""
    created_at: int
    expires_at: int
    decided_at: int | None = None
    report: GateReport | None = None


class RequestList(BaseModel):
    requests: list[ApprovalRequest]


class PromoteOutcome(StrEnum):
    MOVED = "moved"
    GATES_FAILED = "gates_failed"
    AWAITING_APPROVAL = "awaiting_approval"


class PromoteResult(BaseModel):
    """The answer to a promotion (and a rollback, which is always `moved` or an error)."""

    model_config = ConfigDict(extra="ignore")

    outcome: PromoteOutcome
    model: str
    alias: str
    version: int
    from_version: int | None
    report: GateReport | None = None
    event: Event | None = None
    request: ApprovalRequest | None = None


# --- requests --------------------------------------------------------------------------------


class VersionCreate(Strict):
    run_id: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    tags: dict[str, str] = Field(default_factory=dict)


class GateCheck(Strict):
    """Compute the gate report of moving `alias` to `version`, without moving it."""

    version: int = Field(ge=1, le=MAX_SAFE_INT)
    alias: str = Field(pattern=ALIAS_RULE)


class PromoteCreate(Strict):
    version: int = Field(ge=1, le=MAX_SAFE_INT)
    alias: str = Field(pattern=ALIAS_RULE)
    expected_version: int | None = Field(None, ge=1, le=MAX_SAFE_INT)
    """The version the caller believes the alias holds now (null: no holder). When sent, the move is
    compare-and-set: if another move came first the answer is 409 naming it. Omitted: no check."""
    reason: str = Field("", max_length=MAX_REASON)
    force: StrictBool = False
    """Move even though gates failed; needs a reason, and is recorded as forced."""


class RollbackCreate(Strict):
    alias: str = Field(pattern=ALIAS_RULE)
    reason: str = Field("", max_length=MAX_REASON)


class Decision(Strict):
    reason: str = Field("", max_length=MAX_REASON)


class ArchiveCreate(Strict):
    reason: str = Field("", max_length=MAX_REASON)


RequestFilter = Literal["PENDING", "APPROVED", "REJECTED", "EXPIRED"]
