"""What can go wrong with the call register.

IvrError
 └── RegisterError              the register file cannot be used as asked
      ├── RegisterNotFoundError   no register file at the path (and we were not asked to create one)
      ├── RegisterVersionError    the file was written by a newer ivr, or is not a register at all
      ├── AmbiguousCallIdError    a call-id prefix matches more than one call
      └── RegisterWriteError      the writer's worker failed to save one or more calls
"""

from __future__ import annotations

from ivr.errors import IvrError


class RegisterError(IvrError):
    """The register file cannot be used as asked; the message says why."""


class RegisterNotFoundError(RegisterError):
    """No register file at the given path."""


class RegisterVersionError(RegisterError):
    """The file's schema is newer than this ivr reads, or the file is not a register."""


class AmbiguousCallIdError(RegisterError):
    """A call-id prefix matches more than one call."""

    def __init__(self, prefix: str, matches: list[str]) -> None:
        self.prefix = prefix
        self.matches = matches
        shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
        super().__init__(f"call id prefix {prefix!r} matches {len(matches)} calls: {shown}")


class RegisterWriteError(RegisterError):
    """The writer could not save some calls; ``__cause__`` is the first failure."""
