"""ivr: a front-desk phone line that a bot answers.

Packages, from the edge inward: ``telephony`` (SIP messages,
SDP, RTP, G.711, the jitter buffer, the media clock, and the desk line and
seat legs built on them: the only real-time code), ``call`` (the per-call
engine, in media time), ``flows`` (flow files: schema, loading, checks,
conversation tests), ``hearing`` (line classification, recognition, intents),
``prompts`` (catalog and audio), ``seats`` (human seats and their queue),
``records`` (the call register), ``demo`` (scripted callers), ``commands``
(the ``ivr`` command). The README's "What is where" maps the files.
"""

__version__ = "0.1.0"

import warnings

# pydub looks for ffmpeg when imported; the bot reads and writes only WAV, which needs none.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)
