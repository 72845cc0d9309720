"""A full garbage collection must not stop every caller's audio.

A full collection holds the interpreter, and the media clock with it, for as long
as it walks the old generation: some 130 ms for what a line loads at start-up
(flows, prompts, schemas) on a small machine, heard as a gap by every caller
(``bench/gc_pause.py`` measures the gap with the heap frozen and without). The
started line has frozen that heap: a collection during calls walks none of it.
"""

from __future__ import annotations

import gc

from tests.telephony.conftest import LineMaker


def test_a_full_collection_during_calls_walks_nothing_start_up_loaded(open_line: LineMaker) -> None:
    line = open_line()
    start_up = [line.line.parts.flow, line.line.parts.prompts, line.line, line.config]
    gc.collect()  # what the interpreter does by itself once the old generation has grown by a quarter
    walked = {id(o) for o in gc.get_objects()}  # every object a full collection walks
    assert not [type(o).__name__ for o in start_up if id(o) in walked]
    assert gc.get_freeze_count() > 10_000, "start-up's objects are frozen"
