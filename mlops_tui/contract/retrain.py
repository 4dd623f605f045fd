"""Continuous training's contract: a model's `[retrain]` policy, the retrains it triggers (each one an
event with its outcome), the dry run that says what a retrain would do, and shadow comparisons.

A trigger (drift alert, schedule, new data, or by hand) starts the model's pipeline as a job; the new
version goes to `staging` through the gates, then (optionally after a shadow period) to `production`
when every gate passes and `auto_promote` is on, or else a pending approval request is opened.
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import cron
from .alerts import ALERT_RULE_NAME, DURATION_RULE, Alert, AlertRule, NotifyConfig, Section


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


CRON_FIELDS = 5
"""`schedule` is a five-field cron line (minute hour day-of-month month day-of-week), in UTC."""


class RetrainPolicy(Section):
    """`[retrain]`: when the model retrains itself, and what may happen to the result."""

    on_drift: list[str] = Field(default_factory=list, max_length=100,
                                description="Alert rules (`[[monitor.alerts]]` names) whose opening triggers.")
    schedule: str | None = Field(None, max_length=200, description="A cron line in UTC, e.g. `0 3 * * 1`.")
    on_new_data: bool = Field(False, description="A new version of the dataset the model trains on triggers.")
    min_interval: str = Field("1h", pattern=DURATION_RULE, description="Least time between two retrains' starts.")
    min_new_rows: int = Field(0, ge=0, description="Rows the dataset must have gained since the last retrain's "
                                                   "data (0: no minimum).")
    min_new_labels: int = Field(0, ge=0, description="Feedback labels received since the last retrain started "
                                                     "(0: no minimum).")
    max_rejections: int = Field(3, ge=1, le=100, description="Candidates rejected in a row before the policy "
                                                             "pauses itself and opens an alert.")
    auto_promote: bool = Field(False, description="Move `production` when every gate passes (otherwise a pending "
                                                  "approval request is opened).")
    shadow: str | None = Field(None, pattern=DURATION_RULE, description="Run the new `staging` version in shadow "
                                                                         "on live traffic for at least this long "
                                                                         "before `production`.")
    shadow_min_rows: int = Field(100, ge=1, description="Rows the shadow must have predicted before it is judged.")
    max_regression: float = Field(0.02, ge=0, le=1, description="Margin: a shadow, or a newly promoted version, "
                                                                "worse than the champion by more than this "
                                                                "(accuracy or error rate) regresses.")
    rollback_window: str | None = Field("1h", pattern=DURATION_RULE, description="After an automatic promotion, "
                                        "a live regression within this long rolls `production` back.")

    @field_validator("on_drift")
    @classmethod
    def _rule_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(ALERT_RULE_NAME, name):
                raise ValueError(f"{name!r} is not an alert rule name")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron_line(cls, value: str | None) -> str | None:
        """A bad cron line is refused when the pipeline is submitted, naming `retrain.schedule`."""
        return None if value is None else cron.check(value)


class RetrainTrigger(StrEnum):
    DRIFT = "drift"
    SCHEDULE = "schedule"
    NEW_DATA = "new_data"
    MANUAL = "manual"
    """`mlops retrain NAME` or the API."""


class RetrainStatus(StrEnum):
    RUNNING = "running"
    """The training job is queued or running."""
    COALESCED = "coalesced"
    """Fired while a retrain of the model still ran: folded into that one, nothing started."""
    SKIPPED = "skipped"
    """A guard held it back (`reason` says which: cooldown, too few new rows or labels, paused)."""
    FAILED = "failed"
    """The job failed (validation, training) or the result could not be registered."""
    REJECTED = "rejected"
    """The gates refused the new version for `staging` or `production` (counts toward the breaker)."""
    SHADOWING = "shadowing"
    """In `staging`, running in shadow until its period ends."""
    AWAITING_APPROVAL = "awaiting_approval"
    """In `staging`; a pending request asks to move `production`."""
    STAGED = "staged"
    """In `staging`; the policy does not promote further."""
    PROMOTED = "promoted"
    """In `production`."""
    ROLLED_BACK = "rolled_back"
    """Promoted automatically, then regressed live: `production` moved back."""


RETRAIN_ACTIVE = (RetrainStatus.RUNNING, RetrainStatus.SHADOWING)
"""A retrain in one of these makes a new trigger coalesce."""


class Retrain(Model):
    """One trigger and its outcome: `GET /api/v1/models/{name}/retrains` lists them, newest first."""

    id: str
    model: str
    trigger: RetrainTrigger
    detail: str = ""
    """What fired: the alert rule and id, the cron line, the dataset version, or who ran it by hand."""
    status: RetrainStatus
    reason: str = ""
    """Why it ended as it did, in words."""
    actor: str
    job_id: str | None = None
    dataset: str | None = None
    """The dataset version trained on (`name@N`)."""
    version: int | None = None
    """The version registered from the job."""
    promoted_to: list[str] = Field(default_factory=list)
    """Aliases moved to `version`, in order."""
    report: dict[str, Any] | None = None
    """The last gate report (`GateReport` as JSON)."""
    request_id: str | None = None
    """The approval request opened for `production`."""
    alert_id: str | None = None
    """The alert that triggered it (`drift`)."""
    forced: bool = False
    """Fired by hand with `force`: the guards were skipped; ending promoted or staged un-pauses the policy."""
    shadow_since: int | None = None
    """When its version started running in shadow (epoch ms)."""
    created_at: int
    updated_at: int
    ended_at: int | None = None


class RetrainList(Model):
    retrains: list[Retrain]


class RetrainRequest(BaseModel):
    """`POST /api/v1/models/{name}/retrain`: fire the policy by hand (by the `X-Mlops-User`)."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    """Say what would be trained and on which data; start nothing."""
    force: bool = False
    """Ignore the cooldown, the new-rows minimum and a paused breaker (a running retrain still coalesces)."""


class RetrainPlan(Model):
    """What a retrain fired now would do (the answer of a dry run, and part of every fired one)."""

    model: str
    would_start: bool
    reason: str
    """Why it would start, or which guard holds it back."""
    pipeline_version: int | None = None
    """The registered version whose pipeline file is run (the latest)."""
    pipeline_name: str | None = None
    config_hash: str | None = None
    dataset: str | None = None
    """The dataset version it would train on (`name@N`: the latest)."""
    dataset_rows: int | None = None
    last_dataset: str | None = None
    """The dataset version the last retrain (or the latest version) trained on."""
    new_rows: int | None = None
    new_labels: int | None = None
    promote: list[str] = Field(default_factory=list)
    """The aliases it would try: `staging`, then `production` when `auto_promote` (or a request)."""


class RetrainAnswer(Model):
    """`POST /api/v1/models/{name}/retrain` answers this: the plan and, unless a dry run, the retrain
    event (status `running`, `coalesced` or `skipped`)."""

    plan: RetrainPlan
    retrain: Retrain | None = None


class RetrainState(Model):
    """A model's continuous-training state."""

    paused: bool = False
    """The circuit breaker opened: triggers are skipped until a retrain by hand with `force` succeeds."""
    consecutive_rejections: int = 0
    last_started_at: int | None = None
    last_dataset: str | None = None
    next_schedule_at: int | None = None
    """Epoch ms of the schedule's next firing."""
    schedule_checked_at: int | None = None
    """Up to when the schedule's slots were looked at (a slot fires once, missed ones together once)."""


