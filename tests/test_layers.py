"""Import arrows point one way (DESIGN.md): the telephony edge knows nothing of calls, the call
engine and its parts know nothing of the running line, and nothing below the commands imports them.

An arrow pointing back is named with the importing file and line, so the mistake is found where
it was made.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ivr"

# each layer, and the layers it must never import (directly or inside a function)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "telephony": (
        "ivr.line",
        "ivr.call",
        "ivr.hearing",
        "ivr.seats",
        "ivr.records",
        "ivr.flows",
        "ivr.prompts",
        "ivr.demo",
        "ivr.console",
        "ivr.commands",
    ),
    "call": ("ivr.line", "ivr.telephony", "ivr.demo", "ivr.console", "ivr.commands"),
    "hearing": ("ivr.line", "ivr.telephony", "ivr.demo", "ivr.console", "ivr.commands"),
    "seats": ("ivr.line", "ivr.telephony", "ivr.demo", "ivr.console", "ivr.commands"),
    "records": ("ivr.line", "ivr.telephony", "ivr.demo", "ivr.console", "ivr.commands"),
    "line": ("ivr.demo", "ivr.console", "ivr.commands"),
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, module in imports_of(path)
        if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[layer])
    ]
    assert not wrong, "\n".join(wrong)


def test_the_running_line_is_not_in_the_telephony_edge() -> None:
    """The edge is SIP, RTP, SDP, codecs and the clock; the running line and the scripted phones live elsewhere."""
    edge = {p.stem for p in (PACKAGE / "telephony").glob("*.py")}
    assert not edge & {"desk_line", "seat_floor", "seat_leg", "inbound_call", "phone", "seat_phone"}
    assert (PACKAGE / "line" / "desk_line.py").exists()
    assert (PACKAGE / "demo" / "phone.py").exists()
