"""A flow as a picture: every step a node, every way on an arrow with what takes it there.

``flow_graph`` builds the Graphviz graph (DOT) of a checked flow; Graphviz's
``dot`` lays it out and draws it (SVG, PNG, PDF). Shapes say what a step does:
a say step is a box, a listening step a rounded box, a branch a diamond, a
transfer to people a blue box, a callback a note, an ending a double octagon.
Arrows carry the intent, the key, the condition or "no match" that takes
them. A prompt's exact words are the node's tooltip (hover in an SVG); the
picture itself shows prompt ids, which every font can draw.
"""

from __future__ import annotations

from pathlib import Path

import graphviz

from ivr.errors import MissingPartError
from ivr.flows.schema import Condition, Flow, PromptRef, Step, as_say
from ivr.prompts.catalog import Catalog

SHAPES: dict[str, dict[str, str]] = {
    "say": {"shape": "box"},
    "listen": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fff8e1"},
    "branch": {"shape": "diamond", "style": "filled", "fillcolor": "#eceff1"},
    "transfer": {"shape": "box", "style": "filled", "fillcolor": "#bbdefb"},
    "callback": {"shape": "note", "style": "filled", "fillcolor": "#e1bee7"},
    "hangup": {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#ffcdd2"},
    "finish": {"shape": "doubleoctagon", "style": "filled", "fillcolor": "#c8e6c9"},
}


FOLD_AT = 5  # this many say steps alike (same steps before, same step after) are drawn as one


def flow_graph(flow: Flow, catalog: Catalog | None = None, *, fold: bool = True) -> graphviz.Digraph:
    """The flow's steps and their ways on, from ``start``, as a left-to-right graph.

    With ``fold``, say steps that are alike (reached from the same steps, going on to the same
    step: a FAQ's answers) are one node listing them, so a 60-answer menu stays readable.
    """
    graph = graphviz.Digraph(
        name=flow.flow,
        graph_attr={"rankdir": "LR", "label": f"flow {flow.flow}", "tooltip": flow.description or flow.flow},
    )
    graph.attr("node", fontname="Helvetica", fontsize="10")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    graph.node("__call__", "call", shape="circle", style="filled", fillcolor="#424242", fontcolor="white")
    graph.edge("__call__", flow.start, label=f"answer after {flow.answer.rings} ring(s)")
    folded = folds(flow) if fold else {}
    node = {name: folded.get(name, name) for name in flow.steps}
    drawn: set[tuple[str, str, str]] = set()
    into_folds: dict[tuple[str, str], int] = {}
    for group, members in _members(folded).items():
        words = " / ".join(w for m in members if (w := _words(flow.steps[m], catalog)))
        action = flow.steps[members[0]].action
        what = "answers" if action == "say" else "answers that ask yes or no"
        graph.node(
            group,
            f"{len(members)} {what}\n{members[0]} … {members[-1]}",
            tooltip=", ".join(members) + (f": {words}" if words else ""),
            **SHAPES[action],
            peripheries="2",
        )
    for name, step in flow.steps.items():
        if name not in folded:
            words = _words(step, catalog)
            graph.node(name, _label(name, step), tooltip=words or name, **SHAPES[step.action])
        for target, label in ways_on(step):
            if target in folded and name not in folded:  # one arrow into a fold, counting the ways
                key = (name, folded[target])
                into_folds[key] = into_folds.get(key, 0) + 1
                continue
            edge = (node[name], node[target], label)
            if edge not in drawn:
                drawn.add(edge)
                graph.edge(*edge[:2], label=label)
    for (source, group), count in into_folds.items():
        graph.edge(source, group, label=f"{count} questions")
    return graph


def folds(flow: Flow) -> dict[str, str]:
    """Step → the fold it is drawn in, for groups of at least ``FOLD_AT`` alike say steps, or alike
    listening steps that only ask a yes or no (an answer that ends in 您看可以吗?)."""
    before: dict[str, set[str]] = {name: set() for name in flow.steps}
    for name, step in flow.steps.items():
        for target in step.targets():
            before[target].add(name)
    alike: dict[tuple[frozenset[str], tuple[str, ...], bool, str], list[str]] = {}
    for name, step in flow.steps.items():
        asks = step.listen is not None and step.listen.confirm is not None and not step.listen.intents
        if (step.action == "say" or asks) and name != flow.start:
            key = (frozenset(before[name]), tuple(step.targets()), step.resume, step.action)
            alike.setdefault(key, []).append(name)
    out: dict[str, str] = {}
    for members in alike.values():
        if len(members) >= FOLD_AT:
            for member in members:
                out[member] = f"fold_{members[0]}"
    return out


def _members(folded: dict[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name, group in folded.items():
        groups.setdefault(group, []).append(name)
    return groups


FORMATS = ("svg", "png", "pdf", "dot")


def draw(flow: Flow, catalog: Catalog | None, output: Path, *, fold: bool = True) -> Path:
    """Write the flow's picture to ``output``; its suffix picks the format (``.dot``: the text only).

    Raises ``MissingPartError`` when Graphviz's ``dot`` is not installed, naming the package.
    """
    fmt = picture_format(output)
    graph = flow_graph(flow, catalog, fold=fold)
    if fmt == "dot":
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(graph.source, encoding="utf-8")
        return output
    try:
        picture = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise MissingPartError(
            "drawing needs Graphviz's 'dot' program: apt-get install graphviz "
            f"(or write the graph as text with -o {output.with_suffix('.dot')})"
        ) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(picture)
    return output


def picture_format(output: Path) -> str:
    """The format a picture's suffix names; ValueError, naming the ones there are, for any other."""
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{output}: the picture's suffix must be one of .{', .'.join(FORMATS)}")
    return fmt


def ways_on(step: Step) -> list[tuple[str, str]]:
    """Each step this one can go to, with what takes the call there (the same set as ``targets``)."""
    out: list[tuple[str, str]] = []
    if step.listen is not None:
        out += [(spec.next, f"“{intent}”") for intent, spec in step.listen.intents.items()]
        out += [(target, f"key {key}") for key, target in step.listen.keys.items()]
        if step.listen.confirm is not None:
            out.append((step.listen.confirm.yes, "yes / key 1"))
            out.append((step.listen.confirm.no, "no / key 2"))
        if step.listen.give_up:
            out.append((step.listen.give_up, "no match"))
    if step.confirm is not None:
        out.append((step.confirm.yes, "yes / key 1"))
        out.append((step.confirm.no, "no / key 2"))
    for case in step.branch or []:
        out.append((case.next, condition_text(case.when)))
    if step.otherwise:
        out.append((step.otherwise, "otherwise"))
    if step.next:
        label = {
            "transfer": "no seat / callback",
            "say": "resume or next" if step.resume else "",
            "finish": "caller asks more",
        }
        out.append((step.next, label.get(step.action, "")))
    return out


def condition_text(when: Condition) -> str:
    parts = []
    if when.hours:
        parts.append(f"in hours '{when.hours}'")
    if when.days:
        parts.append("/".join(when.days))
    if when.time:
        parts.append(f"{when.time.from_:%H:%M}–{when.time.to:%H:%M}")
    if when.caller:
        parts.append("caller " + " | ".join(when.caller))
    if when.repeat_caller is not None:
        parts.append(f"called again within {when.repeat_caller / 60:g} min")
    if when.dropped_call is not None:
        parts.append(f"cut off, called again within {when.dropped_call / 60:g} min")
    if when.intent:
        parts.append(f"asked “{when.intent}”")
    if when.not_ is not None:
        parts.append(f"not ({condition_text(when.not_)})")
    return " and ".join(parts)


def _label(name: str, step: Step) -> str:
    action = step.action
    if action == "say":
        assert step.say is not None
        detail = ", ".join(_ids(step.say if isinstance(step.say, list) else [step.say]))
    elif action == "listen":
        assert step.listen is not None
        detail = "listens" + (f" after {_ids([step.listen.prompt])[0]}" if step.listen.prompt else "")
    elif action == "transfer":
        assert step.transfer is not None
        detail = f"to a person ({step.transfer.skill})"
    elif action == "callback":
        assert step.callback is not None
        detail = "callback ticket" + (" (number keyed in)" if step.callback.number == "ask" else "")
        detail += f"\n{step.callback.reason}" + (", offered first" if step.callback.offer else "")
    elif action == "hangup":
        assert step.hangup is not None
        detail = f"{_ids([step.hangup])[0]}, hang up"
    elif action == "finish":
        detail = "business done"
    else:
        detail = "decides"
    return f"{name}\n{detail}"


def _ids(refs: list[PromptRef]) -> list[str]:
    return [as_say(ref).prompt for ref in refs]


def _words(step: Step, catalog: Catalog | None) -> str:
    if catalog is None:
        return ""
    refs: list[PromptRef] = []
    if step.say is not None:
        refs += step.say if isinstance(step.say, list) else [step.say]
    if step.listen is not None and step.listen.prompt is not None:
        refs.append(step.listen.prompt)
    if step.hangup is not None:
        refs.append(step.hangup)
    if step.transfer is not None:
        refs.append(step.transfer.say)
    if step.callback is not None:
        refs += [step.callback.offer] if step.callback.offer else []
        refs.append(step.callback.taken)
    said = []
    for ref in refs:
        prompt = catalog.by_id.get(as_say(ref).prompt)
        if prompt is not None:
            said.append(catalog.filled(prompt))
    return " / ".join(said)
