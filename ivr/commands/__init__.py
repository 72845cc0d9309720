"""Subcommands of ``ivr``: each module exposes ``register(subparsers)``; each parser sets ``run``."""
