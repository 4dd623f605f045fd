"""What the server does on its own timers: `install` adds each periodic task to the controller.

One line per part, each owned by its module; the controller runs them in this order every round.
"""
from __future__ import annotations

from ..db import Database
from ..monitoring.recorder import Recorder
from ..settings import Settings
from . import alerting, retraining, shadowing
from .controller import Controller
from .webhooks import Deliverer


def install(controller: Controller, settings: Settings, db: Database, recorder: Recorder) -> None:
    """Register the periodic tasks (alert rules first: a retrain trigger reads the alerts they open)."""
    controller.add("alerts", alerting.task(db))  # every model's [[monitor.alerts]] rules

    controller.add("retrain", retraining.task(settings, db))  # follow running retrains, fire due triggers

    shadowing.install(controller, settings, db)  # the rollback watch after automatic promotions

    # webhooks: fan the outbox out and deliver (backend.automation.webhooks), on its own thread
    controller.attach(Deliverer(db, settings))
    del controller, settings, db, recorder
