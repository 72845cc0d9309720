"""Callback tickets: taken when nobody could answer, listed for admins until called back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.records.callbacks import CallbackBook, CallbackSource, CallbackTicket
from ivr.records.register import CallRegister

NINE = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def ticket(call_id: str, minutes: int, number: str = "13800138000", **kw: object) -> CallbackTicket:
    fields: dict[str, object] = {"source": CallbackSource.CALLER_ID, "reason": "max_wait", **kw}
    return CallbackTicket(call_id, number, created_at=NINE + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


@pytest.fixture
def db(store: Path | str) -> Path | str:
    path = store
    with CallRegister(path) as reg:
        book = CallbackBook(reg)
        book.add(
            ticket("cb-200", 20, number="02166668888", source=CallbackSource.KEYED, reason="after_hours")
        )
        book.add(ticket("cb-100", 10))
        book.add(ticket("cb-300", 30))
    return path


def test_open_tickets_come_oldest_first_and_read_back_as_written(db: Path | str) -> None:
    with CallRegister(db) as reg:
        book = CallbackBook(reg)
        tickets = book.tickets()
        assert [t.call_id for t in tickets] == ["cb-100", "cb-200", "cb-300"]
        assert tickets[1] == ticket(
            "cb-200", 20, number="02166668888", source=CallbackSource.KEYED, reason="after_hours"
        )
        assert book.get("cb-missing") is None


def test_a_ticket_called_back_is_closed_by_id_or_unique_prefix(db: Path | str) -> None:
    with CallRegister(db) as reg:
        book = CallbackBook(reg)
        assert book.mark_done("cb-2", NINE + timedelta(hours=1))
        assert not book.mark_done("cb-", NINE)  # ambiguous
        assert not book.mark_done("cb-200", NINE)  # already done
        assert [t.call_id for t in book.tickets()] == ["cb-100", "cb-300"]
        done = book.get("cb-200")
        assert done is not None and done.done and done.done_at == NINE + timedelta(hours=1)
        assert len(book.tickets(open_only=False)) == 3
        with pytest.raises(ValueError, match="needs a number"):
            book.add(ticket("cb-400", 40, number=""))


def test_ivr_calls_callbacks_lists_the_open_tickets(
    db: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "callbacks", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.index("cb-100") < out.index("cb-200") < out.index("cb-300")
    row = next(line for line in out.splitlines() if "cb-200" in line)
    assert (
        "02166668888" in row and "keyed in" in row and "after_hours" in row and "2024-05-06 09:20:00" in row
    )


def test_ivr_calls_callbacks_done_closes_a_ticket(db: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "callbacks", "--db", str(db), "--done", "cb-100"]) == 0
    assert "marked done" in capsys.readouterr().out
    assert main(["calls", "callbacks", "--db", str(db)]) == 0
    assert "cb-100" not in capsys.readouterr().out
    assert main(["calls", "callbacks", "--db", str(db), "--all"]) == 0
    assert "cb-100" in capsys.readouterr().out
    assert main(["calls", "callbacks", "--db", str(db), "--done", "nope"]) == 1
    assert "no open callback ticket 'nope'" in capsys.readouterr().err


def test_no_tickets_says_so(store: Path | str, capsys: pytest.CaptureFixture[str]) -> None:
    path = store
    CallRegister(path).close()
    assert main(["calls", "callbacks", "--db", str(path)]) == 0
    assert "no open callback tickets" in capsys.readouterr().out
