"""Run sipp scenarios from ``tests/telephony/sipp/`` as child processes on 127.0.0.1.

Usage::

    result = run_sipp("uac_options", target=registrar.address)
    assert result.ok, result.report()

    with start_sipp("uac_call_hold_bye", target=registrar.address, user="ivr",
                    calls=20, rate=5, limit=10, pause_ms=2000) as load:
        ...                                  # do things while the calls run
        result = load.wait()

Every scenario takes its request URI and caller from generic keys (``-key``):
``ruri`` (default ``sip:<user>@host:port``, or ``sip:host:port`` without a
user), ``from_user`` (default ``sipp``) and, for REGISTER, ``expires``. Digest
credentials go to ``-au``/``-ap``. ``pause_ms`` is sipp's ``-d``: the length of
every ``<pause/>`` without its own duration (call hold time, ring time before
CANCEL).

Each run gets a private directory with the statistics CSV (``-trace_stat``),
the unexpected-message log (``-trace_err``), the message trace
(``-trace_msg``) and the final screen (``-trace_screen``); :class:`SippResult`
carries the counters and log tails. sipp is bounded twice: ``-timeout``
with ``-timeout_error`` inside, and a wait of ``timeout_s + 10`` s outside,
after which it is killed.
"""

from __future__ import annotations

import contextlib
import csv
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypedDict, Unpack

from tests.telephony.harness.ports import (
    LOOPBACK,
    PortRange,
    allocate_rtp_range,
    free_udp_port,
    release_rtp_range,
)

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
SIPP_BINARY = "sipp"

# sipp's documented exit codes
EXIT_ALL_CALLS_OK = 0
EXIT_SOME_CALLS_FAILED = 1
EXIT_INTERNAL_COMMAND = 97
EXIT_NO_CALLS_PROCESSED = 99
EXIT_FATAL = 255  # -1
EXIT_FATAL_BIND = 254  # -2


class SippError(RuntimeError):
    """sipp could not be started or did not finish."""


def sipp_available() -> bool:
    return shutil.which(SIPP_BINARY) is not None


def scenario_path(scenario: str | Path) -> Path:
    """``"uac_options"`` → ``tests/telephony/sipp/uac_options.xml``; a path is taken as is."""
    if isinstance(scenario, Path):
        path = scenario
    else:
        path = SCENARIOS / (scenario if scenario.endswith(".xml") else f"{scenario}.xml")
    if not path.is_file():
        raise FileNotFoundError(f"no sipp scenario {path}")
    return path


# scenarios that must go on after an unexpected message (see the scenario's comment)
CONTINUE_ON_UNEXPECTED = frozenset({"uac_invite_retransmit"})


def _default_behaviors(scenario: Path) -> str:
    """sipp's -default_behaviors for a scenario.

    No BYE/CANCEL on abort when the scenario sends no INVITE (an OPTIONS or
    REGISTER "call" has no dialog); no abort on unexpected messages where the
    scenario needs it.
    """
    text = scenario.read_text(encoding="utf-8", errors="replace")
    behaviors = ["all"]
    if not any(line.strip().startswith("INVITE ") for line in text.splitlines()):
        behaviors.append("-bye")
    if scenario.stem in CONTINUE_ON_UNEXPECTED:
        behaviors.append("-abortunexp")
    return ",".join(behaviors)


def parse_sipp_duration_ms(text: str) -> float | None:
    """sipp's ``HH:MM:SS:micro`` (statistics CSV) in milliseconds."""
    parts = text.strip().split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return None
    hours, minutes, seconds, micros = (int(p) for p in parts)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000.0 + micros / 1000.0


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class SippOptions(TypedDict, total=False):
    """Options of one sipp run (all optional)."""

    user: str  # the user part of the default request URI (sip:user@host:port)
    ruri: str  # the request URI, overriding ``user``
    from_user: str  # caller / registering user (default "sipp")
    auth_user: str  # digest user name (-au), default from_user
    password: str  # digest password (-ap)
    expires: int  # REGISTER Expires (default 60)
    calls: int  # -m: stop after this many calls (default 1)
    rate: float  # -r: calls per second (default 10)
    limit: int  # -l: most simultaneous calls
    pause_ms: int  # -d: length of every <pause/> (default 0)
    timeout_s: float  # -timeout with -timeout_error (default 30)
    recv_timeout_ms: int  # -recv_timeout: a call waiting longer for a message fails
    local_port: int  # -p (default: a free port)
    keys: Mapping[str, str]  # more -key values for custom scenarios
    extra_args: Sequence[str]  # more sipp arguments, before the target
    trace_messages: bool  # -trace_msg (default True)


