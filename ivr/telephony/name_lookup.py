"""Host names in SIP destinations, looked up off the thread that sends: never on the media clock.

The line sends BYEs, session refreshes and retransmissions from the media
clock's tick. Handed a host *name* (a caller's Contact such as
``sip:alice@pbx.example.com``), the socket would look it up right there, and a
slow resolver would stop every call's audio while it waits. So
``SipTransport.send`` hands a message for a name to this lookup and returns at
once: one worker thread (started by the first name, stopped with the transport)
looks the name up and sends the message; the answer is kept ``TTL_S`` so that
retransmissions go straight out. A name that does not resolve is logged (the
message is not sent); an IP address never comes here.

At most ``MAX_PENDING`` messages wait for lookups; more are dropped, logged.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)
Address = tuple[str, int]
TTL_S = 60.0
MAX_PENDING = 256
MAX_NAMES = 1024
LookupResult = Sequence[tuple[object, object, object, object, tuple[object, ...]]]
Lookup = Callable[[str, int, socket.AddressFamily, socket.SocketKind], LookupResult]


@functools.lru_cache(maxsize=1024)  # asked on every datagram sent; the same few hosts again and again
@functools.lru_cache(maxsize=1024)  # every send asks it of the same few peers' addresses
def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address (sent to as it is) rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _getaddrinfo(host: str, port: int, family: socket.AddressFamily, kind: socket.SocketKind) -> LookupResult:
    return socket.getaddrinfo(host, port, family, kind)


class NameLookup:
    """Sends messages addressed to host names once the name is looked up; owned by the transport."""

    def __init__(
        self,
        family: socket.AddressFamily = socket.AF_INET,
        lookup: Lookup = _getaddrinfo,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._family = family
        self._lookup = lookup
        self._now = now
        self._lock = threading.Lock()  # guards the three below (the sender's thread and the worker)
        self._known: dict[Address, tuple[Address, float]] = {}  # (name, port) -> address, until
        self._pending = 0
        self._worker: ThreadPoolExecutor | None = None
        self.lookups = 0
        self.failed = 0

    def send(self, data: bytes, to: Address, sendto: Callable[[bytes, Address], None]) -> None:
        """``sendto(data, address)`` for ``to``'s name: at once if its address is known, else from the
        worker once looked up. Never waits on the resolver."""
        with self._lock:
            known = self._known.get(to)
            if known is not None and known[1] > self._now():
                address = known[0]
            elif self._pending >= MAX_PENDING:
                log.warning(
                    "%d messages wait for name lookups: one to %s is dropped", self._pending, to[0][:60]
                )
                return
            else:
                self._pending += 1
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sip-name-lookup")
                self._worker.submit(self._look_up_and_send, data, to, sendto)
                return
        sendto(data, address)

    def _look_up_and_send(self, data: bytes, to: Address, sendto: Callable[[bytes, Address], None]) -> None:
        try:
            address = self._address(to)
        except OSError as exc:  # socket.gaierror: no such name, or no resolver
            self.failed += 1
            log.warning("cannot send to %s: the name does not resolve (%s)", to[0][:60], exc.strerror or exc)
            return
        except Exception:  # a fault of ours, not the resolver's: loud, and the worker goes on
            log.exception("looking up %s failed", to[0][:60])
            return
        finally:
            with self._lock:
                self._pending -= 1
        sendto(data, address)

    def _address(self, to: Address) -> Address:
        with self._lock:
            known = self._known.get(to)
            if known is not None and known[1] > self._now():
                return known[0]
        self.lookups += 1
        for *_, sockaddr in self._lookup(to[0], to[1], self._family, socket.SOCK_DGRAM):
            address = (str(sockaddr[0]), int(str(sockaddr[1])))
            with self._lock:
                if len(self._known) >= MAX_NAMES:
                    self._known.clear()
                self._known[to] = (address, self._now() + TTL_S)
            return address
        raise OSError(f"{to[0][:60]} has no address")

    def close(self) -> None:
        """Stop the worker; messages still waiting are not sent (a lookup in the resolver ends on its own)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=False, cancel_futures=True)
