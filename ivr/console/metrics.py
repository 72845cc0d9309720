"""``/metrics``: what the register can tell, in Prometheus's text format (no sign-in; numbers, no caller data).

Read fresh from the register on each scrape by one collector on a registry of
its own (the process-wide default registry is left alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ivr.media import seconds_of
from ivr.records.live_calls import LineStatus, LiveState
from ivr.seats.state import SeatState

if TYPE_CHECKING:
    from ivr.console.desk import ConsoleDesk

ANSWER_DELAY_BUCKETS_S = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


def answer_delay_histogram(frames: list[int]) -> HistogramMetricFamily:
    """How long callers waited for the line to answer, from the register's ``answered_frame`` per call."""
    delays = [seconds_of(f) for f in frames]
    buckets = [(str(le), float(len([d for d in delays if d <= le]))) for le in ANSWER_DELAY_BUCKETS_S]
    buckets.append(("+Inf", float(len(delays))))
    return HistogramMetricFamily(
        "ivr_answer_delay_seconds",
        "Time from a call's arrival to the line's answer (answered calls in the register)",
        buckets=buckets,
        sum_value=sum(delays),
    )


class RegisterCollector(Collector):
    def __init__(self, desk: ConsoleDesk) -> None:
        self.desk = desk

    def collect(self) -> Iterator[Metric]:
        desk = self.desk
        now = desk.now()
        calls = desk.live.all()
        in_progress = GaugeMetricFamily(
            "ivr_calls_in_progress", "Calls the line is handling now", labels=["state"]
        )
        for state in LiveState:
            in_progress.add_metric([state.value], len([c for c in calls if c.state is state]))
        yield in_progress

        outcomes = desk.register.read(
            lambda conn: conn.execute(
                "SELECT coalesce(outcome, 'none'), count(*) FROM calls GROUP BY 1"
            ).fetchall()
        )
        by_outcome = CounterMetricFamily(
            "ivr_calls", "Finished calls in the register, by outcome", labels=["outcome"]
        )
        for outcome, count in outcomes:
            by_outcome.add_metric([str(outcome)], float(count))
        yield by_outcome

        answered = desk.register.read(
            lambda conn: conn.execute(
                "SELECT answered_frame FROM calls WHERE answered_frame IS NOT NULL"
            ).fetchall()
        )
        yield answer_delay_histogram([int(row[0]) for row in answered])

        waiting = [c for c in calls if c.state is LiveState.WAITING]
        yield GaugeMetricFamily("ivr_queue_length", "Callers waiting for a seat", value=len(waiting))
        longest = max(
            ((now - (c.waiting_since or c.started_at)).total_seconds() for c in waiting), default=0.0
        )
        yield GaugeMetricFamily(
            "ivr_queue_longest_wait_seconds", "The longest wait of a caller now waiting", value=longest
        )

        seats = GaugeMetricFamily("ivr_seats", "Seats by state", labels=["state"])
        rows = desk.board.list() if desk.board is not None else []
        for seat_state in SeatState:
            seats.add_metric([seat_state.value], len([r for r in rows if r.state is seat_state]))
        yield seats

        status = LineStatus(desk.register).get()
        for key, value in sorted(status.items()):
            if key.endswith("_total"):  # counters since the line started (SIP handler errors, RTP lost …)
                name = key.removesuffix("_total")
                yield CounterMetricFamily(
                    f"ivr_line_{name}", f"The running line's {name.replace('_', ' ')}", value=value
                )
            else:
                yield GaugeMetricFamily(
                    f"ivr_line_{key}", f"The running line's {key.replace('_', ' ')}", value=value
                )


def metrics_text(desk: ConsoleDesk) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegisterCollector(desk))
    return generate_latest(registry), CONTENT_TYPE_LATEST