@dataclass(frozen=True, slots=True)
class SippResult:
    """What one sipp run did: exit code, call counters, response times and log tails."""

    scenario: str
    command: tuple[str, ...]
    exit_code: int
    killed: bool
    successful_calls: int
    failed_calls: int
    created_calls: int
    retransmissions: int
    unexpected_messages: int
    recv_timeouts: int
    response_time_ms: float | None  # mean of response time 1 (the first rtd="true" recv)
    response_time_stdev_ms: float | None
    call_length_ms: float | None  # mean
    response_time_histogram: Mapping[str, int]  # "<10" → calls, ">=2000" → calls (ms)
    stats: Mapping[str, str] = field(repr=False)  # last row of the statistics CSV
    errors: str = field(repr=False)  # tail of the unexpected-message log
    messages: str = field(repr=False)  # tail of the message trace
    output: str = field(repr=False)  # tail of sipp's stdout/stderr

    @property
    def ok(self) -> bool:
        """Every call succeeded and at least one was made."""
        return self.exit_code == EXIT_ALL_CALLS_OK and self.failed_calls == 0 and self.successful_calls > 0

    def responses_heard(self) -> list[tuple[int, str]]:
        """(status, CSeq method) of every response sipp received, in order, from the trace."""
        heard = []
        for block in self.messages.split("UDP message received")[1:]:
            status = re.search(r"^SIP/2\.0 (\d{3}) ", block, re.MULTILINE)
            cseq = re.search(r"^CSeq:\s*\d+\s+(\S+)", block, re.MULTILINE | re.IGNORECASE)
            if status and cseq:
                heard.append((int(status.group(1)), cseq.group(1).upper()))
        return heard

    def report(self) -> str:
        """A multi-line summary for assertion messages."""
        return (
            f"sipp {self.scenario}: exit {self.exit_code}{' (killed)' if self.killed else ''}, "
            f"{self.successful_calls} ok / {self.failed_calls} failed / {self.created_calls} created, "
            f"{self.retransmissions} retransmissions, {self.unexpected_messages} unexpected, "
            f"{self.recv_timeouts} receive timeouts\n"
            f"command: {' '.join(self.command)}\n"
            f"--- errors ---\n{self.errors}\n--- output ---\n{self.output}\n--- messages ---\n{self.messages}"
        )


def _int(stats: Mapping[str, str], key: str) -> int:
    value = stats.get(key, "").strip()
    return int(value) if value.lstrip("-").isdigit() else 0


def _read_stats(path: Path) -> dict[str, str]:
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = [row for row in csv.reader(handle, delimiter=";") if row]
    except FileNotFoundError:
        return {}
    if len(rows) < 2:
        return {}
    return {name: value for name, value in zip(rows[0], rows[-1], strict=False) if name}


