"""The SQLite connection and schema: the only module that opens the database file.

The connection runs in WAL mode with a busy timeout and foreign keys on. The schema is
versioned with `PRAGMA user_version`; `MIGRATIONS[i]` moves a database from version i to i+1.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils
import sqlite_utils.db

MIGRATIONS: list[str] = [
    # 0 -> 1: tracking
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        artifact_location TEXT
    );
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (experiment_id, key)
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        parent_id TEXT
    );
    CREATE INDEX runs_experiment_start ON runs (experiment_id, lifecycle_stage, start_time DESC);
    CREATE INDEX runs_status ON runs (status);
    CREATE INDEX runs_parent ON runs (parent_id);
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX params_key_value ON params (key, value);
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX tags_key_value ON tags (key, value);
    -- one row per (run, metric key): the latest point plus min/max/count, kept on ingest
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        min_value REAL,
        max_value REAL,
        count INTEGER NOT NULL,
        UNIQUE (run_id, key)
    );
    CREATE INDEX series_key_value ON series (key, value);
    -- every logged point (values are finite: NaN and infinities are refused at the API),
    -- clustered by series and step so a history is one contiguous range read
    CREATE TABLE points (
        series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series_id, step, timestamp, value)
    ) WITHOUT ROWID;
    -- per series, per block of 64 points in arrival order: the lowest and highest point,
    -- so a chart of a 1,000,000-point series reads ~16,000 rows instead of every point
    CREATE TABLE rollups (
        series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
        block INTEGER NOT NULL,
        min_value REAL NOT NULL,
        min_step INTEGER NOT NULL,
        min_timestamp INTEGER NOT NULL,
        max_value REAL NOT NULL,
        max_step INTEGER NOT NULL,
        max_timestamp INTEGER NOT NULL,
        PRIMARY KEY (series_id, block)
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: dataset versions
    """
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        description TEXT
    );
    -- content-addressed: the same bytes under the same name are one version
    CREATE TABLE dataset_versions (
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        filename TEXT,
        size_bytes INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        schema_json TEXT NOT NULL,
        stats_json TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, version),
        UNIQUE (dataset_id, sha256)
    );
    """,
    # 2 -> 3: jobs
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL DEFAULT 'train',
        status TEXT NOT NULL,
        name TEXT NOT NULL,
        config_json TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        config_toml TEXT,
        experiment_id INTEGER,
        run_id TEXT,
        dataset TEXT,
        executor TEXT NOT NULL DEFAULT 'local',
        scheduler TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        pid INTEGER,
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        error_kind TEXT,
        report_json TEXT,
        retry_of TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_status ON jobs (status, created_at);
    """,
    # 3 -> 4: run heartbeats (SDK runs send them; a run whose heartbeat stops is marked FAILED)
    """
    ALTER TABLE runs ADD COLUMN heartbeat_at INTEGER;
    CREATE INDEX runs_heartbeat ON runs (heartbeat_at) WHERE status = 'RUNNING' AND heartbeat_at IS NOT NULL;
    """,
    # 4 -> 5: top-level runs (the console's grouped list pages and counts `parent_id IS NULL`)
    """
    CREATE INDEX runs_top_level ON runs (experiment_id, lifecycle_stage, start_time DESC) WHERE parent_id IS NULL;
    """,
    # 5 -> 6: the model registry. A version is a row (its number allocated in the inserting
    # transaction); an alias points at one version and moves by compare-and-set; every change is an
    # event in a per-model hash chain that triggers keep append-only; approval requests wait for
    # their approvers. `models.head_hash` is the newest event's hash, so removing the last event shows.
    """
    CREATE TABLE models (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        latest_version INTEGER NOT NULL DEFAULT 0,
        event_count INTEGER NOT NULL DEFAULT 0,
        head_hash TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE model_versions (
        name TEXT NOT NULL REFERENCES models (name),
        version INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'READY',
        run_id TEXT NOT NULL,
        best_run_id TEXT,
        job_id TEXT,
        dataset TEXT,
        pipeline_hash TEXT,
        primary_metric TEXT,
        primary_value REAL,
        metrics_json TEXT NOT NULL DEFAULT '{}',
        model_path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        signature_json TEXT NOT NULL DEFAULT '{}',
        reference_json TEXT,
        pipeline_json TEXT,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        tags_json TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE INDEX model_versions_run ON model_versions (run_id);
    CREATE TABLE model_aliases (
        name TEXT NOT NULL REFERENCES models (name),
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        moved_at INTEGER NOT NULL,
        moved_by TEXT NOT NULL,
        PRIMARY KEY (name, alias)
    ) WITHOUT ROWID;
    CREATE TABLE model_events (
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        time INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        alias TEXT,
        from_version INTEGER,
        to_version INTEGER,
        version INTEGER,
        request_id TEXT,
        reason TEXT NOT NULL DEFAULT '',
        forced INTEGER NOT NULL DEFAULT 0,
        report_json TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (name, seq)
    ) WITHOUT ROWID;
    CREATE INDEX model_events_time ON model_events (name, time);
    CREATE TRIGGER model_events_no_update BEFORE UPDATE ON model_events
        BEGIN SELECT RAISE(ABORT, 'model_events is append-only'); END;
    CREATE TRIGGER model_events_no_delete BEFORE DELETE ON model_events
        BEGIN SELECT RAISE(ABORT, 'model_events is append-only'); END;
    CREATE TABLE approval_requests (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL REFERENCES models (name),
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        expected_version INTEGER,
        requester TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        forced INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'PENDING',
        approvals_needed INTEGER NOT NULL DEFAULT 1,
        approvers_json TEXT NOT NULL DEFAULT '[]',
        decided_by TEXT,
        decision_reason TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_at INTEGER,
        report_json TEXT
    );
    CREATE INDEX approval_requests_model ON approval_requests (name, status, created_at);
    """,
    # 6 -> 7: serving and monitoring. `predictions` keeps one row per predicted row (or failed
    # request), its inputs and output for a sampled share; `prediction_minutes` rolls traffic up per
    # minute (counts, errors, a fixed-bucket latency histogram that merges by adding); `drift_minutes`
    # keeps per-feature counts over the version's frozen reference bins per minute (mergeable the same
    # way); `feedback` holds true labels by request id; a version's monitoring profile (reference bins,
    # reference sample, calibrated thresholds, calibration) is computed when it is registered.
    """
    CREATE TABLE predictions (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        alias TEXT,
        latency_ms REAL NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        source TEXT NOT NULL DEFAULT '',
        inputs_json TEXT,
        output_json TEXT,
        proba_json TEXT,
        first INTEGER NOT NULL DEFAULT 1
    );
    CREATE UNIQUE INDEX predictions_request ON predictions (request_id);
    CREATE INDEX predictions_model_time ON predictions (name, time);
    CREATE TABLE prediction_minutes (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        rows INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        latency_sum REAL NOT NULL DEFAULT 0,
        latency_buckets TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (name, alias, version, minute)
    ) WITHOUT ROWID;
    CREATE TABLE drift_minutes (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        feature TEXT NOT NULL,
        rows INTEGER NOT NULL DEFAULT 0,
        counts_json TEXT NOT NULL,
        PRIMARY KEY (name, version, minute, feature)
    ) WITHOUT ROWID;
    CREATE TABLE feedback (
        request_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        label_json TEXT NOT NULL,
        time INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX feedback_model_time ON feedback (name, time);
    ALTER TABLE model_versions ADD COLUMN profile_json TEXT;
    """,
    # 7 -> 8: alerts, webhooks and continuous training. An alert rule has at most one alert that is not
    # resolved (the partial unique index); `notifications` is an outbox, written in the transaction of
    # what it tells, fanned out to `webhook_deliveries` (one per target) and sent by the server's
    # deliverer; a model has at most one retrain running or shadowing.
    """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        alias TEXT,
        version INTEGER,
        rule TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        message TEXT NOT NULL,
        value REAL,
        threshold REAL,
        last_value REAL,
        opened_at INTEGER NOT NULL,
        window_start INTEGER,
        evaluated_at INTEGER,
        acknowledged_by TEXT,
        acknowledged_at INTEGER,
        resolved_by TEXT,
        resolved_at INTEGER,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX alerts_one_active ON alerts (name, rule) WHERE status != 'resolved';
    CREATE INDEX alerts_status ON alerts (status, opened_at);
    CREATE INDEX alerts_model ON alerts (name, rule, resolved_at);
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        name TEXT,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        fanned_out INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_pending ON notifications (fanned_out, created_at);
    CREATE TABLE webhook_deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        name TEXT,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status_code INTEGER,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER,
        delivered_at INTEGER
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
    CREATE INDEX webhook_deliveries_time ON webhook_deliveries (created_at);
    CREATE TABLE retrains (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        trigger TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        actor TEXT NOT NULL,
        job_id TEXT,
        dataset TEXT,
        version INTEGER,
        promoted_json TEXT NOT NULL DEFAULT '[]',
        report_json TEXT,
        request_id TEXT,
        alert_id TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        ended_at INTEGER
    );
    CREATE INDEX retrains_model ON retrains (name, created_at);
    CREATE UNIQUE INDEX retrains_one_active ON retrains (name) WHERE status IN ('running', 'shadowing');
    CREATE TABLE retrain_state (
        name TEXT PRIMARY KEY,
        paused INTEGER NOT NULL DEFAULT 0,
        consecutive_rejections INTEGER NOT NULL DEFAULT 0,
        last_started_at INTEGER,
        last_dataset TEXT,
        last_labels INTEGER,
        schedule_checked_at INTEGER
    ) WITHOUT ROWID;
    """,
    # 8 -> 9 (shadow part): shadow deployments. `shadows` says which version runs in shadow of which
    # alias (at most one active per alias: the partial unique index); `shadow_rows` keeps one row per
    # request row both sides were asked to predict: each side's output, probabilities, time and error
    # (the times on the request's first row), and whether they agree.
    """
    CREATE TABLE shadows (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        shadow_alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        champion_version INTEGER,
        started_at INTEGER NOT NULL,
        stopped_at INTEGER,
        retrain_id TEXT
    );
    CREATE UNIQUE INDEX shadows_one_active ON shadows (name, alias) WHERE stopped_at IS NULL;
    CREATE INDEX shadows_model ON shadows (name, alias, started_at);
    CREATE TABLE shadow_rows (
        shadow_id INTEGER NOT NULL,
        request_id TEXT,
        time INTEGER NOT NULL,
        champion_version INTEGER NOT NULL,
        first INTEGER NOT NULL,
        agree INTEGER,
        champion_output TEXT,
        champion_proba TEXT,
        champion_ms REAL,
        champion_error TEXT,
        shadow_output TEXT,
        shadow_proba TEXT,
        shadow_ms REAL,
        shadow_error TEXT
    );
    CREATE INDEX shadow_rows_shadow ON shadow_rows (shadow_id, champion_version, time);
    CREATE INDEX shadow_rows_request ON shadow_rows (request_id);
    CREATE INDEX shadow_rows_time ON shadow_rows (time);
    """,
    # 9 -> 10 (retrain part): a retrain fired by hand with `force` (its success un-pauses the policy), and
    # when its version started running in shadow.
    """
    ALTER TABLE retrains ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE retrains ADD COLUMN shadow_since INTEGER;
    """,
    # 10 -> 11: the MLflow-compatible API. A run's `user_id`; the datasets a run used (MLflow's
    # log-inputs: one row per (run, dataset name, digest), `context` is the `mlflow.data.context` input
    # tag); MLflow 3's logged models (a model's files under `<experiment>/models/<id>/artifacts`) and
    # the runs that output them; registered-model tags; and, per version, where an MLflow client said
    # its files are (`source`), their format (`skops`: a native pipeline; `mlflow`: an MLmodel folder,
    # kept and downloaded but never loaded by the backend) and the logged model it came from.
    """
    ALTER TABLE runs ADD COLUMN user_id TEXT;
    CREATE TABLE run_inputs (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        source_type TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        schema TEXT,
        profile TEXT,
        context TEXT,
        tags_json TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, name, digest)
    ) WITHOUT ROWID;
    CREATE INDEX run_inputs_name ON run_inputs (name, digest);
    CREATE TABLE logged_models (
        id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        source_run_id TEXT,
        model_type TEXT,
        status TEXT NOT NULL DEFAULT 'PENDING',
        status_message TEXT,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        tags_json TEXT NOT NULL DEFAULT '{}',
        params_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX logged_models_run ON logged_models (source_run_id);
    CREATE INDEX logged_models_experiment ON logged_models (experiment_id, created_at);
    CREATE TABLE run_outputs (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL REFERENCES logged_models(id) ON DELETE CASCADE,
        step INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, model_id)
    ) WITHOUT ROWID;
    ALTER TABLE models ADD COLUMN tags_json TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE model_versions ADD COLUMN source TEXT;
    ALTER TABLE model_versions ADD COLUMN model_format TEXT NOT NULL DEFAULT 'skops';
    ALTER TABLE model_versions ADD COLUMN logged_model_id TEXT;
    """,
    # 11 -> 12 (search part): every run carries MLflow's `mlflow.runName` tag, equal to its name, as runs
    # created from now on do (`store.runs.RUN_NAME_TAG`), so filters and clients see one name either way.
    """
    INSERT INTO tags (run_id, key, value) SELECT id, 'mlflow.runName', name FROM runs WHERE true
    ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value;
    """,
    # 12 -> 13 (durability part): the batches a run has stored, by the client's `Idempotency-Key`, written in
    # the batch's own transaction: a batch sent again after its answer was lost (a crash after the commit) is
    # recognised and stored once. `digest` is the request body's hash: the same key with other content is refused.
    """
    CREATE TABLE run_batches (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        digest TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    """,
    # 13 -> 14 (users and roles): bearer tokens, each with a name and a role; only the SHA-256 of a
    # token's secret is kept. A revoked token keeps its row (who held it stays in the audit trail).
    """
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        secret_sha256 TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at INTEGER
    );
    CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
    """,
]


