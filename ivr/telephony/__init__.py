"""The telephony edge: SIP signalling, RTP media, and the media clock.

The pure pieces here parse and build protocol objects and never read the
clock or touch a socket:

- ``sip_message``: SIP requests and responses, Via handling (RFC 3261, RFC 3581)
- ``sdp``: offers and answers for one audio stream (RFC 4566, RFC 3264)
- ``g711``: mu-law and A-law to and from 16-bit linear PCM (ITU-T G.711)
- ``rtp``: RTP packets and a sender's sequence/timestamp state (RFC 3550)
- ``dtmf``: telephone-event packets in and out (RFC 4733)
- ``jitter``: a fixed-depth jitter buffer driven by the 20 ms media tick
- ``digest``: digest authentication answers for 401/407 challenges (RFC 2617, RFC 7616)
- ``uas_refusals``: what a request out of a dialog is refused before it is served (RFC 3261 §8.2)
"""
