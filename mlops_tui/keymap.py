"""Every key binding of the console, with the id a user remaps it by (`[keys]` in the config file).

The help screen lists this table, so a binding that is not here does not exist for the user.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class KeySpec:
    """One binding: its id, default key(s), the action it runs, and where it applies."""

    id: str
    keys: str
    action: str
    description: str
    scope: str
    show: bool = False
    key_display: str | None = None
    priority: bool = False
    label: str = ""
    """The footer's short word (the description when empty)."""


_SPECS = [
    # everywhere
    KeySpec("app.help", "question_mark", "help", "Help: every key", "everywhere", True, "?", label="Help"),
    KeySpec("app.command", "colon", "command_bar", "Command bar (:runs, :experiments …)", "everywhere", True, ":",
            label="Cmd"),
    KeySpec("app.palette", "ctrl+p", "command_palette", "Command palette", "everywhere", False, "^p", label="Palette"),
    KeySpec("app.back", "q", "back", "Back; quit at the root", "everywhere", True, label="Back"),
    KeySpec("app.quit", "ctrl+q", "quit", "Quit", "everywhere", False, "^q", priority=True, label="Quit"),
    KeySpec("app.refresh", "r", "refresh", "Refresh now", "everywhere", False, label="Refresh"),
    KeySpec("app.view.overview", "1", "view('overview')", "Go to the overview", "everywhere"),
    KeySpec("app.view.experiments", "2", "view('experiments')", "Go to experiments", "everywhere"),
    KeySpec("app.view.runs", "3", "view('runs')", "Go to runs (all experiments)", "everywhere"),
    KeySpec("app.view.jobs", "4", "view('jobs')", "Go to jobs", "everywhere"),
    KeySpec("app.view.datasets", "5", "view('datasets')", "Go to datasets", "everywhere"),
    KeySpec("app.view.models", "6", "view('models')", "Go to models", "everywhere"),
    KeySpec("app.view.alerts", "7", "view('alerts')", "Go to alerts (open first)", "everywhere"),
    # every view
    KeySpec("view.escape", "escape", "escape", "Clear the filter, else go back", "views", False, "esc", label="Back"),
    KeySpec("view.filter", "slash", "filter", "Filter", "lists", True, "/", label="Filter"),
    KeySpec("view.next_tab", "right_square_bracket", "next_tab", "Next tab", "tabbed views", True, "]",
            label="Tab"),
    KeySpec("view.prev_tab", "left_square_bracket", "prev_tab", "Previous tab", "tabbed views", False, "["),
    # tables and lists
    KeySpec("nav.down", "j", "cursor_down", "Down (also ↓)", "tables"),
    KeySpec("nav.up", "k", "cursor_up", "Up (also ↑)", "tables"),
    KeySpec("nav.top", "g", "top", "First row", "tables"),
    KeySpec("nav.bottom", "G", "bottom", "Last row", "tables"),
    KeySpec("nav.page_down", "pagedown,ctrl+f", "page_down", "Page down", "tables", False, "pgdn"),
    KeySpec("nav.page_up", "pageup,ctrl+b", "page_up", "Page up", "tables", False, "pgup"),
    KeySpec("nav.open", "enter", "select_cursor", "Open (drill in)", "tables", True, "⏎", label="Open"),
    # runs
    KeySpec("runs.mark", "space", "mark", "Mark / unmark the run", "runs", True, "␣", label="Mark"),
    KeySpec("runs.compare", "c", "compare", "Compare the marked runs", "runs", True, label="Compare"),
    KeySpec("runs.unmark", "u", "unmark_all", "Unmark every run", "runs"),
    KeySpec("runs.sort", "s", "sort", "Sort by a column", "runs", True, label="Sort"),
    KeySpec("runs.reverse", "S", "reverse", "Reverse the sort", "runs"),
    KeySpec("runs.columns", "C", "columns", "Pick the param/metric columns (remembered per experiment)", "runs"),
    KeySpec("runs.expand", "plus", "expand", "Show / hide a parent run's child runs", "runs", True, "+",
            label="Children"),
    KeySpec("runs.collapse", "minus", "collapse", "Hide the child runs around the cursor", "runs", False, "-"),
    KeySpec("runs.leaderboard", "L", "leaderboard", "Leaderboard: rank every run by the primary metric "
            "(again: back to the grouped list)", "runs", True, label="Board"),
    # jobs (the list and one job)
    KeySpec("jobs.cancel", "x", "cancel_job", "Cancel the job (asks first)", "jobs", True, label="Cancel"),
    KeySpec("jobs.retry", "R", "retry_job", "Retry a failed/cancelled job (a new job)", "jobs", True, label="Retry"),
    KeySpec("jobs.new", "n", "new_job", "Start a pipeline from a TOML file", "jobs", True, label="New"),
    KeySpec("job.run", "o", "open_parent_run", "Open the job's parent run", "job detail", True, label="Run"),
    KeySpec("job.model", "m", "open_model_version", "Open the model version the job registered", "job detail", True,
            label="Model"),
    # datasets
    KeySpec("datasets.mark", "space", "mark", "Mark / unmark a version (mark two, then d)", "dataset versions",
            True, "␣", label="Mark"),
    KeySpec("datasets.diff", "d", "diff", "Diff the two marked versions", "dataset versions", True, label="Diff"),
    # run detail
    KeySpec("run.job", "J", "open_job", "Open the job that made the run", "run detail", True, label="Job"),
    KeySpec("run.dataset", "D", "open_dataset", "Open the run's dataset version", "run detail", True,
            label="Data"),
    KeySpec("run.model", "m", "open_model_version", "Open the model version the run produced", "run detail", True,
            label="Model"),
    # a model (`enter` in models)
    KeySpec("model.promote", "p", "promote", "Promote the version under the cursor to an alias (gates first)",
            "model", True, label="Promote"),
    KeySpec("model.rollback", "b", "rollback", "Roll an alias back to the version it held before", "model", True,
            label="Rollback"),
    KeySpec("model.decide", "a", "decide", "Approve or reject the pending request", "model", True,
            label="Approve"),
    KeySpec("model.version", "v", "open_version", "The version's detail: signature, statistics, gate report",
            "model", True, label="Version"),
    KeySpec("model.monitor", "m", "monitor", "Monitor the model: traffic, latency, drift, accuracy", "model", True,
            label="Monitor"),
    KeySpec("models.monitor", "m", "monitor", "Monitor the model under the cursor", "models", True,
            label="Monitor"),
    # a model's Monitor view (`m` on a model, `:monitor NAME[@ALIAS]`)
    KeySpec("monitor.window_15m", "f", "window('15m')", "Window: the last 15 minutes", "monitor", True,
            label="15m"),
    KeySpec("monitor.window_1h", "h", "window('1h')", "Window: the last hour", "monitor", True, label="1h"),
    KeySpec("monitor.window_24h", "d", "window('24h')", "Window: the last 24 hours", "monitor", True,
            label="24h"),
    KeySpec("monitor.live", "l", "live", "Back to live (from a past moment, e.g. an alert's)", "monitor", True,
            label="Live"),
    KeySpec("monitor.next_panel", "right_square_bracket", "next_panel",
            "Next lower panel: drift, alerts, retrains, shadow", "monitor", True, "]", label="Panel"),
    KeySpec("monitor.prev_panel", "left_square_bracket", "prev_panel", "Previous lower panel", "monitor", False,
            "["),
    # alerts (`7`, `:alerts`)
    KeySpec("alerts.ack", "a", "ack", "Acknowledge the alert (as you)", "alerts", True, label="Ack"),
    KeySpec("alerts.resolve", "x", "resolve", "Resolve the alert by hand, with a note", "alerts", True,
            label="Resolve"),
    # the promote, rollback and approval forms
    KeySpec("modelform.confirm", "ctrl+s", "confirm", "Promote / roll back / send the decision", "model forms", True,
            "^s", priority=True, label="Confirm"),
    KeySpec("modelform.force", "ctrl+f", "force", "Force a promotion whose gates failed (needs a reason)",
            "model forms", True, "^f", priority=True, label="Force"),
    KeySpec("modelform.cancel", "escape", "cancel", "Close the form", "model forms", True, "esc", label="Cancel"),
    # the yes/no question (cancel a job)
    KeySpec("confirm.yes", "y", "yes", "Yes (in a question)", "confirm", False),
    KeySpec("confirm.no", "n,escape,q", "no", "No (in a question)", "confirm", False),
    # the form that starts a pipeline (`n` in jobs)
    KeySpec("form.complete", "tab", "complete", "Complete the path", "start form", False, priority=True),
    KeySpec("form.cancel", "escape", "cancel", "Close the form", "start form", False, "esc"),
    # the preview of an artifact file (`enter` on a file in a run's artifacts)
    KeySpec("preview.close", "escape,q", "close", "Close the preview", "preview", True, "esc", label="Close"),
]

