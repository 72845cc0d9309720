"""The register in PostgreSQL as an admin meets it: the first line to start creates the tables, a second
starting at the same moment waits and finds them; a wrong database or password is a clear refusal that
never shows the password."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import psycopg
import pytest

from ivr.call.events import CallRecord
from ivr.records import (
    SCHEMA_VERSION,
    CallRegister,
    RegisterError,
    RegisterNotFoundError,
    RegisterVersionError,
)
from ivr.records.schema import TABLES
from tests.postgres_cluster import PASSWORD, PostgresCluster

MakeRecord = Callable[..., CallRecord]


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
    return {str(r[0]) for r in rows}


def test_two_lines_starting_at_once_create_the_schema_once(
    postgres_cluster: PostgresCluster, make_record: MakeRecord
) -> None:
    with postgres_cluster.database() as url:
        opened: list[CallRegister] = []
        failed: list[BaseException] = []
        start = threading.Barrier(4)

        def open_one() -> None:
            start.wait()
            try:
                opened.append(CallRegister(url))
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        try:
            assert failed == [] and len(opened) == 4
            opened[0].save(make_record("from-line-a"))
            assert [c.call_id for c in opened[3].list_calls()] == ["from-line-a"]
        finally:
            for reg in opened:
                reg.close()
        assert _tables(url) == TABLES | {"ivr_schema"}
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM ivr_schema").fetchall() == [(SCHEMA_VERSION,)]


def test_a_reader_never_creates_tables_in_an_empty_database(postgres_cluster: PostgresCluster) -> None:
    with postgres_cluster.database() as url:
        with pytest.raises(
            RegisterNotFoundError, match=re.escape("no call register at postgresql://ivr:***@127")
        ):
            CallRegister(url, create=False)
        assert _tables(url) == set()


def test_a_register_from_a_newer_ivr_or_another_programs_database_is_refused(
    postgres_cluster: PostgresCluster,
) -> None:
    with postgres_cluster.database() as url:
        CallRegister(url).close()
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE ivr_schema SET version = %s", (SCHEMA_VERSION + 1,))
        with pytest.raises(RegisterVersionError, match="newer ivr"):
            CallRegister(url)
    with postgres_cluster.database() as url:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER)")
        with pytest.raises(RegisterVersionError, match=r"not an ivr call register .*invoices"):
            CallRegister(url)
        assert _tables(url) == {"invoices"}


def test_a_wrong_password_or_no_server_is_a_clear_error_without_the_password(
    postgres_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = postgres_cluster.url("ivr", password="wrong-pw-5512")
    with pytest.raises(RegisterError, match="password authentication failed") as caught:
        CallRegister(wrong)
    assert "wrong-pw-5512" not in str(caught.value)
    assert f"postgresql://ivr:***@127.0.0.1:{postgres_cluster.port}/ivr" in str(caught.value)
    gone = f"postgresql://ivr:{PASSWORD}@127.0.0.1:1/ivr"
    with pytest.raises(
        RegisterError,
        match=re.escape("cannot open the call register at postgresql://ivr:***@127.0.0.1:1/ivr"),
    ):
        CallRegister(gone)
    assert "wrong-pw-5512" not in caplog.text and PASSWORD not in caplog.text


def test_an_older_register_is_upgraded_in_place_and_keeps_its_calls(
    postgres_cluster: PostgresCluster, make_record: MakeRecord
) -> None:
    with postgres_cluster.database() as url:
        with CallRegister(url) as reg:
            reg.save(make_record("before-the-upgrade"))
        with psycopg.connect(url) as conn:  # as schema 3 left it: no index of calls by their end, no lines
            conn.execute("DROP INDEX calls_by_end")
            conn.execute("ALTER TABLE calls DROP COLUMN node")
            conn.execute("ALTER TABLE live_calls DROP COLUMN node")
            conn.execute("DROP TABLE line_beats")
            conn.execute("DROP TABLE line_status")
            conn.execute(
                "CREATE TABLE line_status (key TEXT PRIMARY KEY, value REAL NOT NULL, at TEXT NOT NULL)"
            )
            conn.execute("UPDATE ivr_schema SET version = 3")
        with CallRegister(url) as reg:
            assert reg.get("before-the-upgrade") == make_record("before-the-upgrade")
            assert reg.list_calls()[0].node is None  # taken before lines had names
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM ivr_schema").fetchall() == [(SCHEMA_VERSION,)]
            found = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname IN ('calls_by_end', 'live_calls_by_node') "
                "ORDER BY indexname"
            ).fetchall()
            assert found == [("calls_by_end",), ("live_calls_by_node",)]
