"""Kamailio with the shipped ``deploy/kamailio/kamailio.cfg`` in front of ivr nodes, on loopback.

The routing is the shipped file's, unchanged: only its ``#!define``-s are set from the command
line (``-A``: the listen address, the dispatcher list, the timers), and the dispatcher list is
written for the nodes the test started. Usage::

    with KamailioDispatcher([node.address for node in nodes]) as proxy:
        phone.call(proxy.address, script)          # goes to one node; ACK/BYE follow Record-Route
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.telephony.harness.kamailio import Kamailio

REPO = Path(__file__).resolve().parents[3]
SHIPPED_CONFIG = REPO / "deploy" / "kamailio" / "kamailio.cfg"
SHIPPED_LIST = REPO / "deploy" / "kamailio" / "dispatcher.list"


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    """The shipped config's defines a test may set; the defaults are the shipped file's."""

    fr_timer_ms: int = 2000  # a node silent this long to an INVITE: the next node gets it
    ping_interval_s: int = 2  # OPTIONS to every node this often
    children: int = 2
    log_level: int = 2


def dispatcher_list(nodes: Sequence[tuple[str, int]]) -> str:
    """The dispatcher list for ``nodes`` (set 1, as the shipped ``dispatcher.list`` writes it)."""
    if not nodes:
        raise ValueError("a dispatcher list needs at least one node")
    return "".join(f"1 sip:{host}:{port} 0\n" for host, port in nodes)


class KamailioDispatcher(Kamailio):
    """Kamailio running ``deploy/kamailio/kamailio.cfg`` on ``127.0.0.1:port`` (UDP and TCP)."""

    def __init__(
        self,
        nodes: Sequence[tuple[str, int]],
        port: int | None = None,
        *,
        settings: DispatcherSettings | None = None,
    ) -> None:
        super().__init__(port, users={})
        self.nodes = list(nodes)
        self.dispatch = settings or DispatcherSettings()

    @property
    def config_path(self) -> Path:
        return SHIPPED_CONFIG

    @property
    def list_path(self) -> Path:
        return self.directory / "dispatcher.list"

    def _prepare(self) -> None:
        (self.directory / "run").mkdir(parents=True, exist_ok=True)
        self.list_path.write_text(dispatcher_list(self.nodes), encoding="utf-8")

    def _command(self) -> list[str]:
        s = self.dispatch
        defines = {
            "SIP_LISTEN": f"udp:{self.host}:{self.port}",
            "SIP_LISTEN_TCP": f"tcp:{self.host}:{self.port}",
            "DISPATCHER_LIST": f'"{self.list_path}"',
            "FR_TIMER": str(s.fr_timer_ms),
            "DS_PING_INTERVAL": str(s.ping_interval_s),
            "CHILDREN": str(s.children),
            "LOG_LEVEL": str(s.log_level),
        }
        return [*super()._command(), *(arg for k, v in defines.items() for arg in ("-A", f"{k}={v}"))]