KEY_SPECS: dict[str, KeySpec] = {spec.id: spec for spec in _SPECS}

CONTEXTS: dict[str, tuple[str, ...]] = {
    "overview, experiments, datasets": ("everywhere", "views", "lists", "tables"),
    "runs": ("everywhere", "views", "lists", "tables", "runs"),
    "run detail": ("everywhere", "views", "tables", "tabbed views", "run detail"),
    "compare": ("everywhere", "views", "tables", "tabbed views"),
    "jobs": ("everywhere", "views", "lists", "tables", "jobs"),
    "job detail": ("everywhere", "views", "tables", "jobs", "job detail"),
    "dataset versions": ("everywhere", "views", "tables", "dataset versions"),
    "models": ("everywhere", "views", "lists", "tables", "models"),
    "model": ("everywhere", "views", "tables", "tabbed views", "model"),
    "monitor": ("everywhere", "views", "tables", "monitor"),
    "alerts": ("everywhere", "views", "lists", "tables", "alerts"),
    "the model forms": ("model forms",),
    "the yes/no question": ("confirm",),
    "the start form": ("start form",),
    "the artifact preview": ("preview",),
}
"""Which scopes' bindings act together on one screen (a modal's own keys come before the app's,
so its scope stands alone). Two bindings may share a key only if no context holds both."""


