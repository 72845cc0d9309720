"""The running line: the desk answering calls, the seat floor ringing seats, and the open line that ties them to the register.

It sits on the telephony edge (SIP, RTP, SDP, codecs, clock) and drives the call
engine, hearing, seats and records; nothing in the edge imports from here.
"""
