"""Seats and directory files (``flows/seats.yaml``): who takes calls and whom callers may ask for.

A supervisor's (主管) or higher number is never spoken or sent to a caller
(handbook line 36); ``ivr flow check`` proves no prompt can speak one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ivr.files import load_model

StaffId = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,8}$")]
Role = Literal["agent", "shift_leader", "supervisor"]
PRIVATE_ROLES: frozenset[str] = frozenset({"supervisor"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Seat(Strict):
    id: StaffId = Field(description="staff number (工号): the only identity a caller may hear")
    name: str = Field(min_length=1, description="never spoken to a caller")
    uri: str = Field(pattern=r"^sips?:[^@\s]+@[^\s]+$")
    role: Role = "agent"
    skills: list[str] = Field(default_factory=list)

    @property
    def private(self) -> bool:
        return self.role in PRIVATE_ROLES


class Person(Strict):
    """Someone callers may ask for by name (handbook line 283); reached through a seat."""

    name: str = Field(min_length=1)
    department: str | None = None
    seat: StaffId = Field(description="the seat a call for this person is put through to")


class SeatsFile(Strict):
    seats: list[Seat] = Field(min_length=1)
    directory: list[Person] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> SeatsFile:
        ids = [s.id for s in self.seats]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"staff number {', '.join(dupes)} is used by more than one seat")
        for person in self.directory:
            if person.seat not in ids:
                raise ValueError(
                    f"directory: {person.name} is reached through seat {person.seat}, which is not a seat"
                )
        return self

    def private_numbers(self) -> set[str]:
        """Numbers a caller must never hear: supervisors' staff numbers and the extensions in their URIs."""
        out: set[str] = set()
        for seat in self.seats:
            if seat.private:
                out.add(seat.id)
                user = seat.uri.split(":", 1)[1].split("@", 1)[0]
                if user.isdigit():
                    out.add(user)
        return out


def load_seats(path: Path) -> SeatsFile:
    seats, _ = load_model(path, SeatsFile)
    return seats
