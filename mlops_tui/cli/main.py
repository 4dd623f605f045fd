"""`mlops`: the command line for every operation. `--json` on every listing for scripts and CI."""
from __future__ import annotations

import typer

from .. import __version__
from .alerts import alerts_app
from .auth import auth_app
from .data import data_app
from .imports import import_app
from .jobs import jobs_app, train_command
from .models import models_app
from .monitor import monitor_app
from .pipeline import pipeline_app
from .replica import serve_command
from .retrain import retrain_command
from .server import server_app
from .serving import predict_command
from .tracking import experiments_app, runs_app
from .tui import tui
from .webhooks import webhooks_app

app = typer.Typer(
    name="mlops",
    help="Train, compare, promote, serve and watch models from the terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(server_app, name="server")
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")
app.add_typer(jobs_app, name="jobs")
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(monitor_app, name="monitor")
app.add_typer(alerts_app, name="alerts")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(import_app, name="import")
app.add_typer(auth_app, name="auth")
app.command("train")(train_command)
app.command("tui")(tui)
app.command("predict")(predict_command)
app.command("serve")(serve_command)
app.command("retrain")(retrain_command)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
