"""``ivr.toml`` as an admin writes it: the documented keys work, mistakes name the key and line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ivr.config import load_config
from ivr.errors import ConfigError

DOCUMENTED = """
[sip]
mode = "direct"              # or "register"
bind = "127.0.0.1:5070"
allow = ["127.0.0.0/8"]
rtp_ports = "20000-20999"
max_calls = 100

[line]
flow = "flows/desk.yaml"
locale = "zh-CN"

[records]
path = "var/ivr.db"
"""


def test_the_documented_settings_work_as_written(tmp_path: Path) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text(DOCUMENTED, encoding="utf-8")
    config = load_config(path)
    assert config.sip.bind_address == ("127.0.0.1", 5070)
    assert config.sip.allows("127.0.0.9") and not config.sip.allows("10.0.0.1")
    assert config.sip.rtp_range == range(20000, 21000)
    assert config.line.flow == "flows/desk.yaml"
    assert config.records.path == "var/ivr.db"
    assert config.hearing.vosk_model is None  # keys and line handling only
    assert config.line.timezone == "Asia/Shanghai"  # the handbook's desk hours are Beijing time
    assert config.sip.srtp == "offer"  # SRTP when a caller offers it, plain RTP when not


def test_the_desk_hours_are_read_in_the_desks_time_zone() -> None:
    """A server on UTC still opens the desk at 08:50 Beijing time (00:50 UTC)."""
    from datetime import UTC, datetime, timedelta

    from ivr.line.open_line import desk_time

    beijing = desk_time("Asia/Shanghai")()
    utc_now = datetime.now(UTC)
    assert abs(beijing - utc_now) < timedelta(seconds=5)  # the same moment
    local = beijing.replace(tzinfo=None) - utc_now.replace(tzinfo=None)
    assert abs(local - timedelta(hours=8)) < timedelta(seconds=5)  # read as Beijing's time of day


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[sip]\nmode = "direct"\nbnd = "127.0.0.1:5070"\n', 3, "unknown key 'sip.bnd'"),
        ('[sip]\nrtp_ports = "20999-20000"\n', 2, "sip.rtp_ports: '20999-20000' is not a port range"),
        ('[sip]\nmode = "register"\n', 1, 'mode = "register" needs server, username, password'),
        ('[sip]\nallow = ["localhost"]\n', 2, "'localhost' is not an address or network"),
        ('[lines]\nflow = "x"\n', 1, "unknown key 'lines'"),
        ("[sip]\nmax_calls = 0\n", 2, "sip.max_calls: Input should be greater than or equal to 1"),
        ('[sip\nmode = "direct"\n', 1, "TOML:"),
        ('[line]\ntimezone = "Beijing"\n', 2, "unknown time zone 'Beijing': use an IANA name"),
        ('[sip]\nmode = "direct"\nsrtp = "on"\n', 3, "sip.srtp: Input should be 'off', 'offer' or 'require'"),
        ('[line]\nnode = "node 1"\n', 2, "line.node: String should match pattern"),
    ],
)
def test_a_mistake_names_the_key_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert any(message in p.message for p in problems), [str(p) for p in problems]
    assert any(p.line == line and message in p.message for p in problems), [str(p) for p in problems]


def test_a_line_is_named_by_its_host_and_sip_port_unless_named_in_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text('[sip]\nbind = "127.0.0.1:5071"\n', encoding="utf-8")
    assert load_config(path).node == f"{socket.gethostname()}:5071"
    path.write_text('[sip]\nbind = "127.0.0.1:5071"\n[line]\nnode = "node1"\n', encoding="utf-8")
    assert load_config(path).node == "node1"


def test_a_shared_register_is_a_postgresql_url_whose_password_is_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text('[records]\nurl = "postgresql://ivr:s3cret-pw@db.example:5432/ivr"\n', encoding="utf-8")
    config = load_config(path)
    assert config.records.target(tmp_path) == "postgresql://ivr:s3cret-pw@db.example:5432/ivr"
    assert "s3cret-pw" not in repr(config) and "s3cret-pw" not in str(config.records)
    plain = tmp_path / "plain.toml"
    plain.write_text('[records]\npath = "var/calls.db"\n', encoding="utf-8")
    assert load_config(plain).records.target(tmp_path) == tmp_path / "var" / "calls.db"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            '[line]\nflow = "f.yaml"\n[records]\npath = "var/ivr.db"\nurl = "postgresql://ivr:s3cret-pw@db/ivr"\n',
            3,
            "records: give either path (an SQLite file) or url (a PostgreSQL database), not both",
        ),
        ('[records]\nurl = "mysql://ivr:s3cret-pw@db/ivr"\n', 2, "records.url: not a PostgreSQL URL"),
        (
            '[records]\nurl = "postgresql://ivr:s3cret-pw@db:54x2/ivr"\n',
            2,
            "records.url: the port is not a number",
        ),
        ('[records]\nurl = "postgresql://ivr:s3cret-pw@db/ivr?sslmod=require"\n', 2, "records.url: libpq"),
        ('[records]\nurl = "postgresql://ivr:s3cret-pw@/ivr"\n', 2, "records.url: no host"),
    ],
)
def test_a_register_setting_mistake_names_the_line_and_never_the_password(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "ivr.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    shown = [str(p) for p in caught.value.problems]
    assert any(p.line == line and message in p.message for p in caught.value.problems), shown
    assert "s3cret-pw" not in str(caught.value) and "s3cret-pw" not in repr(caught.value)
