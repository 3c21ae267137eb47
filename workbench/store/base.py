"""Opening the one SQLite file: WAL, foreign keys, migrations, and errors a user can act on."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from workbench.errors import StoreError
from workbench.store.schema import FTS_COLUMNS, MIGRATIONS


def explain(path: Path, err: sqlite3.Error | OSError) -> str:
    """SQLite's terse messages, said so a user knows what to do; the file is never replaced."""
    if isinstance(err, OSError):
        return f"cannot open the workbench database {path}: {err.strerror or err}"
    text = str(err)
    if "not a database" in text or "malformed" in text:
        return f"{path} is not a workbench database ({text}); it was left untouched: pick another file with --db"
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another program ({text}); close it and try again"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only ({text}); make it writable or pick another file with --db"
    if "unable to open" in text:
        return f"cannot open {path} ({text}): is the folder writable and the path a file?"
    return f"the workbench database {path} failed: {text}"


BUSY_TIMEOUT_S = 15.0  # how long a write waits for another process's (CLI, GUI) to finish
UI_BUSY_TIMEOUT_S = 2.0  # the GUI thread's writes: waiting longer would freeze the window


def read_only_rows(db_path: Path, sql: str, params: list | None = None) -> list[dict] | None:
    """Rows of a query on `db_path` opened read-only, without creating or migrating it; None when the file or
    the table does not exist (yet) or cannot be read (the Store reports that when it opens)."""
    if not db_path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params or [])]
    except sqlite3.Error:
        return None


class Database(sqlite_utils.Database):
    """sqlite-utils with write transactions that take the write lock when they begin (BEGIN IMMEDIATE).
    A deferred transaction reads first and upgrades later; in WAL mode that upgrade fails at once ("database is
    locked") when another process wrote in between, without waiting. An immediate one waits its turn."""

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:  # nested: sqlite-utils' savepoints
            with super().atomic() as db:
                yield db
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")


class StoreBase:
    """One Store object may be shared by threads; each thread gets its own connection (opened on its
    first use), so a worker's transaction and the UI thread's reads and writes never share one. WAL
    lets them read while another writes; a writer waits up to 5 s for another's commit."""

    path: Path

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite_utils.Database] = []
        self._connections_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._migrate()
            if self.db.journal_mode != "wal":
                self.db.enable_wal()
            self._ensure_fts()
        except (sqlite3.Error, OSError) as err:
            self.close()
            raise StoreError(explain(self.path, err)) from None

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    def _connect(self) -> sqlite_utils.Database:
        # check_same_thread=False only so close() can close every thread's connection at shutdown;
        # each connection is used by the thread that opened it.
        try:
            db = Database(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False))
            db.execute("PRAGMA foreign_keys = ON")
        except (sqlite3.Error, OSError) as err:
            raise StoreError(explain(self.path, err)) from None
        with self._connections_lock:
            self._connections.append(db)
        return db

    def limit_lock_wait(self, seconds: float) -> None:
        """How long this thread's writes wait for another process's lock before failing with "locked" (the
        GUI's thread: briefly, so the window never freezes; workers and the CLI keep BUSY_TIMEOUT_S)."""
        self.db.execute(f"PRAGMA busy_timeout = {round(seconds * 1000)}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} was written by a newer workbench (schema {version}, this one knows {len(MIGRATIONS)})"
            )
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: another process may be opening the same file
            try:
                if self.schema_version < number:  # it may have migrated while this one waited
                    with self.db.atomic():
                        migration(self.db)
                    self.db.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _ensure_fts(self) -> None:
        """Full-text indexes (sqlite-utils FTS5 + triggers); made outside the migration's transaction
        because sqlite-utils builds them with executescript, which commits."""
        for table, columns in FTS_COLUMNS.items():
            if self.db[table].exists() and not self.db[table].detect_fts():
                try:
                    self.db[table].enable_fts(columns, create_triggers=True)
                except sqlite3.OperationalError as err:
                    if "already exists" not in str(err):  # another process opening the file made it first
                        raise

    def write_error(self, what: str, err: sqlite3.Error) -> StoreError:
        return StoreError(f"could not {what}: {explain(self.path, err)}")

    def close(self) -> None:
        """Close every thread's connection (at shutdown, when no worker uses the store any more)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()
