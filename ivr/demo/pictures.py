"""What a demo call leaves behind: a WAV of both sides and a PNG timeline."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ivr.call.events import CallRecord, EventKind, Outcome
from ivr.media import SAMPLE_RATE, seconds_of

STATE_COLOURS = {"silence": "#dddddd", "speech": "#4caf50", "noise": "#e53935", "quiet": "#ffb300"}


def write_stereo_wav(path: Path, caller: list[bytes], bot: list[bytes]) -> None:
    """Left: what the caller sent; right: what the caller heard from the bot."""
    n = max(len(caller), len(bot))
    left = np.frombuffer(b"".join(caller).ljust(n * 320, b"\0"), "<i2")
    right = np.frombuffer(b"".join(bot).ljust(n * 320, b"\0"), "<i2")
    both = np.empty(left.size * 2, dtype="<i2")
    both[0::2], both[1::2] = left, right
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(both.tobytes())


def draw_timeline(path: Path, title: str, record: CallRecord, caller: list[bytes], bot: list[bytes]) -> None:
    """Line state, prompts and events over the call, above both sides' waveforms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    end = max(seconds_of(record.ended_frame or 0), len(caller) * 0.02, 1.0)
    fig, (ax_events, ax_wave) = plt.subplots(
        2, 1, figsize=(12, 4.8), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]}
    )
    # put through to a seat: from then on the caller talks with a person, not the bot
    handed = [
        e.seconds
        for e in record.events
        if e.kind is EventKind.TRANSFER and e.detail.get("answered") is not False
    ]
    bridged_from = handed[-1] if handed and record.outcome is Outcome.TRANSFERRED else None
    left = [e.seconds for e in record.events if e.kind is EventKind.SEAT and e.detail.get("state") == "left"]
    bridged_until = left[-1] if left else end  # the seat left: the bot says goodbye after it
    heard_until = end if bridged_from is None else bridged_from
    # the line as the bot heard it
    state, since = "silence", 0.0
    for e in [*record.events, None]:
        if e is None or e.kind is EventKind.LINE:
            t = heard_until if e is None else e.seconds
            ax_events.barh(2, t - since, left=since, height=0.6, color=STATE_COLOURS.get(state, "#999"))
            if e is not None:
                state, since = str(e.detail["state"]), t
    # prompts the bot said
    started: dict[str, float] = {}
    for e in record.events:
        if e.kind is EventKind.PROMPT_STARTED:
            started[str(e.detail["prompt"])] = e.seconds
        elif e.kind in (EventKind.PROMPT_FINISHED, EventKind.PROMPT_INTERRUPTED):
            prompt = str(e.detail["prompt"])
            t0 = started.pop(prompt, e.seconds)
            cut = e.kind is EventKind.PROMPT_INTERRUPTED
            ax_events.barh(1, e.seconds - t0, left=t0, height=0.6, color="#1e88e5", alpha=0.5 if cut else 0.9)
            ax_events.text(
                t0 + 0.1, 1, prompt + (" ✂" if cut else ""), va="center", fontsize=7, color="white"
            )
    for e in record.events:
        if e.kind in (
            EventKind.DTMF,
            EventKind.INTENT,
            EventKind.HANGUP,
            EventKind.TRANSFER,
            EventKind.CALLBACK,
        ):
            label = {EventKind.DTMF: "key", EventKind.HANGUP: f"hang-up ({e.detail.get('by')})"}.get(
                e.kind, e.kind.value
            )
            if e.kind is EventKind.INTENT:
                label = f"intent {e.detail['intent']}"
            ax_events.plot([e.seconds], [0], marker="v", color="black")
            ax_events.text(e.seconds, -0.35, label, fontsize=7, ha="center", va="top")
    ax_events.set_yticks([0, 1, 2], ["events", "bot says", "line"])
    ax_events.set_ylim(-0.9, 2.6)
    ax_events.set_title(title)
    handles = [Patch(color=c) for c in STATE_COLOURS.values()]
    ax_events.legend(handles, list(STATE_COLOURS), loc="upper right", fontsize=7, ncol=4)
    if bridged_from is not None:
        for ax in (ax_events, ax_wave):
            ax.axvspan(bridged_from, bridged_until, color="#c8e6c9", alpha=0.5, zorder=0)
        ax_events.text(
            bridged_from + 0.2, 2, "with a seat (bridged)", va="center", fontsize=8, color="#2e7d32"
        )
    bot_label = "bot" if bridged_from is None else "bot, then the seat"
    for label, frames, colour, offset in (
        ("caller", caller, "#6d4c41", 1.0),
        (bot_label, bot, "#1e88e5", -1.0),
    ):
        samples = np.frombuffer(b"".join(frames), "<i2").astype(np.float64) / 32768
        if samples.size:
            times = np.arange(samples.size) / SAMPLE_RATE
            step = max(1, samples.size // 20000)
            ax_wave.plot(times[::step], samples[::step] * 0.9 + offset, color=colour, linewidth=0.4)
        ax_wave.text(0, offset + 0.6, label, fontsize=8, color=colour)
    ax_wave.set_yticks([])
    ax_wave.set_xlabel("seconds after the answer")
    ax_wave.set_xlim(0, end)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
