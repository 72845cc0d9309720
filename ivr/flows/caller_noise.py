"""The noise a scripted caller's line makes, from the hearing layer's line sounds."""

from __future__ import annotations

import numpy as np

from ivr.hearing import sounds

NOISES = ("white", "pink", "brown", "hum", "crackle")


def noise(kind: str, seconds: float, level_dbfs: float, seed: int = 0) -> bytes:
    """``seconds`` of ``kind`` noise at ``level_dbfs`` (RMS against full scale) as 16-bit PCM."""
    rng = np.random.default_rng(seed)
    if kind == "white":
        x = sounds.white(rng, seconds, level_dbfs)
    elif kind == "pink":
        x = sounds.pink(rng, seconds, level_dbfs)
    elif kind == "brown":
        x = sounds.brown(rng, seconds, level_dbfs)
    elif kind == "hum":
        x = sounds.hum(rng, seconds, level_dbfs)
    elif kind == "crackle":
        x = sounds.clicks(rng, seconds, per_second=20, peak_dbfs=level_dbfs + 12)
    else:
        raise ValueError(f"unknown noise '{kind}'; one of {', '.join(NOISES)}")
    return sounds.to_pcm(x)
