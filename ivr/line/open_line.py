"""The open line: a configured desk line and everything it owns (register writer, queue log,
live board, recognition workers, seat floor, reloads, the recent-callers feed), started and stopped in
the right order.

``ivr serve`` opens one and waits on it; tests open one on loopback.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4
from zoneinfo import ZoneInfo

from ivr.call.events import CallRecord
from ivr.config import IvrConfig
from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.hearing.caller_speech import SpeechInput
    from ivr.hearing.recognition_workers import RecognitionWorkers
    from ivr.hearing.step_grammar import StepGrammars
    from ivr.line.call_tickets import Done, TicketRequest, WriteTicket
    from ivr.line.cross_line import CrossLine
    from ivr.line.desk_line import SeatParts
    from ivr.line.seat_floor import SeatFloor
    from ivr.seats.board import BreakAlert
    from ivr.seats.directory import Seat

log = logging.getLogger(__name__)


SWITCH_INTERVAL_S = 0.001


def desk_time(timezone: str) -> Callable[[], datetime]:
    """Now at the desk: the flow's hours rules read its time of day; the register stores it as UTC."""
    zone = ZoneInfo(timezone)
    return lambda: datetime.now(zone)


class OpenLine:
    """A configured line and the things it owns, stopped in the right order."""

    def __init__(
        self,
        config: IvrConfig,
        root: Path,
        wall_clock: Callable[[], datetime] | None = None,
        hours_clock: Callable[[], datetime] | None = None,
        speech: Callable[[str | None], SpeechInput] | None = None,
    ) -> None:
        from ivr.flows.checks import check
        from ivr.hearing.line_classifier import LineClassifier
        from ivr.line.console_feed import ReloadWatch, live_feed
        from ivr.line.desk_line import DeskLine, LineParts
        from ivr.line.line_beat import LineBeat
        from ivr.line.recent_feed import RecentCallersFeed
        from ivr.prompts.audio_store import PromptAudio
        from ivr.prompts.catalog import catalog_path
        from ivr.prompts.player import PromptPlayer
        from ivr.records.live_calls import LiveCallBoard
        from ivr.records.recent_callers import RecentCallers
        from ivr.records.register import CallRegister
        from ivr.records.writer import RegisterWriter

        if wall_clock is None:
            wall_clock = desk_time(config.line.timezone)
        flow_path = root / config.line.flow
        files = [flow_path] + ([root / config.line.seats] if config.line.seats else [])
        checked = check(files, root, find_seats=False)  # the seats are config.line.seats, or none
        if checked.problems:  # a broken flow never reaches a caller
            raise IvrError("the flow has problems:\n" + "\n".join(str(p) for p in checked.problems))
        flow = checked.flows[0].flow
        store = PromptAudio.open(root, config.line.locale)
        store.preload()
        self._catalog_stamp = _stamp(catalog_path(root, config.line.locale))
        self.recognition: RecognitionWorkers | None = None
        self.grammars: StepGrammars | None = None
        if speech is None and config.hearing.vosk_model:
            from ivr.hearing.recognition_workers import RecognitionWorkers
            from ivr.hearing.speech_model import load_speech_model
            from ivr.hearing.step_grammar import StepGrammars

            model = load_speech_model(root / config.hearing.vosk_model)  # a missing model stops start-up here
            self.recognition = RecognitionWorkers(model)
            self.grammars = StepGrammars(flow, model)
            speech = self._vosk_speech

        self.register = CallRegister(config.records.target(root))
        self.node = config.node  # the line's name among lines sharing the register
        self.writer = RegisterWriter(self.register, node=self.node)
        self.root, self.config = root, config
        self.beat = LineBeat(CallRegister(self.register.path, synchronous="NORMAL"), self.node, wall_clock)
        self.live_board = LiveCallBoard(
            CallRegister(self.register.path, synchronous="NORMAL"),  # live rows need not outlive a power cut
            wall_clock,
            node=self.node,
            status=self._line_figures,
        )
        self._ask_breaks: Callable[[SeatFloor], object] | None = None  # set by _seat_parts
        self.cross_line: CrossLine | None = None  # set by _seat_parts for a register shared with other lines
        self.reloads = ReloadWatch(CallRegister(self.register.path), self.reload, breaks=self._breaks_now)
        self.recent = RecentCallers(now=wall_clock)  # the clock the register's times are read by
        self.recent.seed(self.register)
        self.recent_feed = RecentCallersFeed(self.register, self.recent)  # calls other lines sharing it ended
        self.records: list[CallRecord] = []

        def record(call: CallRecord) -> None:
            self.recent.ended(call)
            self.records.append(call)
            self.writer.submit(call)

        from ivr.records.queue_figures import QueueLog

        # queue rows, seat states and callback tickets: one worker, off the media tick
        self.queue_log = QueueLog(CallRegister(self.register.path))
        seats = (
            self._seat_parts(root / config.line.seats, store.catalog.voice, wall_clock)
            if config.line.seats
            else None
        )
        parts = LineParts(
            flow,
            PromptPlayer(store),
            LineClassifier,
            record,
            self.recent.seconds_since_last_call,
            self.recent.dropped_path,
            wall_clock=wall_clock,
            hours_clock=hours_clock,
            speech=speech,
            seats=seats,
            tickets=self._ticket_writer(wall_clock),
            progress=live_feed(self.live_board),
        )
        self.line = DeskLine(config.sip, parts)
        self._stopped = False

    def _breaks_now(self) -> None:
        """A seat paused or resumed on its console page: read the board's breaks now, not at the next look."""
        floor = self.line.floor
        if self._ask_breaks is not None and floor is not None:
            self._ask_breaks(floor)

    def _line_figures(self) -> dict[str, float]:
        """What ``/metrics`` shows of the running line: queue depth and its error counters (no caller data).

        Read on the live board's worker after each of its writes; plain counters, read as they stand.
        """
        line = self.line
        stats = line.stats
        return {
            "register_queue_depth": float(self.writer.pending),
            "sip_handler_errors_total": float(line.transport.handler_errors),
            "sip_malformed_total": float(stats.malformed),
            "calls_failed_total": float(stats.failed),
            "media_late_ticks_total": float(line.clock.stats.late_ticks),
            "rtp_lost_total": float(stats.rtp_lost),
            "rtp_late_total": float(stats.rtp_late),
        }

    def _ticket_writer(self, wall_clock: Callable[[], datetime]) -> WriteTicket:
        """Callback tickets through the queue log's worker: committed, then the call is told."""
        from ivr.call.inputs import TicketWritten
        from ivr.records.callbacks import CallbackSource, CallbackTicket

        queue_log = self.queue_log

        def write(request: TicketRequest, done: Done) -> None:
            def work() -> None:
                ticket = CallbackTicket(
                    request.call_id,
                    request.number,
                    CallbackSource(request.source),
                    wall_clock(),
                    request.reason,
                )
                try:
                    queue_log.callbacks.add(ticket)
                except Exception as exc:
                    done(TicketWritten(False, f"writing the ticket failed: {type(exc).__name__}"))
                    raise  # the worker logs it and counts it; close() reports it
                done(TicketWritten(True))

            if not queue_log.submit(f"callback ticket of call {request.call_id[:8]}", work):
                done(TicketWritten(False, "the records queue is full"))

        return write

    def _seat_parts(self, path: Path, voice: str, wall_clock: Callable[[], datetime]) -> SeatParts:
        """The seats file, the queue in the order the board kept (longest idle, breaks), records off the tick."""
        from ivr.line.console_feed import queue_feed
        from ivr.line.desk_line import SeatParts
        from ivr.prompts.voice_worker import VoiceWorker, espeak_render
        from ivr.records.store import is_url
        from ivr.seats.board import SeatBoard
        from ivr.seats.break_alarm import LongBreakAlarm
        from ivr.seats.directory import load_seats
        from ivr.seats.queue import QueueAction, SeatQueue
        from ivr.seats.reporting import QueueReporter
        from ivr.seats.whisper import WHISPER_WORDS_PER_MINUTE

        seats = load_seats(path)
        board = SeatBoard(seats, self.register)
        queue = SeatQueue(
            seats.seats,
            idle_order=board.idle_order(),
            on_break=board.breaks(),
            recent_handle_s=self.register_figures_recent(),
        )
        queue_log = self.queue_log
        worker_board = SeatBoard(seats, queue_log.register)
        reporter = QueueReporter(queue_log, worker_board, wall_clock)

        alarm = LongBreakAlarm(worker_board, _tell_shift_leaders)

        def ask_breaks(floor: SeatFloor) -> None:
            def work() -> None:
                floor.set_breaks(worker_board.breaks())
                alarm.check(wall_clock())

            queue_log.submit("seat breaks", work)

        self._ask_breaks = ask_breaks

        live = queue_feed(self.live_board)
        if is_url(str(self.register.path)):  # lines sharing a PostgreSQL register share the seats: one queue
            from ivr.line.cross_line import CrossLine
            from ivr.records.register import CallRegister

            self.cross_line = CrossLine(CallRegister(self.register.path), wall_clock, node=self.node)

        def on_action(action: QueueAction) -> None:
            reporter.take(action)
            live(action)

        return SeatParts(
            list(seats.seats),
            queue,
            VoiceWorker(espeak_render(voice, WHISPER_WORDS_PER_MINUTE)),
            on_action,
            ask_breaks,
            self.cross_line,
        )

    def register_figures_recent(self) -> dict[str, list[float]]:
        from ivr.records.queue_figures import QueueFigures

        return QueueFigures(self.register).recent_talk_times()

    def reload(self, why: str) -> None:
        """Read the flow and the prompts again; new calls take them, calls in progress finish on theirs.

        A flow with problems never replaces a working one: the problems are logged and the line goes on.
        """
        from ivr.flows.checks import check
        from ivr.prompts.audio_store import PromptAudio
        from ivr.prompts.catalog import catalog_path
        from ivr.prompts.player import PromptPlayer

        root, config = self.root, self.config
        files = [root / config.line.flow] + ([root / config.line.seats] if config.line.seats else [])
        checked = check(files, root)
        if checked.problems or not checked.flows:
            raise IvrError("the flow has problems:\n" + "\n".join(str(p) for p in checked.problems))
        prompts = self.line.parts.prompts
        stamp = _stamp(catalog_path(root, config.line.locale))
        if stamp != self._catalog_stamp:  # the words changed: their audio is read again
            store = PromptAudio.open(root, config.line.locale)
            store.preload()
            prompts, self._catalog_stamp = PromptPlayer(store), stamp
        self.line.take_flow(checked.flows[0].flow, prompts)
        log.warning("reloaded %s (%s): new calls take it", config.line.flow, why)

    def _vosk_speech(self, caller: str | None) -> SpeechInput:
        from ivr.hearing.caller_speech import VoskSpeech

        assert self.recognition is not None and self.grammars is not None
        return VoskSpeech(self.recognition.open(uuid4().hex), self.grammars)

    @property
    def failure(self) -> str | None:
        """Why the line stopped taking calls (its media clock or SIP reader died), or None."""
        return self.line.failure

    def on_failure(self, callback: Callable[[], object]) -> None:
        """``callback`` runs (on the dying thread) when the line's media clock or SIP reader dies."""
        self.line.on_failure = callback

    def start(self) -> None:
        # The media clock's thread must get the interpreter within a millisecond of each tick,
        # not after the default 5 ms a busy thread (SIP, recognition, the writer) may hold it.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        freeze_start_up_heap()
        self.writer.start()
        self.beat.start()  # alive before its calls in progress are written: no other line clears them
        self.live_board.start()
        self.reloads.start()
        self.recent_feed.start()
        self.queue_log.start()
        if self.cross_line is not None:
            self.cross_line.start()
        if self.recognition is not None:
            self.recognition.start()
        self.line.start()

    def stop(self, grace: float) -> None:
        """Drain and close the line, then its workers; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.line.drain(grace)
            self.line.close()
        finally:
            if self.recognition is not None:
                self.recognition.close()
            self.reloads.close()
            self.recent_feed.close()
            try:
                if self.cross_line is not None:
                    self.cross_line.close()  # after the line: its seats' legs are over
            finally:
                self.queue_log.close()
            try:
                self.live_board.close()
            finally:
                try:
                    self.beat.close()
                finally:
                    self.writer.close()


def freeze_start_up_heap() -> None:
    """What start-up loaded (flows, prompt audio, the recogniser's model, pydantic's schemas: some
    250,000 objects) lives as long as the line: collected once here, then frozen (``gc.freeze``), so
    no full collection walks it again. Such a walk holds the interpreter for 130 ms on a small
    machine, and the media clock with it: every caller would hear a gap (``bench/gc_pause.py``).
    Collection itself stays on: a call's own garbage is young and collected in microseconds."""
    gc.collect()
    gc.freeze()


def _stamp(path: Path) -> tuple[int, int]:
    """When the file last changed and its size: a reload reads the prompts again only when these differ."""
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def _tell_shift_leaders(alert: BreakAlert, leaders: Sequence[Seat]) -> None:
    """A break past 30 minutes (handbook line 397): an alert in the line's log, naming who must know."""
    who = ", ".join(s.id for s in leaders) or "none in the seats file"
    log.warning(
        "ALERT: seat %s has been on a break for %d min (%s); tell the shift leader (%s)",
        alert.seat_id,
        alert.minutes,
        alert.reason or "no reason given",
        who,
    )


def open_line(config: IvrConfig, root: Path) -> OpenLine:
    return OpenLine(config, root)
