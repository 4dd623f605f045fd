"""`python -m backend.replica NAME@ALIAS [--host H] [--port P] [--workers N] [--url URL] [--cache-dir DIR]`:
a standalone prediction server for one alias (what `mlops serve` runs), in the foreground until
SIGTERM/SIGINT. Binds loopback by default; beyond loopback needs MLOPS_TOKEN, which its callers then
send as a bearer token. Tuning: `MLOPS_REPLICA_WAIT_SECONDS`, `_POLL_SECONDS`, `_SHIP_SECONDS`,
`_BUFFER_RECORDS` (see `config.ReplicaConfig`)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from mlops_tui.client import MlopsError
from mlops_tui.contract.defaults import DEFAULT_HOST, TOKEN_ENV, bind_refusal
from mlops_tui.contract.registry import parse_model_ref

from ..errors import DomainError
from ..settings import default_home
from .app import create_replica_app
from .config import ReplicaConfig
from .download import ModelMismatch
from .service import Replica

DEFAULT_REPLICA_PORT = 5056


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m backend.replica")
    parser.add_argument("ref", metavar="NAME@ALIAS")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_REPLICA_PORT)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--url", default=None, help="The backend (default: MLOPS_URL).")
    parser.add_argument("--cache-dir", type=Path, default=None)
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> ReplicaConfig:
    """The replica's settings: the arguments over `MLOPS_REPLICA_*`. Raises ValueError for bad ones."""
    name, ref = parse_model_ref(args.ref)
    if not isinstance(ref, str):
        raise ValueError(f"{args.ref!r}: name an alias, NAME@ALIAS (a replica follows an alias)")
    if args.workers < 1:
        raise ValueError("--workers must be 1 or more")
    refusal = bind_refusal(args.host, os.environ.get(TOKEN_ENV))
    if refusal:
        raise ValueError(refusal)
    base = ReplicaConfig.from_env()
    url = args.url or base.backend_url
    cache_dir = (args.cache_dir or base_cache(base)).expanduser().resolve()
    return dataclasses.replace(base, name=name, alias=ref, backend_url=url, cache_dir=cache_dir, host=args.host,
                               source=os.environ.get("MLOPS_REPLICA_SOURCE") or f"{socket.gethostname()}:{args.port}")


def base_cache(base: ReplicaConfig) -> Path:
    if os.environ.get("MLOPS_REPLICA_CACHE_DIR"):
        return base.cache_dir
    return default_home() / "replica-cache"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = configure(args)
        replica = Replica(config)
        replica.follower.current = replica.load(replica.backend.get_alias(config.name, config.alias))
    except MlopsError as error:
        return _fail(f"{error.message}" + (f" ({error.field})" if error.field else ""))
    except (DomainError, ModelMismatch, ValueError, OSError) as error:
        return _fail(getattr(error, "message", None) or str(error))
    logging.basicConfig(format="%(asctime)s replica: %(message)s", level=logging.WARNING)
    logging.getLogger("mlops.replica").setLevel(logging.INFO)
    current = replica.follower.current
    print(f"serving {config.name}@{config.alias} (version {current.version}) on http://{args.host}:{args.port} "
          f"with {args.workers} worker(s), following {config.backend_url}; Ctrl-C stops", flush=True)
    if args.workers == 1:
        app = create_replica_app(config, replica)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, proxy_headers=False)
    else:  # each worker builds its own replica from the environment (the model file is cached by now)
        os.environ.update(config.to_env())
        uvicorn.run("backend.replica.app:app_from_env", factory=True, workers=args.workers, host=args.host,
                    port=args.port, log_level="warning", access_log=False, proxy_headers=False)
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
