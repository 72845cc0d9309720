"""The handbook's line behaviour (lines 104–111, 147), exact to the 20 ms frame, in media time."""

from __future__ import annotations

from ivr.call.events import EventKind, Outcome
from ivr.flows.loader import FlowFile
from ivr.media import frames_in

from .conftest import Call, heard, prompts

TEN_S = frames_in(10)


def test_silent_caller_hears_nudge_after_exactly_ten_seconds_then_goodbye(desk: FlowFile, call: Call) -> None:
    sim = call(desk, [{"silent": "60s"}])
    assert prompts(sim) == ["greeting", "silent.nudge", "desk.silent.goodbye"]
    _, greeting_end = heard(sim, "greeting")
    nudge_start, nudge_end = heard(sim, "silent.nudge")
    goodbye_start, goodbye_end = heard(sim, "desk.silent.goodbye")
    assert nudge_start - greeting_end == TEN_S
    assert goodbye_start - nudge_end == TEN_S
    # the bot hangs up after letting the caller go first (goodbye_wait, line 35)
    hangup = sim.heard[-1]
    assert hangup.hangup == "bot"
    assert hangup.start - goodbye_end == frames_in(desk.flow.line.goodbye_wait)
    assert sim.record.outcome is Outcome.SILENT_HANGUP


def test_caller_who_speaks_after_the_nudge_is_served(desk: FlowFile, call: Call) -> None:
    sim = call(
        desk, [{"waits_for": "silent.nudge"}, {"says": "我找人"}, {"silent": "3s"}, {"hangs_up": True}]
    )
    assert prompts(sim)[:3] == ["greeting", "silent.nudge", "desk.find_person"]
    assert "desk.silent.goodbye" not in prompts(sim)


def test_noisy_line_is_asked_to_repeat_then_let_go_after_ten_more_seconds(desk: FlowFile, call: Call) -> None:
    sim = call(desk, [{"waits_for": "greeting"}, {"noise": {"for": "60s", "level": -15}}])
    assert prompts(sim) == ["greeting", "noisy.repeat", "desk.noisy.goodbye"]
    _, repeat_end = heard(sim, "noisy.repeat")
    goodbye_start, _ = heard(sim, "desk.noisy.goodbye")
    assert goodbye_start - repeat_end == TEN_S
    assert sim.heard[-1].hangup == "bot"
    assert sim.record.outcome is Outcome.NOISY_HANGUP


def test_noise_that_clears_within_ten_seconds_lets_the_call_go_on(desk: FlowFile, call: Call) -> None:
    sim = call(
        desk,
        [
            {"waits_for": "greeting"},
            {"noise": {"for": "5s", "level": -15, "kind": "pink"}},
            {"waits_for": "noisy.repeat"},
            {"noise": {"for": "4s", "level": -15, "kind": "pink"}},
            {"silent": "1s"},
            {"says": "我找人"},
            {"silent": "2s"},
            {"hangs_up": True},
        ],
    )
    assert "desk.noisy.goodbye" not in prompts(sim)
    assert prompts(sim)[:3] == ["greeting", "noisy.repeat", "desk.find_person"]


def test_too_quiet_caller_is_asked_to_adjust_the_handset_then_served(desk: FlowFile, call: Call) -> None:
    sim = call(
        desk,
        [
            {"waits_for": "greeting"},
            {"says": {"text": "您好我想找一下王经理", "level": -45}},
            {"waits_for": "quiet.adjust"},
            {"says": {"text": "我找人", "level": -20}},
            {"silent": "2s"},
            {"hangs_up": True},
        ],
    )
    assert prompts(sim)[:3] == ["greeting", "quiet.adjust", "desk.find_person"]


def test_caller_speaking_clearly_triggers_no_line_script(desk: FlowFile, call: Call) -> None:
    sim = call(
        desk,
        [
            {"waits_for": "greeting"},
            {"silent": "1s"},
            {"says": "您好我想找一下王经理"},
            {"silent": "2s"},
            {"hangs_up": True},
        ],
    )
    assert not {"silent.nudge", "noisy.repeat", "quiet.adjust"} & set(prompts(sim))
    assert "desk.find_person" in prompts(sim)


def test_caller_still_on_the_line_is_asked_twice_then_bot_waits_to_hang_up(
    desk: FlowFile, call: Call
) -> None:
    sim = call(desk, [{"waits_for": "greeting"}, {"says": "谢谢"}, {"silent": "60s"}])
    assert prompts(sim) == [
        "greeting",
        "thanks.reply",
        "polite.anything_else",
        "polite.anything_else",
        "goodbye",
    ]
    _, first_end = heard(sim, "polite.anything_else", 0)
    second_start, second_end = heard(sim, "polite.anything_else", 1)
    goodbye_start, goodbye_end = heard(sim, "goodbye")
    assert second_start - first_end == frames_in(4)
    assert goodbye_start - second_end == frames_in(4)
    assert sim.heard[-1].hangup == "bot"
    assert sim.heard[-1].start - goodbye_end == frames_in(3)
    assert sim.record.outcome is Outcome.SERVED


def test_caller_who_hangs_up_after_the_goodbye_hangs_up_first(desk: FlowFile, call: Call) -> None:
    sim = call(
        desk,
        [
            {"waits_for": "greeting"},
            {"says": "谢谢"},
            {"waits_for": "goodbye"},
            {"silent": "1s"},
            {"hangs_up": True},
        ],
    )
    assert sim.heard[-1].hangup == "caller"
    assert sim.record.outcome is Outcome.SERVED


def test_barge_in_stops_the_prompt_within_300_ms(desk: FlowFile, call: Call) -> None:
    sim = call(desk, [{"silent": "1s"}, {"says": "我找人"}, {"silent": "2s"}, {"hangs_up": True}])
    greeting = next(h for h in sim.heard if h.prompt == "greeting")
    assert greeting.interrupted
    speech_onset = frames_in(1.0)  # the caller starts talking 1 s into the greeting
    assert greeting.end - speech_onset <= frames_in(0.3)
    assert any(e.kind is EventKind.INTENT and e.detail["intent"] == "find_person" for e in sim.record.events)


def test_speech_that_cannot_be_made_out_on_a_noisy_line_runs_the_noise_script(
    desk: FlowFile, call: Call
) -> None:
    sim = call(
        desk,
        [
            {"waits_for": "greeting"},
            {"noise": {"for": "2s", "level": -15}},
            {"says": {"text": "我找一下", "confidence": 0.1}},
            {"waits_for": "noisy.repeat"},
            {"hangs_up": True},
        ],
    )
    assert prompts(sim) == ["greeting", "noisy.repeat"]
    assert "mandarin.please" not in prompts(sim)