class Lifecycle(Model):
    """`GET /api/v1/models/{name}/lifecycle`: everything the latest version's pipeline file declares about
    the model's life after training, and where it stands (what `mlops models policy` shows besides the
    promotion gates)."""

    name: str
    version: int | None
    """The version whose pipeline file this comes from (the latest)."""
    alerts: list[AlertRule] = Field(default_factory=list)
    retrain: RetrainPolicy | None = None
    notify: NotifyConfig | None = None
    state: RetrainState = Field(default_factory=RetrainState)
    open_alerts: list[Alert] = Field(default_factory=list)


class ShadowSide(Model):
    """One side of a shadow comparison over the same live requests."""

    version: int
    rows: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    estimated: dict[str, float] = Field(default_factory=dict)
    actual: dict[str, float] = Field(default_factory=dict)
    labeled: int = 0


class ShadowComparison(Model):
    """`GET /api/v1/models/{name}/shadow`: the champion (`production`) and the shadow (`staging`) on the
    same requests since the shadow started."""

    model: str
    alias: str
    """The alias whose requests are shadowed (`production`)."""
    shadow_alias: str
    champion: ShadowSide
    shadow: ShadowSide
    since: int
    rows: int
    """Rows both predicted."""
    agreement: float | None = None
    """Share of those rows where both predicted the same (classifiers) or within 5% (regressors)."""
    verdict: str
    """`waiting` (period or rows not reached), `ok` (no regression), `regressed` (why in `reason`)."""
    reason: str = ""
    dropped: int = 0
    """Requests the backend did not shadow since it started (any alias) because the shadow's queue was full:
    the champion answered them, the shadow never saw them."""
