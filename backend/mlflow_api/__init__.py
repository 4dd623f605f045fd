"""MLflow's REST API, so the unmodified `mlflow` client logs to, searches and loads from this backend.

The routes live under `/api/2.0/mlflow/` (and `/api/2.0/mlflow-artifacts/`) and speak MLflow's request
and response shapes; behind them are the same services as the native API, so a run logged either way
is the same row. `protocol` reads requests and answers errors as MLflow does; `shapes` turns the
store's rows into MLflow's messages; one router module per part of MLflow's API:
`tracking` (experiments, runs, logging, metric histories), `registry` (registered models, versions,
aliases), `artifacts` (the artifact proxy) and `logged_models` (MLflow 3's logged models, run outputs).
"""
