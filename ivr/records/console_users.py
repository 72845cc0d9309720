"""Who may use the console: users with a role (and an agent's seat), their sessions, failed sign-ins.

Passwords are kept only as argon2 hashes. A session is a random token given
to the browser in a cookie; the register keeps its SHA-256, the user's name,
the form token (CSRF) that every form of the session must send back, and when
it expires. Five wrong passwords for a name within a minute lock the name for
a minute (``locked_until``). Times are passed in; nothing here reads the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.records.register import CallRegister, iso, parse_time
from ivr.records.store import Connection

ConsoleRole = Literal["agent", "shift_leader", "admin"]
ROLES: tuple[str, ...] = get_args(ConsoleRole)
SESSION_LENGTH = timedelta(hours=12)
LOCK_AFTER = 5  # wrong passwords …
LOCK_WINDOW = timedelta(minutes=1)  # … within this long lock the name …
LOCK_FOR = timedelta(minutes=1)  # … for this long

_hasher = PasswordHasher()
_NOBODY = _hasher.hash("no such user")


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str
    role: ConsoleRole
    seat_id: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    user: ConsoleUser
    csrf: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _role(value: object) -> ConsoleRole:
    if value == "agent":
        return "agent"
    if value == "shift_leader":
        return "shift_leader"
    if value == "admin":
        return "admin"
    raise ValueError(f"unknown console role {value!r}")


class ConsoleUsers:
    """Console users, sessions and failed sign-ins in a register file."""

    def __init__(self, register: CallRegister) -> None:
        self.register = register

    def add(self, user: ConsoleUser, password: str, at: datetime) -> None:
        """Add ``user`` (or replace their role, seat and password)."""
        if not user.name.strip():
            raise ValueError("a console user needs a name")
        if len(password) < 8:
            raise ValueError("the password must be at least 8 characters")
        if user.role == "agent" and not user.seat_id:
            raise ValueError("an agent needs a seat (--seat ID)")
        row = (user.name, user.role, user.seat_id, _hasher.hash(password), iso(at))

        def work(conn: Connection) -> None:
            conn.execute(
                "DELETE FROM console_sessions WHERE name = ?", (user.name,)
            )  # a new password: sign in again
            conn.execute(
                "INSERT INTO console_users (name, role, seat_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET role = excluded.role, seat_id = excluded.seat_id, "
                "password_hash = excluded.password_hash, created_at = excluded.created_at",
                row,
            )

        self.register.write(work)

    def get(self, name: str) -> ConsoleUser | None:
        row = self.register.read(
            lambda conn: conn.execute(
                "SELECT name, role, seat_id FROM console_users WHERE name = ?", (name,)
            ).fetchone()
        )
        return None if row is None else ConsoleUser(str(row[0]), _role(row[1]), row[2])

    def users(self) -> list[ConsoleUser]:
        rows = self.register.read(
            lambda conn: conn.execute(
                "SELECT name, role, seat_id FROM console_users ORDER BY name"
            ).fetchall()
        )
        return [ConsoleUser(str(r[0]), _role(r[1]), r[2]) for r in rows]

    # -- signing in -----------------------------------------------------------

    def locked_until(self, name: str, now: datetime) -> datetime | None:
        """When the name may try again, if it is locked now (5 wrong passwords within a minute)."""
        since = iso(now - LOCK_WINDOW - LOCK_FOR)

        def work(conn: Connection) -> list[tuple[str]]:
            return list(
                conn.execute(
                    "SELECT at FROM console_failed_sign_ins WHERE name = ? AND at >= ? ORDER BY at",
                    (name, since),
                ).fetchall()
            )

        times = [t for (text,) in self.register.read(work) if (t := parse_time(text)) is not None]
        for n in range(len(times) - LOCK_AFTER + 1):
            first, last = times[n], times[n + LOCK_AFTER - 1]
            if last - first <= LOCK_WINDOW and now < last + LOCK_FOR:
                return last + LOCK_FOR
        return None

    def check_password(self, name: str, password: str, now: datetime) -> ConsoleUser | None:
        """The user if the password is right (and the name not locked); a wrong one is counted."""
        if self.locked_until(name, now) is not None:
            return None
        row = self.register.read(
            lambda conn: conn.execute(
                "SELECT name, role, seat_id, password_hash FROM console_users WHERE name = ?", (name,)
            ).fetchone()
        )
        try:  # an unknown name costs the same hashing as a known one: no telling them apart by time
            _hasher.verify(_NOBODY if row is None else str(row[3]), password)
        except (VerificationError, InvalidHashError):
            pass  # a wrong password: counted below
        else:
            if row is not None:
                return ConsoleUser(str(row[0]), _role(row[1]), row[2])
        self.register.write(
            lambda conn: conn.execute(
                "INSERT INTO console_failed_sign_ins (name, at) VALUES (?, ?)", (name, iso(now))
            )
        )
        return None

    # -- sessions -------------------------------------------------------------

    def open_session(self, user: ConsoleUser, now: datetime) -> tuple[str, Session]:
        """A new session for ``user``: the token for the cookie, and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), now + SESSION_LENGTH)
        row = (_digest(token), user.name, session.csrf, iso(now), iso(session.expires_at))

        def work(conn: Connection) -> None:
            conn.execute("DELETE FROM console_sessions WHERE expires_at < ?", (iso(now),))
            conn.execute(
                "INSERT INTO console_sessions (token_hash, name, csrf, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )

        self.register.write(work)
        return token, session

    def session(self, token: str, now: datetime) -> Session | None:
        """The live session the cookie's token names, or None."""
        row = self.register.read(
            lambda conn: conn.execute(
                "SELECT u.name, u.role, u.seat_id, s.csrf, s.expires_at FROM console_sessions s "
                "JOIN console_users u ON u.name = s.name WHERE s.token_hash = ?",
                (_digest(token),),
            ).fetchone()
        )
        if row is None:
            return None
        expires = parse_time(str(row[4]))
        if expires is None or expires <= now:
            return None
        return Session(ConsoleUser(str(row[0]), _role(row[1]), row[2]), str(row[3]), expires)

    def close_session(self, token: str) -> None:
        self.register.write(
            lambda conn: conn.execute("DELETE FROM console_sessions WHERE token_hash = ?", (_digest(token),))
        )
