"""The console's user config: `$MLOPS_CONFIG`, else `$XDG_CONFIG_HOME/mlops-tui/config.toml`.

```toml
[keys]                 # binding id = key(s); `?` in the console lists every id
"runs.mark" = "x"
"nav.down" = "j,down"

[tui]
refresh_seconds = 5    # how often lists refresh
live_seconds = 2       # how often a running run's charts and the Monitor view refresh
theme = "textual-dark"

[runs]
page_size = 100        # rows fetched per request
params = ["lr"]        # default param columns (else the experiment's `param_columns` most common params)
metrics = ["acc"]      # default metric columns (else its `metric_columns` most common metrics)
```

Every setting, its default and its bounds are declared once, on `TuiConfig`; a key of `[tui]` or
`[runs]` that is not one of them is an error naming it.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass


class ConfigError(ValueError):
    """The config file is unreadable or holds a value of the wrong kind; the message names it."""


def _setting(section: str, default: Any, **bounds: Any) -> Any:
    """A setting read from `[section]` of the file; numbers are strict (no strings, no booleans)."""
    return Field(default, json_schema_extra={"section": section}, **bounds)


def _seconds(default: float) -> Any:
    return _setting("tui", default, ge=0.2, strict=True)


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class TuiConfig:
    """Everything the console reads from the user's config file (every field has a default)."""

    keys: dict[str, str] = Field(default_factory=dict)
    """Binding id → key(s), comma-separated; overrides the defaults listed by `?` (the `[keys]` table)."""
    refresh_seconds: float = _seconds(5.0)
    """Pause between two refreshes of a list view (the next starts after the previous one ended)."""
    live_seconds: float = _seconds(2.0)
    """Pause between two refreshes of a running run's detail and charts; the Monitor view's beat."""
    health_seconds: float = _seconds(5.0)
    """Pause between two health checks while the backend answers."""
    retry_seconds: float = _seconds(2.0)
    """Pause between two health checks while the backend is unreachable."""
    page_size: int = _setting("runs", 100, ge=20, strict=True)
    """Runs fetched per request by the runs table (the table holds at most four pages)."""
    params: tuple[str, ...] | None = _setting("runs", None)
    """Param columns of the runs table; None picks the experiment's `param_columns` most common params."""
    metrics: tuple[str, ...] | None = _setting("runs", None)
    """Metric columns of the runs table; None picks the experiment's `metric_columns` most common metrics."""
    param_columns: int = _setting("runs", 2, ge=0, strict=True)
    metric_columns: int = _setting("runs", 3, ge=0, strict=True)
    chart_points: int = _setting("tui", 400, ge=4, strict=True)
    """Points asked for when drawing a metric chart (the server downsamples long series)."""
    theme: str | None = _setting("tui", None, strict=True)
    """A Textual theme name, e.g. textual-dark, nord, gruvbox; None keeps Textual's default."""


def _sections() -> dict[str, str]:
    """Setting name → the file's table it is read from (`tui` or `runs`)."""
    found: dict[str, str] = {}
    for setting in dataclasses.fields(TuiConfig):
        extra = getattr(setting.default, "json_schema_extra", None)  # the `Field` of `_setting`
        if isinstance(extra, dict) and isinstance(extra.get("section"), str):
            found[setting.name] = str(extra["section"])
    return found


SECTIONS = _sections()


def config_path() -> Path:
    """Where the config file is looked for."""
    explicit = os.environ.get("MLOPS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mlops-tui" / "config.toml"


def _check_keys(keys: Any) -> dict[str, str]:
    if not isinstance(keys, dict) or not all(isinstance(v, str) and v.strip() for v in keys.values()):
        raise ConfigError("[keys] must map binding ids to key strings, e.g. \"runs.mark\" = \"x\"")
    from .keymap import KEY_SPECS, key_conflicts  # the ids live with the bindings

    unknown = sorted(set(keys) - set(KEY_SPECS))
    if unknown:
        raise ConfigError(f"unknown binding id(s) in [keys]: {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(KEY_SPECS))}")
    chosen = {str(k): str(v) for k, v in keys.items()}
    conflicts = key_conflicts(chosen)
    if conflicts:
        raise ConfigError("[keys]: " + "; ".join(conflicts) + "; give one of them another key")
    return chosen


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    """The `[tui]` and `[runs]` tables as one mapping of settings; an unknown key is an error."""
    found: dict[str, Any] = {}
    for section in ("tui", "runs"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError("[tui] and [runs] must be tables")
        known = sorted(name for name, where in SECTIONS.items() if where == section)
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"unknown key {key!r} in [{section}]; known: {', '.join(known)}")
            found[key] = value
    return found


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "?"
    message = (first["msg"][:1].lower() + first["msg"][1:]).replace("a valid tuple", "a list of strings")
    return f"{SECTIONS.get(name, 'tui')}.{name}: {message}, got {first['input']!r}"


def parse_config(data: dict[str, Any]) -> TuiConfig:
    """Build a `TuiConfig` from the parsed TOML document, checking every value."""
    keys = _check_keys(data.get("keys", {}))
    settings = _settings(data)
    try:
        return TuiConfig(keys=keys, **settings)
    except ValidationError as error:
        raise ConfigError(_problem(error)) from None


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
