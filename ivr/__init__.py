"""ivr: a front-desk phone line that a bot answers.

Layers (see DESIGN.md): ``telephony`` (SIP/RTP edge, the only real-time code),
``hearing`` (line classification, recognition), ``flows`` (flow files),
``call`` (the per-call engine in media time), ``prompts`` (catalog and audio),
``seats`` (human seats), ``records`` (the call register).
"""

__version__ = "0.1.0"

import warnings

# pydub looks for ffmpeg when imported; the bot reads and writes only WAV, which needs none.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)