def key_conflicts(keymap: dict[str, str]) -> list[str]:
    """Why `keymap` (binding id → keys, over the defaults) cannot work: one line per key that two
    bindings of the same screen would both claim, naming both ids; empty when it can."""
    problems: list[str] = []
    seen_pairs: set[tuple[str, str, str]] = set()
    for context, scopes in CONTEXTS.items():
        owner: dict[str, str] = {}
        for spec in _SPECS:
            if spec.scope not in scopes:
                continue
            for key in (k.strip() for k in keymap.get(spec.id, spec.keys).split(",")):
                other = owner.setdefault(key, spec.id)
                if other != spec.id and (key, other, spec.id) not in seen_pairs:
                    seen_pairs.add((key, other, spec.id))
                    problems.append(f"key {display_keys(key)!r} is bound to both {other} and {spec.id} "
                                    f"(both act in {context})")
    return problems


def bindings(*scopes: str) -> list[BindingType]:
    """Textual bindings for the specs of the given scopes (ids kept, so the keymap applies)."""
    return [
        Binding(spec.keys, spec.action, spec.label or spec.description, show=spec.show,
                key_display=spec.key_display, priority=spec.priority, tooltip=spec.description, id=spec.id)
        for spec in _SPECS if spec.scope in scopes
    ]


def display_keys(keys: str) -> str:
    """`question_mark,ctrl+p` → `?, ctrl+p`: how a key string reads in the help screen."""
    names = {"question_mark": "?", "colon": ":", "slash": "/", "space": "space", "escape": "esc",
             "right_square_bracket": "]", "left_square_bracket": "[", "enter": "enter", "plus": "+",
             "minus": "-"}
    return ", ".join(names.get(key.strip(), key.strip()) for key in keys.split(","))


def key_label(spec_id: str, keymap: dict[str, str] | None = None) -> str:
    """How to name a binding's key in a hint (`y`, `esc`), following the user's remapping."""
    spec = KEY_SPECS[spec_id]
    keys = (keymap or {}).get(spec_id, spec.keys)
    return display_keys(keys.split(",")[0])
