"""Hearing the line: per-frame classification (speech, silence, noise, too quiet), recognition."""
