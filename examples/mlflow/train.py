"""A plain MLflow training script: nothing in it knows about mlops-tui.

Point it at any MLflow tracking server, this project's backend included:

    MLFLOW_TRACKING_URI=http://127.0.0.1:5055 python examples/mlflow/train.py

It tunes a logistic regression on the churn data in nested runs, grows a random forest logging its
validation accuracy at each step, logs the better model with `mlflow.sklearn.log_model` and registers it,
points the `production` alias at the new version, then loads `models:/<name>@production` back and predicts.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DATA = Path(__file__).resolve().parents[2] / "sample_data" / "churn.csv"
NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "usage_gb", "age"]
CATEGORICAL = ["plan", "region", "payment_method", "contract"]


def pipeline(estimator: object) -> Pipeline:
    features = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), CATEGORICAL),
    ])
    return Pipeline([("features", features), ("model", estimator)])


def scores(model: Pipeline, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    proba = model.predict_proba(x)[:, 1]
    predicted = (proba >= 0.5).astype(int)
    return {"accuracy": accuracy_score(y, predicted), "f1": f1_score(y, predicted), "roc_auc": roc_auc_score(y, proba)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="churn-mlflow")
    parser.add_argument("--model-name", default="churn-mlflow")
    args = parser.parse_args()

    frame = pd.read_csv(DATA)
    x, y = frame[NUMERIC + CATEGORICAL], frame["churned"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mlflow.set_experiment(args.experiment)

    with mlflow.start_run(run_name="logistic-regression-sweep"):
        mlflow.set_tag("family", "linear")
        best_c, best_auc = 0.0, -1.0
        for c in (0.1, 1.0, 10.0):
            with mlflow.start_run(run_name=f"C={c}", nested=True):
                mlflow.log_params({"model": "LogisticRegression", "C": c, "max_iter": 300})
                result = scores(pipeline(LogisticRegression(C=c, max_iter=300)).fit(x_train, y_train), x_test, y_test)
                mlflow.log_metrics(result)
                if result["roc_auc"] > best_auc:
                    best_c, best_auc = c, result["roc_auc"]
        mlflow.log_params({"best_C": best_c})
        mlflow.log_metric("best_roc_auc", best_auc)

    with mlflow.start_run(run_name="random-forest") as run:
        mlflow.set_tag("family", "trees")
        mlflow.log_params({"model": "RandomForestClassifier", "max_depth": 8, "n_estimators": 50})
        forest = pipeline(RandomForestClassifier(max_depth=8, n_estimators=5, warm_start=True, random_state=0))
        for step, trees in enumerate(range(5, 55, 5)):
            forest.set_params(model__n_estimators=trees).fit(x_train, y_train)
            mlflow.log_metric("val_accuracy", accuracy_score(y_test, forest.predict(x_test)), step=step)
        result = scores(forest, x_test, y_test)
        mlflow.log_metrics(result)
        # MLflow 3 saves scikit-learn models with skops, which loads only the types it is told to trust;
        # the requirements are given (inferring them runs the model in a subprocess: seconds)
        logged = mlflow.sklearn.log_model(forest, name="model", input_example=x_test.head(3),
                                          skops_trusted_types=["numpy.dtype", "sklearn.tree._tree.Tree"],
                                          pip_requirements=["scikit-learn", "pandas", "skops"],
                                          registered_model_name=args.model_name)
        print(f"run {run.info.run_id}: roc_auc {result['roc_auc']:.3f} (best logistic regression {best_auc:.3f})")

    client = MlflowClient()
    version = logged.registered_model_version
    client.set_registered_model_alias(args.model_name, "production", version)
    print(f"registered {args.model_name} version {version}, alias production")

    production = mlflow.sklearn.load_model(f"models:/{args.model_name}@production")
    predicted = production.predict(x_test.head(5)).tolist()
    print(f"models:/{args.model_name}@production predicts {predicted} for the first 5 test rows")


if __name__ == "__main__":
    main()
