"""Backup and restore of a home's database (`mlops server backup|restore`).

A backup is SQLite's online backup API run from a connection of its own: a consistent snapshot of every
committed transaction, taken while the server keeps writing (WAL lets it). It covers the database only
(runs, metrics, registry, datasets' metadata, jobs, monitoring); the files under `<home>/artifacts` are
copied apart (`rsync -a`). A restore refuses while a server holds the home (`backend.home_lock`), checks
the file (SQLite, `integrity_check` ok, an mlops schema no newer than this code), keeps the database it
replaces as `mlops.db.before-restore-<time>` and swaps the new one in with one rename.

`python -m backend.maintenance backup|restore --home DIR FILE` runs them without a server; it prints one
JSON line and exits 0, or prints `error: ...` and exits 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops_tui.contract.atomic import commit, fsync_folder

from .db import MIGRATIONS, NotADatabase, check_file
from .home_lock import HomeBusy, HomeLock, HomeUnusable
from .settings import Settings, default_home

DB_NAME = "mlops.db"
BEFORE_RESTORE = "mlops.db.before-restore-"
"""The replaced database keeps this name plus the restore's UTC time (`20261202T174500Z`)."""


class RestoreRefused(Exception):
    """The file is not a database this code can restore, or the home is busy."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup or a restore wrote."""

    file: str
    bytes: int
    schema_version: int
    kept: str | None = None
    """The database a restore replaced, under its new name (None when there was none)."""


def backup(database: Path, target: Path) -> BackupInfo:
    """Copy the database at `database` into `target`: a self-contained file (no WAL), written beside it
    under a temporary name, fsynced, then renamed; a copy that fails (a full disk) leaves `target` as it was."""
    check_file(database)
    if not database.is_file():
        raise NotADatabase(database, "there is no database in this home yet")
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=".backup-")
    os.close(handle)
    temp = Path(name)
    try:
        source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(temp)
            try:
                source.backup(copy)  # all pages in one step: one read transaction, one consistent snapshot
                copy.execute("PRAGMA journal_mode = DELETE")
                version = int(copy.execute("PRAGMA user_version").fetchone()[0])
            finally:
                copy.close()
        finally:
            source.close()
        with temp.open("rb") as file:
            os.fsync(file.fileno())
        commit(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return BackupInfo(str(target), target.stat().st_size, version)


def check_backup(path: Path) -> int:
    """The schema version of the mlops database at `path`, read without writing to it; `RestoreRefused`
    when it is not one (not SQLite, damaged, not mlops's, or newer than this code)."""
    try:
        check_file(path)
        if not path.is_file() or path.stat().st_size == 0:
            raise RestoreRefused(f"{path} is not a database file")
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except NotADatabase as error:
        raise RestoreRefused(f"{path} is not a valid database ({error.reason})") from None
    except sqlite3.DatabaseError as error:
        raise RestoreRefused(f"{path} is not a valid database ({error})") from None
    if problems != ["ok"]:
        raise RestoreRefused(f"{path} fails SQLite's integrity check: {'; '.join(problems)}")
    if version < 1 or not {"experiments", "runs"} <= tables:
        raise RestoreRefused(f"{path} is an SQLite file but not an mlops database")
    if version > len(MIGRATIONS):
        raise RestoreRefused(f"{path} has schema version {version}, newer than this code's {len(MIGRATIONS)}: "
                             "restore it with the version of mlops-tui that wrote it")
    return version


def restore(home: Path, source: Path) -> BackupInfo:
    """Replace the home's database with the backup at `source` (see the module's docstring)."""
    try:
        lock = HomeLock(home).acquire()
    except HomeBusy as busy:
        raise RestoreRefused(f"{busy}: stop it first (mlops server stop)") from None
    with lock:
        version = check_backup(source)
        database = home / DB_NAME
        incoming = home / f"{DB_NAME}.restoring"
        backup(source, incoming)
        kept = _keep_current(database)
        os.replace(incoming, database)  # the swap: the old database or the new one, never neither
        for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
            leftover.unlink(missing_ok=True)  # the old database's (emptied or moved by `_keep_current`)
        fsync_folder(home)
        return BackupInfo(str(database), database.stat().st_size, version, str(kept) if kept else None)


def _keep_current(database: Path) -> Path | None:
    """Keep the database about to be replaced under a dated name, its committed transactions included:
    a healthy one has its WAL checkpointed into it first; a damaged one keeps its WAL beside it."""
    if not database.exists():
        return None
    kept = database.with_name(BEFORE_RESTORE + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    try:
        conn = sqlite3.connect(database)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        for suffix in ("-wal", "-shm"):
            side = Path(f"{database}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{kept}{suffix}"))
    os.link(database, kept)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.maintenance")
    parser.add_argument("action", choices=("backup", "restore"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    home = (args.home or default_home()).expanduser().resolve()
    try:
        if args.action == "backup":
            info = backup(Settings(home=home).db_path, args.file.expanduser().resolve())
        else:
            info = restore(home, args.file.expanduser().resolve())
    except (RestoreRefused, NotADatabase, HomeUnusable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as error:
        print(f"error: {args.action} failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(info)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