SYNCHRONOUS = ("NORMAL", "FULL")
"""The durability levels a server may run with (`Settings.synchronous`, `MLOPS_SYNCHRONOUS`)."""


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open the database with the pragmas the backend relies on. `synchronous` NORMAL in WAL mode: a commit
    survives the process's crash (it is in the WAL file, in the OS's hands) and the file is never corrupted;
    FULL also fsyncs the WAL at every commit, so a commit survives a power loss too."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        check_schema(conn, path)  # before the first write (the switch to WAL writes the file's header)
    except BaseException:
        conn.close()
        raise
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; return that version. Each step is SQL (sqlite-utils'
    `Table.create` cannot say ON DELETE CASCADE, WITHOUT ROWID or a partial index, which these tables
    use); sqlite-utils runs a step's statements inside the one transaction, with no implicit commit."""
    utils = sqlite_utils.Database(conn, execute_plugins=False)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for index in range(version, len(MIGRATIONS)):
            utils.executescript(MIGRATIONS[index])
            conn.execute(f"PRAGMA user_version = {index + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


class NotADatabase(Exception):
    """The database file is there but is not a usable mlops database (garbage, truncated, not SQLite, or a
    schema newer than this code): the server refuses to start and leaves the file as it is."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is not a valid database ({reason}); it was left untouched: move it away, or "
                         f"restore a backup with `mlops server restore FILE`")
        self.path = path
        self.reason = reason


SQLITE_MAGIC = b"SQLite format 3\x00"


def check_file(path: Path) -> None:
    """Refuse, before SQLite opens it, a file that is not SQLite or is shorter than its header says (cut
    short). A missing or empty file is a new database. Cheap: reads 100 bytes, whatever the size."""
    try:
        with path.open("rb") as file:
            header = file.read(100)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return
    if not header:
        return
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise NotADatabase(path, "not an SQLite file")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages, counter, valid_for = (int.from_bytes(header[at:at + 4], "big") for at in (28, 24, 92))
    if counter == valid_for and size < pages * page_size:
        raise NotADatabase(path, f"truncated: {size} bytes where its header says {pages * page_size}")


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Read the schema, writing nothing: a damaged file fails here (`sqlite3.DatabaseError`); a schema newer
    than this code knows is refused."""
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise NotADatabase(path, f"schema version {version} is newer than this code's {len(MIGRATIONS)}")


class Database:
    """One connection shared by the backend, serialised by a lock.

    SQLite allows one writer at a time anyway; one connection with a lock avoids
    `database is locked` between threads of the same process, while WAL lets readers in other
    processes (benchmarks, backups) proceed.
    """

    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        self.path = path
        check_file(path)
        try:
            self.conn = connect(path, synchronous)
            self.schema_version = migrate(self.conn)
        except sqlite3.DatabaseError as error:
            raise NotADatabase(path, str(error)) from None
        self.utils = sqlite_utils.Database(self.conn, execute_plugins=False)
        """sqlite-utils on the same connection: `Table` methods for the simple tables; inside `write()`
        they join its transaction (as savepoints)."""
        self.lock = threading.RLock()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            yield self.conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A `BEGIN IMMEDIATE` transaction: all of it is stored, or none of it."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                    self.conn.execute("ROLLBACK")
                raise

    def ping(self) -> None:
        """Answer a trivial query: the file is open and readable."""
        with self.read() as conn:
            conn.execute("SELECT 1").fetchone()

    def table(self, name: str) -> sqlite_utils.db.Table:
        """A table as sqlite-utils sees it (`insert`, `update`, `get`, `rows_where`...)."""
        return self.utils.table(name)

    def close(self) -> None:
        with self.lock:
            self.conn.close()
