"""Recognition off the media tick: a few worker threads, bounded queues, results drained each tick.

The media tick owns a ``RecognitionWorkers`` and, per listening call, a
``RecognitionSession``. Each tick it hands the caller's frame to
``session.feed`` (never blocks: a full queue drops the frame and counts it),
says ``end_of_speech`` when the line goes quiet, and drains results with
``poll`` or ``drain``. A slow recognizer therefore delays only its results,
never the audio.

Ownership and bounds:

- the owner calls ``start`` and ``close`` (or uses ``with``); ``close`` puts a
  stop at the head of every queue and joins every thread; workers block on
  their queues, nothing polls or sleeps;
- a call is bound to one worker when opened (the least busy), so its frames
  are decoded in order; each worker has a frame bound (``queue_frames``);
  controls (end of speech, new grammar, close) are never dropped but coalesce,
  so they stay bounded by the frames between them;
- each call keeps at most ``results_per_call`` results; a newer partial
  replaces an undrained one, and past the bound the oldest results are
  dropped and counted.

A recognizer that raises becomes one ``Failed`` result for its call (logged
without words); the worker carries on with its other calls, and the failed
call hears nothing more until its next ``listen``. Results are caller data:
nothing here logs them.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

from ivr.hearing.recognizer import Failed, Final, Partial, RecognitionResult, Recognizer
from ivr.hearing.speech_model import SpeechModel
from ivr.media import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_QUEUE_FRAMES = 1000  # per worker: 20 s of one call's audio, 320 kB
DEFAULT_RESULTS_PER_CALL = 64


class StreamingRecognizer(Protocol):
    def feed(self, pcm: bytes) -> Partial | None: ...

    def finish(self) -> Final: ...


RecognizerFactory = Callable[[SpeechModel, Sequence[str] | None], StreamingRecognizer]


def _vosk_recognizer(model: SpeechModel, grammar: Sequence[str] | None) -> StreamingRecognizer:
    return Recognizer(model, SAMPLE_RATE, grammar)


_Kind = Literal["listen", "frame", "end", "close", "stop"]


@dataclass(slots=True)
class _Item:
    kind: _Kind
    session: RecognitionSession | None = None
    frame: bytes = b""
    grammar: tuple[str, ...] | None = None


class _Inbox:
    """One worker's queue: frames up to a bound, controls always, a stop first."""

    def __init__(self, frame_limit: int) -> None:
        self._items: deque[_Item] = deque()
        self._frames = 0
        self._frame_limit = frame_limit
        self._unfinished = 0
        self._cond = threading.Condition()

    def offer_frame(self, item: _Item) -> bool:
        with self._cond:
            if self._frames >= self._frame_limit:
                return False
            self._frames += 1
            self._append(item)
            return True

    def push(self, item: _Item) -> None:
        with self._cond:
            last = self._items[-1] if self._items else None
            if last is not None and last.session is item.session and last.kind == item.kind:
                if item.kind == "end":
                    return  # nothing heard since the last end of speech
                if item.kind == "listen":
                    last.grammar = item.grammar  # the newer listening step wins
                    return
            self._append(item)

    def stop(self) -> None:
        with self._cond:
            self._unfinished -= len(self._items)
            self._items.clear()
            self._frames = 0
            self._items.appendleft(_Item("stop"))
            self._unfinished += 1
            self._cond.notify_all()

    def take(self) -> _Item:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.popleft()
            if item.kind == "frame":
                self._frames -= 1
            return item

    def done(self) -> None:
        with self._cond:
            self._unfinished -= 1
            if self._unfinished == 0:
                self._cond.notify_all()

    def settle(self) -> None:
        with self._cond:
            while self._unfinished > 0:
                self._cond.wait()

    def _append(self, item: _Item) -> None:
        self._items.append(item)
        self._unfinished += 1
        self._cond.notify_all()


class RecognitionSession:
    """One call's recognition; its methods are for the media tick and never block on decoding."""

    def __init__(self, owner: RecognitionWorkers, call_id: str, inbox: _Inbox, results_limit: int) -> None:
        self.call_id = call_id
        self._owner = owner
        self._inbox = inbox
        self._results: deque[RecognitionResult] = deque()
        self._results_limit = results_limit
        self._lock = threading.Lock()
        self._closed = False
        self.dropped_frames = 0  # frames refused because the worker was behind
        self.dropped_results = 0  # results lost because nobody drained them
        self._recognizer: StreamingRecognizer | None = None  # the worker's alone

    @property
    def closed(self) -> bool:
        return self._closed

    def feed(self, frame: bytes) -> bool:
        """Queue one frame of the caller's audio; False when dropped (worker behind, or closed)."""
        if self._closed:
            return False
        if self._inbox.offer_frame(_Item("frame", self, frame)):
            return True
        self.dropped_frames += 1
        return False

    def end_of_speech(self) -> None:
        """The caller stopped talking: a ``Final`` for what they said follows."""
        if not self._closed:
            self._inbox.push(_Item("end", self))

    def listen(self, grammar: Sequence[str] | None) -> None:
        """Start a new listening step: these phrases (None: anything); an unfinished utterance is dropped."""
        if not self._closed:
            self._inbox.push(_Item("listen", self, grammar=None if grammar is None else tuple(grammar)))

    def poll(self) -> list[RecognitionResult]:
        """Results that came back since the last poll, oldest first."""
        with self._lock:
            out = list(self._results)
            self._results.clear()
        return out

    def close(self) -> None:
        """Stop recognising this call; undrained results are discarded."""
        if self._closed:
            return
        self._closed = True
        self._inbox.push(_Item("close", self))
        self._owner._forget(self)

    def _deliver(self, result: RecognitionResult) -> None:
        with self._lock:
            if isinstance(result, Partial) and self._results and isinstance(self._results[-1], Partial):
                self._results[-1] = result
                return
            self._results.append(result)
            while len(self._results) > self._results_limit:
                self._results.popleft()
                self.dropped_results += 1


