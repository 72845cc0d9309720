"""The register in one SQLite file: the embedded default (``[records] path``).

The file runs in WAL mode so ``ivr calls`` can read while the line writes.
Every write is one ``BEGIN IMMEDIATE`` transaction; with ``synchronous=FULL``
a committed write survives the process being killed and the machine losing
power. One connection, shared by threads one statement at a time. The schema
version is ``PRAGMA user_version``; an older file is upgraded in place when
it is opened.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ivr.records.errors import RegisterNotFoundError, RegisterVersionError
from ivr.records.schema import SCHEMA_VERSION, TABLES, missing, statements
from ivr.records.store import Connection, Synchronous

T = TypeVar("T")


class SqliteStore:
    def __init__(self, path: Path, *, create: bool = True, synchronous: Synchronous = "FULL") -> None:
        self.target: Path | str = path
        self.path = path
        self.where = str(path)
        if not create and not path.is_file():
            raise RegisterNotFoundError(f"no call register at {path}")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._open(synchronous)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, synchronous: str) -> None:
        conn = self._conn
        try:
            version = self._user_version()
        except sqlite3.DatabaseError as exc:
            raise RegisterVersionError(f"{self.path} is not an ivr call register ({exc})") from exc
        if version > SCHEMA_VERSION:
            raise RegisterVersionError(
                f"{self.path} was written by a newer ivr (register schema {version}; "
                f"this ivr reads up to {SCHEMA_VERSION}): upgrade ivr to read it"
            )
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        if version == SCHEMA_VERSION:
            return

        def migrate(conn: Connection) -> None:
            version = self._user_version()  # another process may have created it meanwhile
            if version == 0:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables - TABLES - {"sqlite_sequence"}:
                    raise RegisterVersionError(
                        f"{self.path} is an SQLite file but not an ivr call register "
                        f"(it has tables {', '.join(sorted(tables))})"
                    )
            for _, migration in missing(version):
                for statement in statements(migration):
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        self.write(migrate)

    def _user_version(self) -> int:
        row = self._conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    def write(self, work: Callable[[Connection], T]) -> T:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    def read(self, work: Callable[[Connection], T]) -> T:
        with self._lock:
            return work(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
