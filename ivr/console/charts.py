"""The wallboard's charts: plain bars drawn as inline SVG on the server (no script, no library).

``calls_per_hour`` draws today's calls in each hour of the desk's day (24
bars); ``seat_bars`` each seat's answered and missed calls today (two bars a
seat). Labels come from the console's words, so a chart is in the page's
language. Numbers only: no caller data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from ivr.console.words import Lang, word

WIDTH = 720
HEIGHT = 150
TOP = 18  # room for the value over the tallest bar
BOTTOM = 20  # room for the labels under the bars
LEFT = 4
MAX_SLOT = 29.0  # 24 hourly bars fill the width


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # under the bar (an hour, a seat id)
    value: int
    kind: str  # css class: calls, answered, missed


def bar_chart(title: str, bars: Sequence[Bar], legend: Sequence[tuple[str, str]] = ()) -> Markup:
    """An SVG with one ``rect.bar`` per bar (``data-value`` its number), its label under it."""
    top = max((b.value for b in bars), default=0) or 1
    slot = min((WIDTH - LEFT) / max(len(bars), 1), MAX_SLOT)  # a few bars stay narrow
    room = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">',
        f"<title>{escape(title)}</title>",
    ]
    for n, bar in enumerate(bars):
        height = room * bar.value / top
        x = LEFT + n * slot
        y = TOP + room - height
        parts.append(
            f'<rect class="bar {bar.kind}" data-label="{escape(bar.label)}" data-value="{bar.value}" '
            f'x="{x + slot * 0.15:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}"/>'
        )
        middle = x + slot / 2
        if bar.value:
            parts.append(f'<text class="value" x="{middle:.1f}" y="{y - 3:.1f}">{bar.value}</text>')
        if bar.label:
            parts.append(f'<text class="label" x="{middle:.1f}" y="{HEIGHT - 5}">{escape(bar.label)}</text>')
    parts.append("</svg>")
    keys = "".join(f'<span class="key {kind}">{escape(text)}</span>' for kind, text in legend)
    caption = f"<figcaption>{escape(title)}{f' {keys}' if keys else ''}</figcaption>"
    return Markup(f"<figure>{caption}{''.join(parts)}</figure>")


def calls_per_hour(hours: Sequence[int], lang: Lang) -> Markup:
    """Today's calls by the desk's hour (``hours``: 24 counts, hour 0 first)."""
    bars = [Bar(f"{h:02d}" if h % 3 == 0 else "", count, "calls") for h, count in enumerate(hours)]
    return bar_chart(word("chart_calls_per_hour", lang), bars)


def seat_bars(seats: Sequence[tuple[str, int, int]], lang: Lang) -> Markup:
    """Each seat's answered and missed calls today (``seats``: seat id, answered, missed)."""
    bars: list[Bar] = []
    for seat_id, answered, missed in seats:
        bars.append(Bar(seat_id, answered, "answered"))
        bars.append(Bar("", missed, "missed"))
    legend = [("answered", word("handled", lang)), ("missed", word("no_answer", lang))]
    return bar_chart(word("chart_seats", lang), bars, legend)