class RecognitionWorkers:
    """The owner of the recognition threads; one per process, shared by all calls."""

    def __init__(
        self,
        model: SpeechModel,
        workers: int = 2,
        queue_frames: int = DEFAULT_QUEUE_FRAMES,
        results_per_call: int = DEFAULT_RESULTS_PER_CALL,
        recognizer_factory: RecognizerFactory = _vosk_recognizer,
    ) -> None:
        if workers < 1 or queue_frames < 1 or results_per_call < 1:
            raise ValueError("workers, queue_frames and results_per_call must be at least 1")
        self.model = model
        self._factory = recognizer_factory
        self._inboxes = [_Inbox(queue_frames) for _ in range(workers)]
        self._load = [0] * workers  # open sessions per worker
        self._results_limit = results_per_call
        self._threads: list[threading.Thread] = []
        self._sessions: dict[str, RecognitionSession] = {}
        self._lock = threading.Lock()
        self._closed_dropped = 0
        self._state: Literal["new", "running", "closed"] = "new"

    def start(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"recognition workers are {self._state}; they start once")
        self._state = "running"
        for i, inbox in enumerate(self._inboxes):
            thread = threading.Thread(target=self._serve, args=(inbox,), name=f"ivr-recognition-{i}")
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop and join every worker (pending audio is discarded); closing twice is harmless."""
        if self._state == "closed":
            return
        self._state = "closed"
        for inbox in self._inboxes:
            inbox.stop()
        for thread in self._threads:
            thread.join()
        with self._lock:
            for session in self._sessions.values():
                session._closed = True
                self._closed_dropped += session.dropped_frames
            self._sessions.clear()

    def __enter__(self) -> RecognitionWorkers:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self, call_id: str, grammar: Sequence[str] | None = None) -> RecognitionSession:
        """Start recognising ``call_id``, listening for ``grammar`` (None: anything)."""
        if self._state != "running":
            raise RuntimeError(f"recognition workers are {self._state}, not running")
        with self._lock:
            if call_id in self._sessions:
                raise ValueError(f"call {call_id} already has a recognition session")
            index = min(range(len(self._inboxes)), key=self._load.__getitem__)
            self._load[index] += 1
            session = RecognitionSession(self, call_id, self._inboxes[index], self._results_limit)
            self._sessions[call_id] = session
        session.listen(grammar)
        return session

    def poll(self, call_id: str) -> list[RecognitionResult]:
        """``call_id``'s results since its last poll ([] for a call with no open session)."""
        with self._lock:
            session = self._sessions.get(call_id)
        return [] if session is None else session.poll()

    def drain(self) -> list[tuple[str, RecognitionResult]]:
        """Every open call's results since the last drain, each call's in order."""
        with self._lock:
            sessions = list(self._sessions.values())
        return [(s.call_id, r) for s in sessions for r in s.poll()]

    def settle(self) -> None:
        """Block until every queued frame and control is decoded (simulated calls and tests, never the live tick)."""
        for inbox in self._inboxes:
            inbox.settle()

    @property
    def dropped_frames(self) -> int:
        """Frames refused since start, over all calls, closed ones included."""
        with self._lock:
            return self._closed_dropped + sum(s.dropped_frames for s in self._sessions.values())

    def _forget(self, session: RecognitionSession) -> None:
        with self._lock:
            if self._sessions.get(session.call_id) is session:
                del self._sessions[session.call_id]
                self._load[self._inboxes.index(session._inbox)] -= 1
                self._closed_dropped += session.dropped_frames

    def _serve(self, inbox: _Inbox) -> None:
        while True:
            item = inbox.take()
            try:
                if item.kind == "stop":
                    return
                assert item.session is not None
                self._handle(item.kind, item.session, item)
            finally:
                inbox.done()

    def _handle(self, kind: _Kind, session: RecognitionSession, item: _Item) -> None:
        if kind == "close":
            session._recognizer = None
            return
        if session.closed:
            return
        try:
            if kind == "listen":
                session._recognizer = None
                session._recognizer = self._factory(self.model, item.grammar)
            elif session._recognizer is None:
                return  # failed earlier: silent until the next listening step
            elif kind == "frame":
                partial = session._recognizer.feed(item.frame)
                if partial is not None:
                    session._deliver(partial)
            elif kind == "end":
                session._deliver(session._recognizer.finish())
        except Exception as exc:
            session._recognizer = None
            # a recognizer cannot be made: the message names flow words, not caller data; while
            # decoding only the kind of failure is logged, the details (which may hold words) at debug
            reason = f"{type(exc).__name__}: {exc}" if kind == "listen" else type(exc).__name__
            log.warning(
                "speech recognition failed for call %s (%s); it falls back to keys", session.call_id, reason
            )
            log.debug("recognition failure for call %s", session.call_id, exc_info=True)
            session._deliver(Failed(reason))
