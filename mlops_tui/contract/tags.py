"""Tag keys the system writes on runs (all under `mlops.`): the backend sets them, the CLI, the
console and scripts read them."""
from __future__ import annotations

PREFIX = "mlops."
"""Every system tag starts with this; the console shows them apart from the user's tags."""

RUN_NAME = "mlflow.runName"
"""MLflow's copy of the run name, kept in step with it by the backend (set it and the run is renamed)."""

# Where a run came from
JOB_ID = "mlops.job_id"
PIPELINE = "mlops.pipeline"
CONFIG_HASH = "mlops.config_hash"
EXECUTOR = "mlops.executor"
RUN_KIND = "mlops.run_kind"
"""`sweep` (a training job's parent run) or `candidate` (one of its children)."""
DATASET = "mlops.dataset"
"""The dataset version a run trained on, `name@N`."""
DATASET_SHA256 = "mlops.dataset_sha256"

# What a sweep chose
BEST = "mlops.best"
"""`true` on the candidate a sweep kept."""
BEST_RUN_ID = "mlops.best_run_id"
SELECTED_BY = "mlops.selected_by"
"""The metric the best candidate was chosen by."""
MODEL_PATH = "mlops.model_path"
POS_LABEL = "mlops.pos_label"
REGISTER_NAME = "mlops.register_name"
MODEL_VERSION = "mlops.model_version"
"""The registered model version a job's `[register]` made from the run, `name/3`."""

# Why a run failed
FAILURE_REASON = "mlops.failure_reason"

# The environment a run ran in
PYTHON = "mlops.python"
PLATFORM = "mlops.platform"
PACKAGES = "mlops.packages"
"""JSON: `{package: version}`."""
GIT_COMMIT = "mlops.git.commit"
SOURCE_COMMAND = "mlops.source.command"
