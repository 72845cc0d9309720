"""``ivr flow graph``: a flow drawn by Graphviz, every step a node and every way on an arrow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.flows.checks import check
from ivr.flows.graph import FOLD_AT, flow_graph, folds, ways_on

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "flows").glob("*.yaml"))
FLOWS = [p for p in SHIPPED if p.name != "seats.yaml"]
SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_every_way_on_of_every_step_is_an_arrow(path: Path) -> None:
    checked = check([path], REPO)
    assert not checked.problems
    flow = checked.flows[0].flow
    source = flow_graph(flow, fold=False).source
    for name, step in flow.steps.items():
        assert re.search(rf"^\t{name} \[label=", source, re.MULTILINE), f"no node for {name}"
        assert Counter(t for t, _ in ways_on(step)) == Counter(step.targets()), name
        for target, _ in ways_on(step):
            assert f"\t{name} -> {target} " in source, f"no arrow {name} -> {target}"


def test_the_desk_flow_drawn_as_svg_shows_steps_ways_and_the_words(tmp_path: Path) -> None:
    out = tmp_path / "pictures" / "desk.svg"
    assert (
        main(["flow", "graph", str(REPO / "flows" / "desk.yaml"), "-o", str(out), "--root", str(REPO)]) == 0
    )
    svg = ET.parse(out).getroot()
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    flow = check([REPO / "flows" / "desk.yaml"], REPO).flows[0].flow
    assert set(flow.steps) <= texts, set(flow.steps) - texts
    assert {"key 0", "no match", "otherwise", "in hours 'desk'", "“find_person”"} <= texts
    titles = {a.get(XLINK_TITLE) for a in svg.iter(f"{SVG}a")}
    assert "您好,这里是星海国际前台。" in titles, "hovering the greet step shows the greeting's words"


def test_a_broken_flow_is_reported_at_its_line_and_not_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = REPO / "tests" / "flows" / "broken" / "08-dangling-next.yaml"
    out = tmp_path / "broken.svg"
    assert main(["flow", "graph", str(broken), "-o", str(out), "--root", str(REPO)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}:6:" in err and "did you mean 'bye'" in err and "not drawn" in err
    assert not out.exists()


def test_an_unknown_picture_format_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "desk.bmp"
    assert (
        main(["flow", "graph", str(REPO / "flows" / "desk.yaml"), "-o", str(out), "--root", str(REPO)]) == 2
    )
    assert ".svg, .png, .pdf, .dot" in capsys.readouterr().err and not out.exists()


def test_without_graphviz_it_says_what_to_install_and_dot_text_still_works(tmp_path: Path) -> None:
    """A machine without Graphviz's ``dot`` (an empty PATH here): a clear error, and the DOT text."""
    env = {**os.environ, "PATH": str(tmp_path / "no-programs-here")}

    def graph(out: Path) -> subprocess.CompletedProcess[str]:
        code = "import sys; from ivr.cli import main; sys.exit(main(sys.argv[1:]))"
        args = ["flow", "graph", str(REPO / "flows" / "desk.yaml"), "-o", str(out), "--root", str(REPO)]
        return subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
        )

    drawn = graph(tmp_path / "desk.svg")
    assert drawn.returncode == 1, drawn.stderr
    assert "apt-get install graphviz" in drawn.stderr and "desk.dot" in drawn.stderr
    assert not (tmp_path / "desk.svg").exists()
    text = graph(tmp_path / "desk.dot")
    assert text.returncode == 0, text.stderr
    assert (tmp_path / "desk.dot").read_text(encoding="utf-8").startswith("digraph desk {")


def test_a_faqs_alike_answers_are_drawn_as_one_node_that_names_them_all(tmp_path: Path) -> None:
    """The hotel flow's FAQ: dozens of say steps from the same menu to the same wrap-up, one node."""
    flow = check([REPO / "flows" / "hotel-booking.yaml"], REPO).flows[0].flow
    every_fold = folds(flow)
    asking = {name: g for name, g in every_fold.items() if flow.steps[name].action == "listen"}
    assert len(set(asking.values())) == 1 and len(asking) >= 20, "the answers that ask yes or no: one node"
    assert all(flow.steps[m].targets() == flow.steps[next(iter(asking))].targets() for m in asking)
    groups = {group for step, group in every_fold.items() if step.startswith("faq_") and step not in asking}
    assert len(groups) == 1  # (other alike answers, e.g. thanks and suggestions, fold on their own)
    members = [name for name in flow.steps if every_fold.get(name) in groups]
    assert len(members) >= 30 and all(flow.steps[m].action == "say" for m in members)
    assert all(flow.steps[m].targets() == flow.steps[members[0]].targets() for m in members)
    assert not folds(check([REPO / "flows" / "desk.yaml"], REPO).flows[0].flow), "nothing alike to fold"

    group = groups.pop()
    into = sum(
        1
        for step in flow.steps.values()
        if step.listen
        for t, _ in ways_on(step)
        if every_fold.get(t) == group
    )
    source = flow_graph(flow).source
    assert f"{len(members)} answers" in source
    kept = [name for name in flow.steps if name not in every_fold]  # (the FAQ folds, and any other)
    for name in kept:
        assert re.search(rf"^\t{name} \[label=", source, re.MULTILINE), name
    assert not any(re.search(rf"^\t{m} \[label=", source, re.MULTILINE) for m in members)
    counts = [int(n) for n in re.findall(rf"-> {group} \[label=\"(\d+) questions\"\]", source)]
    assert sum(counts) == into, "every question that leads to an answer is counted on the arrows"

    every = tmp_path / "every.dot"
    assert main(["flow", "graph", str(REPO / "flows" / "hotel-booking.yaml"), "-o", str(every),
                 "--root", str(REPO), "--every-step"]) == 0  # fmt: skip
    assert all(
        re.search(rf"^\t{m} \[label=", every.read_text(encoding="utf-8"), re.MULTILINE) for m in members
    )
    assert len(members) >= FOLD_AT