class SippProcess:
    """A running sipp; :meth:`wait` collects its :class:`SippResult`, :meth:`stop` ends it early."""

    def __init__(self, scenario: str | Path, target: tuple[str, int], **options: Unpack[SippOptions]) -> None:
        user = options.get("user")
        ruri = options.get("ruri")
        from_user = options.get("from_user", "sipp")
        auth_user = options.get("auth_user")
        password = options.get("password")
        calls = options.get("calls", 1)
        rate = options.get("rate", 10.0)
        limit = options.get("limit")
        recv_timeout_ms = options.get("recv_timeout_ms")
        timeout_s = options.get("timeout_s", 30.0)
        local_port = options.get("local_port")
        if calls < 1:
            raise ValueError(f"calls must be at least 1, got {calls}")
        self.scenario = scenario_path(scenario)
        self.target = target
        self.timeout_s = timeout_s
        self.local_port = local_port if local_port is not None else free_udp_port()
        self.directory = Path(tempfile.mkdtemp(prefix=f"ivr-sipp-{self.scenario.stem}-"))
        self._media: PortRange | None = allocate_rtp_range(4)
        host, port = target
        if ruri is None:
            ruri = f"sip:{user}@{host}:{port}" if user else f"sip:{host}:{port}"
        all_keys = {
            "ruri": ruri,
            "from_user": from_user,
            "expires": str(options.get("expires", 60)),
            **options.get("keys", {}),
        }
        command = [
            SIPP_BINARY,
            "-sf",
            str(self.scenario),
            "-i",
            LOOPBACK,
            "-p",
            str(self.local_port),
            "-mi",
            LOOPBACK,
            "-mp",
            str(self._media.low),
            "-m",
            str(calls),
            "-r",
            f"{rate:g}",
            "-rp",
            "1000",
            "-d",
            str(options.get("pause_ms", 0)),
            "-timeout",
            f"{timeout_s:g}s",
            "-timeout_error",
            "-nostdin",
            "-trace_stat",
            "-stf",
            str(self.directory / "stat.csv"),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(self.directory / "errors.log"),
            "-trace_screen",
            "-screen_file",
            str(self.directory / "screen.log"),
        ]
        if limit is not None:
            command += ["-l", str(limit)]
        command += ["-default_behaviors", _default_behaviors(self.scenario)]
        if recv_timeout_ms is not None:
            command += ["-recv_timeout", str(recv_timeout_ms)]
        if options.get("trace_messages", True):
            command += ["-trace_msg", "-message_file", str(self.directory / "messages.log")]
        if auth_user is not None or password is not None:
            command += ["-au", auth_user or from_user, "-ap", password or ""]
        for name, value in all_keys.items():
            command += ["-key", name, value]
        command += [*options.get("extra_args", ()), f"{host}:{port}"]
        self.command = tuple(command)
        self._output = self.directory / "output.log"
        self._result: SippResult | None = None
        with open(self._output, "wb") as out:
            try:
                self._process: subprocess.Popen[bytes] = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    start_new_session=True,
                )
            except OSError as error:
                self._cleanup()
                raise SippError(f"cannot run {SIPP_BINARY}: {error}") from error

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait (at most ``timeout``, default the run's ``timeout_s`` + 10 s) and collect the result.

        sipp that overstays is sent SIGINT (it then writes its statistics), then SIGKILL.
        """
        if self._result is not None:
            return self._result
        limit = self.timeout_s + 10.0 if timeout is None else timeout
        killed = False
        try:
            self._process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            killed = True
            self._end()
        return self._collect(killed)

    def stop(self) -> SippResult:
        """End the run now (SIGINT, then SIGKILL after 5 s) and collect what it did."""
        if self._result is not None:
            return self._result
        killed = self.running()
        self._end()
        return self._collect(killed)

    def _end(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.wait(timeout=5.0)

    def _collect(self, killed: bool) -> SippResult:
        stats = _read_stats(self.directory / "stat.csv")
        histogram = {
            name.removeprefix("ResponseTimeRepartition1_"): int(value)
            for name, value in stats.items()
            if name.startswith("ResponseTimeRepartition1_") and value.strip().isdigit()
        }
        code = self._process.returncode
        self._result = SippResult(
            scenario=self.scenario.stem,
            command=self.command,
            exit_code=code if code is not None else -1,
            killed=killed,
            successful_calls=_int(stats, "SuccessfulCall(C)"),
            failed_calls=_int(stats, "FailedCall(C)"),
            created_calls=_int(stats, "TotalCallCreated"),
            retransmissions=_int(stats, "Retransmissions(C)"),
            unexpected_messages=_int(stats, "FailedUnexpectedMessage(C)"),
            recv_timeouts=_int(stats, "FailedTimeoutOnRecv(C)"),
            response_time_ms=parse_sipp_duration_ms(stats.get("ResponseTime1(C)", "")),
            response_time_stdev_ms=parse_sipp_duration_ms(stats.get("ResponseTime1StDev(C)", "")),
            call_length_ms=parse_sipp_duration_ms(stats.get("CallLength(C)", "")),
            response_time_histogram=histogram,
            stats=stats,
            errors=_tail(self.directory / "errors.log", 60),
            messages=_tail(self.directory / "messages.log", 400),
            output=_tail(self._output, 30),
        )
        self._cleanup()
        return self._result

    def _cleanup(self) -> None:
        if self._media is not None:
            release_rtp_range(self._media)
            self._media = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SippProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._result is None:
            self.stop()


def start_sipp(scenario: str | Path, target: tuple[str, int], **options: Unpack[SippOptions]) -> SippProcess:
    """Start sipp in the background (use it as a context manager so it is always stopped)."""
    return SippProcess(scenario, target, **options)


def run_sipp(scenario: str | Path, target: tuple[str, int], **options: Unpack[SippOptions]) -> SippResult:
    """Run sipp to the end (bounded) and return what it did."""
    with SippProcess(scenario, target, **options) as process:
        return process.wait()
