"""A real, throwaway PostgreSQL cluster for tests (and benchmarks): initdb into a temporary folder, a
server on 127.0.0.1 and a free port (its unix socket in that folder), an empty register per test.

Debian's ``postgresql`` package puts the server in ``/usr/lib/postgresql/<version>/bin``. initdb
refuses to run as root, so as root the server runs as the ``postgres`` system user (``runuser``),
owning the folder. Loopback connections need a password (scram): tests connect as ``ivr`` with
``PASSWORD``, as a line would; the unix socket trusts ``postgres``, which creates and drops the
databases. The register's tests share one database, emptied before each test
(``empty_register``); a test of a first opening gets a database of its own (``database``).
``PostgresCluster.running()`` stops the server and removes the folder however the
block ends.

``fast=True`` (tests) turns fsync off; benchmarks leave the server's durability as shipped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.telephony.harness import ports

USER = "ivr"
PASSWORD = "not-the-real-pw-7Q"  # tests check that it never shows in a message
REGISTER = "ivr"  # the database the register's tests share, emptied before each test


def server_bin() -> Path:
    """The newest installed server's bin folder; a clear error when PostgreSQL is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server in /usr/lib/postgresql/*/bin: install the Debian package "
            "`postgresql` (see .ci/run)"
        )
    return found[-1].parent


def free_port() -> int:
    """A TCP port for the server, outside the ephemeral range (see ``harness.ports.free_port``)."""
    return ports.free_port()


class PostgresCluster:
    def __init__(self, folder: Path, port: int, *, fast: bool) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = port
        self.fast = fast
        self.bin = server_bin()
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)

    # -- running the server ---------------------------------------------------

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        password_file = self.folder / "pw"
        password_file.write_text(PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        )
        settings = [
            "listen_addresses=127.0.0.1",
            f"port={self.port}",
            f"unix_socket_directories={self.folder}",
            "max_connections=200",
        ]
        if self.fast:
            settings += ["fsync=off", "full_page_writes=off"]
        options = " ".join(f"-c {s}" for s in settings)
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )
        with self._admin() as conn:
            conn.execute(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
            conn.execute(f"CREATE DATABASE {REGISTER} OWNER {USER}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @classmethod
    @contextlib.contextmanager
    def running(cls, *, fast: bool = True) -> Iterator[PostgresCluster]:
        folder = Path(tempfile.mkdtemp(prefix="ivr-pg-"))
        cluster = cls(folder, free_port(), fast=fast)
        try:
            cluster.start()
            yield cluster
        finally:
            try:
                cluster.stop()
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    # -- databases ------------------------------------------------------------

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """The superuser over the unix socket, autocommit (CREATE/DROP DATABASE)."""
        return psycopg.connect(
            host=str(self.folder), port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def url(self, database: str, *, password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def prepare_register(self) -> None:
        """Give the shared database the register's schema, once."""
        from ivr.records.register import CallRegister

        CallRegister(self.url(REGISTER)).close()

    def empty_register(self) -> str:
        """The shared register's URL, every table emptied (faster than a database per test: 60 ms, not 400).

        A lock still held by a connection a test left open is an error after 5 s, not a hang.
        """
        from ivr.records.schema import TABLES

        with psycopg.connect(self.url(REGISTER), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            conn.execute(f"TRUNCATE {', '.join(sorted(TABLES))} RESTART IDENTITY")
        return self.url(REGISTER)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database (no schema: for what a register does on first opening), dropped afterwards."""
        name = f"t{next(self._names)}"
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {USER} TEMPLATE template0")
        try:
            yield self.url(name)
        finally:
            with self._admin() as conn:
                conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
