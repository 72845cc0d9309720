"""Loading a flow file: the validated ``Flow`` plus the YAML tree that knows every line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.files import line_of, load_model
from ivr.flows.schema import Flow


@dataclass(frozen=True, slots=True)
class FlowFile:
    path: Path
    flow: Flow
    tree: Any  # the ruamel tree, for line numbers

    def line(self, *loc: int | str) -> int:
        return line_of(self.tree, loc)

    def line_at(self, loc: Sequence[int | str]) -> int:
        return line_of(self.tree, loc)


def load_flow(path: Path) -> FlowFile:
    """Load and validate one flow file; raises ConfigError with file:line problems."""
    flow, tree = load_model(path, Flow)
    return FlowFile(path, flow, tree)
