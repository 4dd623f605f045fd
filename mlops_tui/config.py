"""The console's user config: `$MLOPS_CONFIG`, else `$XDG_CONFIG_HOME/mlops-tui/config.toml`.

```toml
[keys]                 # binding id = key(s); `?` in the console lists every id
"runs.mark" = "x"
"nav.down" = "j,down"

[tui]
refresh_seconds = 5    # how often lists refresh
live_seconds = 2       # how often a running run's charts refresh
theme = "textual-dark"

[runs]
page_size = 100        # rows fetched per request
params = ["lr"]        # default param columns (else the first `param_columns` keys)
metrics = ["acc"]      # default metric columns (else the first `metric_columns` keys)
```
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The config file is unreadable or holds a value of the wrong kind; the message names it."""


@dataclass(frozen=True)
class TuiConfig:
    """Everything the console reads from the user's config file (every field has a default)."""

    keys: dict[str, str] = field(default_factory=dict)
    """Binding id → key(s), comma-separated; overrides the defaults listed by `?`."""
    refresh_seconds: float = 5.0
    """Pause between two refreshes of a list view (the next starts after the previous one ended)."""
    live_seconds: float = 2.0
    """Pause between two refreshes of a running run's detail and charts."""
    health_seconds: float = 5.0
    """Pause between two health checks while the backend answers."""
    retry_seconds: float = 2.0
    """Pause between two health checks while the backend is unreachable."""
    page_size: int = 100
    """Runs fetched per request by the runs table (the table holds at most four pages)."""
    params: tuple[str, ...] | None = None
    """Param columns of the runs table; None picks the first `param_columns` keys of the experiment."""
    metrics: tuple[str, ...] | None = None
    """Metric columns of the runs table; None picks the first `metric_columns` keys of the experiment."""
    param_columns: int = 2
    metric_columns: int = 3
    chart_points: int = 400
    """Points asked for when drawing a metric chart (the server downsamples long series)."""
    theme: str | None = None
    """A Textual theme name, e.g. textual-dark, nord, gruvbox; None keeps Textual's default."""


def config_path() -> Path:
    """Where the config file is looked for."""
    explicit = os.environ.get("MLOPS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mlops-tui" / "config.toml"


def _number(table: dict[str, Any], name: str, where: str, default: float, minimum: float) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{where}.{name} must be a number ≥ {minimum}, got {value!r}")
    return float(value)


def _names(table: dict[str, Any], name: str, where: str) -> tuple[str, ...] | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}.{name} must be a list of strings, got {value!r}")
    return tuple(value)


def parse_config(data: dict[str, Any]) -> TuiConfig:
    """Build a `TuiConfig` from the parsed TOML document, checking every value."""
    keys = data.get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) and v.strip() for v in keys.values()):
        raise ConfigError("[keys] must map binding ids to key strings, e.g. \"runs.mark\" = \"x\"")
    from .screens.keys import KEY_SPECS, key_conflicts  # the ids live with the bindings

    unknown = sorted(set(keys) - set(KEY_SPECS))
    if unknown:
        raise ConfigError(f"unknown binding id(s) in [keys]: {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(KEY_SPECS))}")
    conflicts = key_conflicts({str(k): str(v) for k, v in keys.items()})
    if conflicts:
        raise ConfigError("[keys]: " + "; ".join(conflicts) + "; give one of them another key")
    tui, runs = data.get("tui", {}), data.get("runs", {})
    if not isinstance(tui, dict) or not isinstance(runs, dict):
        raise ConfigError("[tui] and [runs] must be tables")
    theme = tui.get("theme")
    if theme is not None and not isinstance(theme, str):
        raise ConfigError(f"tui.theme must be a string, got {theme!r}")
    return TuiConfig(
        keys={str(k): str(v) for k, v in keys.items()},
        refresh_seconds=_number(tui, "refresh_seconds", "tui", 5.0, 0.2),
        live_seconds=_number(tui, "live_seconds", "tui", 2.0, 0.2),
        health_seconds=_number(tui, "health_seconds", "tui", 5.0, 0.2),
        retry_seconds=_number(tui, "retry_seconds", "tui", 2.0, 0.2),
        page_size=int(_number(runs, "page_size", "runs", 100, 20)),
        params=_names(runs, "params", "runs"),
        metrics=_names(runs, "metrics", "runs"),
        param_columns=int(_number(runs, "param_columns", "runs", 2, 0)),
        metric_columns=int(_number(runs, "metric_columns", "runs", 3, 0)),
        chart_points=int(_number(tui, "chart_points", "tui", 400, 4)),
        theme=theme,
    )


def load_config(path: Path | None = None) -> TuiConfig:
    """Read the config file; a missing file gives the defaults, a bad one raises `ConfigError`."""
    target = path or config_path()
    try:
        data = tomllib.loads(target.read_text())
    except FileNotFoundError:
        return TuiConfig()
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {target}: {error}") from None
    try:
        return parse_config(data)
    except ConfigError as error:
        raise ConfigError(f"{target}: {error}") from None
