"""The call register: every finished call and its events, in an SQLite file or a PostgreSQL database.

``CallRegister`` reads and writes it (``ivr.records.store`` opens the back end); ``RegisterWriter`` owns the one
worker thread that writes finished calls off the media path.
"""

from __future__ import annotations

from ivr.records.errors import (
    AmbiguousCallIdError,
    RegisterError,
    RegisterNotFoundError,
    RegisterVersionError,
    RegisterWriteError,
)
from ivr.records.register import SCHEMA_VERSION, CallRegister, CallSummary, answered_at, ended_at
from ivr.records.writer import RegisterWriter

__all__ = [
    "SCHEMA_VERSION",
    "AmbiguousCallIdError",
    "CallRegister",
    "CallSummary",
    "RegisterError",
    "RegisterNotFoundError",
    "RegisterVersionError",
    "RegisterWriteError",
    "RegisterWriter",
    "answered_at",
    "ended_at",
]
