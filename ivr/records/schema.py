"""The register's tables, written once for both back ends, as numbered migrations.

Each migration brings the schema from the version before it to its own; a
new register gets them all in order, an older one the ones it lacks. The
text is SQLite's; ``ivr.records.postgres`` turns the few words that differ
into PostgreSQL's (``postgres_ddl``). SQLite keeps the version in
``PRAGMA user_version``, PostgreSQL in the ``ivr_schema`` table.

- 1: finished calls and their events;
- 2: the queue: callback tickets, queue figures, the seat board;
- 3: what the line shares with the console: calls in progress, console users
  and sessions, reload requests, the line's own figures, callback work;
- 4: calls by the time they ended (the recent-callers look across lines);
- 5: several lines on one register: each line's heartbeat (``line_beats``),
  the line (node) that took each call and holds each call in progress, the
  line's own figures per line;
- 6: one queue across lines: the seats a line has claimed (rung, talking,
  wrapping up), the callers waiting on each line.
"""

from __future__ import annotations

_CALLS = """
CREATE TABLE IF NOT EXISTS calls (
    call_id        TEXT PRIMARY KEY,
    flow           TEXT NOT NULL,
    caller         TEXT,
    started_at     TEXT NOT NULL,
    answered_at    TEXT,
    ended_at       TEXT,
    answered_frame INTEGER,
    ended_frame    INTEGER,
    duration_s     REAL NOT NULL,
    outcome        TEXT,
    path           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started_at);
CREATE INDEX IF NOT EXISTS calls_by_outcome ON calls (outcome, started_at);
CREATE TABLE IF NOT EXISTS events (
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    frame   INTEGER NOT NULL,
    seconds REAL NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
"""

_QUEUE = """
CREATE TABLE IF NOT EXISTS callbacks (
    call_id    TEXT PRIMARY KEY,
    number     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reason     TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    done_at    TEXT
);
CREATE INDEX IF NOT EXISTS callbacks_open ON callbacks (done, created_at);
CREATE TABLE IF NOT EXISTS queue_waits (
    call_id  TEXT NOT NULL,
    at       TEXT NOT NULL,
    skill    TEXT NOT NULL,
    waited_s REAL NOT NULL,
    outcome  TEXT NOT NULL,
    seat_id  TEXT
);
CREATE INDEX IF NOT EXISTS queue_waits_by_time ON queue_waits (at);
CREATE TABLE IF NOT EXISTS seat_rings (
    seat_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    result  TEXT NOT NULL,
    rang_s  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seat_rings_by_time ON seat_rings (at);
CREATE TABLE IF NOT EXISTS seat_talks (
    seat_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    skill   TEXT NOT NULL,
    talk_s  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seat_talks_by_time ON seat_talks (at);
CREATE TABLE IF NOT EXISTS seat_board (
    seat_id     TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    since       TEXT,
    call_id     TEXT,
    reason      TEXT,
    break_since TEXT,
    idle_since  TEXT
);
"""

_SHARED_WITH_CONSOLE = """
CREATE TABLE IF NOT EXISTS live_calls (
    call_id       TEXT PRIMARY KEY,
    caller        TEXT,
    flow          TEXT NOT NULL,
    state         TEXT NOT NULL,
    step          TEXT,
    seat_id       TEXT,
    intent        TEXT,
    heard         TEXT,
    path          TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    waiting_since TEXT,
    updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    seat_id       TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY,
    name       TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_failed_sign_ins (
    name TEXT NOT NULL,
    at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_failed_sign_ins_by_name ON console_failed_sign_ins (name, at);
CREATE TABLE IF NOT EXISTS reload_requests (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    "by"     TEXT NOT NULL,
    what     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS line_status (
    key   TEXT PRIMARY KEY,
    value REAL NOT NULL,
    at    TEXT NOT NULL
);
ALTER TABLE callbacks ADD COLUMN seat_id TEXT;
ALTER TABLE callbacks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callbacks ADD COLUMN last_result TEXT
"""

_CALLS_BY_END = """
CREATE INDEX IF NOT EXISTS calls_by_end ON calls (ended_at)
"""

# line_status held only figures of a running line, so it is made anew keyed by line.
_SEVERAL_LINES = """
CREATE TABLE IF NOT EXISTS line_beats (
    node    TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);
ALTER TABLE calls ADD COLUMN node TEXT;
ALTER TABLE live_calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS live_calls_by_node ON live_calls (node);
DROP TABLE line_status;
CREATE TABLE line_status (
    node  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value REAL NOT NULL,
    at    TEXT NOT NULL,
    PRIMARY KEY (node, key)
)
"""

# one queue across lines (seat claims); line_beats came with migration 5
_ONE_QUEUE = """
CREATE TABLE IF NOT EXISTS seat_claims (
    seat_id    TEXT PRIMARY KEY,
    node       TEXT NOT NULL,
    call_id    TEXT NOT NULL,
    claimed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS waiting_callers (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id   TEXT NOT NULL UNIQUE,
    node      TEXT NOT NULL,
    skill     TEXT NOT NULL,
    joined_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS waiting_callers_by_skill ON waiting_callers (skill, seq)
"""

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, _CALLS),
    (2, _QUEUE),
    (3, _SHARED_WITH_CONSOLE),
    (4, _CALLS_BY_END),
    (5, _SEVERAL_LINES),
    (6, _ONE_QUEUE),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

TABLES = frozenset(
    {
        "calls",
        "events",
        "callbacks",
        "queue_waits",
        "seat_rings",
        "seat_talks",
        "seat_board",
        "live_calls",
        "console_users",
        "console_sessions",
        "console_failed_sign_ins",
        "reload_requests",
        "line_status",
        "line_beats",
        "seat_claims",
        "waiting_callers",
    }
)


def statements(migration: str) -> list[str]:
    """The statements of one migration, in order (the text has no semicolons inside statements)."""
    return [s.strip() for s in migration.split(";") if s.strip()]


def missing(version: int) -> list[tuple[int, str]]:
    """The migrations a register at ``version`` lacks, oldest first."""
    return [(n, text) for n, text in MIGRATIONS if n > version]
