"""The per-call engine: runs a flow one 20 ms frame at a time, in media time."""
