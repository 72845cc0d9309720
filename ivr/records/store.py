"""Where the register lives: an SQLite file (the default) or a PostgreSQL database shared by several lines.

``open_store`` takes what the settings name — a file path, or a
``postgresql://`` URL — and opens that back end. Both give the register's
modules the same two verbs, ``read`` and ``write``, each running a piece of
work on a ``Connection`` that takes the one SQL text they write (``?``
placeholders; the PostgreSQL side turns them into its own).

``where`` is what people are shown: the file, or the URL without its
password. A password never appears in a message or a log line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")

Synchronous = Literal["NORMAL", "FULL"]  # FULL: a committed write survives a power cut
URL_SCHEMES = ("postgresql", "postgres")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a piece of work gets: ``execute`` and ``executemany`` with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Cursor: ...


class Store(Protocol):
    """One back end's connection(s). ``write`` commits ``work`` as one transaction or rolls it back."""

    target: Path | str  # what it was opened with: a file path, or the URL (password and all: never show it)
    where: str  # what people are shown

    def read(self, work: Callable[[Connection], T]) -> T: ...

    def write(self, work: Callable[[Connection], T]) -> T: ...

    def close(self) -> None: ...


def is_url(target: str | os.PathLike[str]) -> bool:
    """True for a PostgreSQL URL (``postgresql://…`` or ``postgres://…``); anything else is a file path."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in URL_SCHEMES and "://" in target


def target(text: str) -> Path | str:
    """What ``--db`` or the settings name: a PostgreSQL URL stays text, anything else is a file path."""
    return text if is_url(text) else Path(text)


def check_url(url: str) -> None:
    """A ``ValueError`` a person can act on when ``url`` is not a PostgreSQL URL; the message never
    repeats the URL (it may hold a password)."""
    example = "postgresql://user@host:5432/database"
    if not is_url(url):
        raise ValueError(f"not a PostgreSQL URL: it must look like {example}")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- a port that is not a number raises here
    except ValueError:
        raise ValueError(f"the port is not a number: the URL must look like {example}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(f"no host: the URL must look like {example}")
    from psycopg import Error as PsycopgError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except PsycopgError as exc:  # what libpq could not read
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if parts.password:
            said = said.replace(parts.password, "***")
        raise ValueError(f"libpq cannot read the URL ({said}): it must look like {example}") from None


def shown(url: str) -> str:
    """``url`` without its password, for messages and logs (``postgresql://ivr:***@db/ivr``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def open_store(
    target: str | os.PathLike[str], *, create: bool = True, synchronous: Synchronous = "FULL"
) -> Store:
    """The back end ``target`` names, its schema created or brought up to date (``create=False``: only an
    existing register is opened, else ``RegisterNotFoundError``)."""
    if is_url(target):
        from ivr.records.postgres import PostgresStore

        assert isinstance(target, str)
        return PostgresStore(target, create=create, synchronous=synchronous)
    from ivr.records.sqlite import SqliteStore

    return SqliteStore(Path(target), create=create, synchronous=synchronous)


def database_errors() -> tuple[type[Exception], ...]:
    """What a read or write raises when the register fails (to log and try again, never to hide).

    PostgreSQL's are included once psycopg is loaded: before that no PostgreSQL store was opened.
    """
    import sqlite3

    from ivr.records.errors import RegisterError

    errors: tuple[type[Exception], ...] = (RegisterError, sqlite3.Error)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += (psycopg.Error,)
    return errors
