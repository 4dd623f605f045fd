"""The bearer token the client sends: `MLOPS_TOKEN`, else `token` in the `[auth]` table of the user's
config file (`mlops_tui.config.config_path`):

```toml
[auth]
token = "mlops_3f9c0a1b2c4d_..."
```

Like ssh with a private key, a token in a config file that other users can read is not used (a warning
says so on stderr): `chmod 600` the file.
"""
from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path

from .config import config_path
from .contract.defaults import TOKEN_ENV


def configured_token(path: Path | None = None) -> str | None:
    """The token to send, or None when neither the environment nor the config file has one."""
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return from_env
    target = path or config_path()
    try:
        token = tomllib.loads(target.read_text()).get("auth", {}).get("token")
        mode = target.stat().st_mode
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None
    if not isinstance(token, str) or not token:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: not using the token in {target}: other users can read the file (chmod 600 {target})",
              file=sys.stderr)
        return None
    return token
