"""Real SIP on loopback for the telephony tests and benchmarks.

- :mod:`.kamailio`: a Kamailio registrar/proxy on ``127.0.0.1:<free port>``
  (digest REGISTER, location lookup, relaying, restartable on its port);
- :mod:`.sipp`: sipp scenarios from ``tests/telephony/sipp/`` run as bounded
  child processes, with counters and log tails in a :class:`SippResult`;
- :mod:`.mini_uas`: a tiny in-process SIP UAS (a test double);
- :mod:`.ports`: free UDP ports and non-overlapping RTP ranges;
- :mod:`.baresip`, :mod:`.linphone`: the real softphones as callers and seats, with file
  audio (:mod:`.softphone`: tone files, WAV reading, stopping a process group);
- :mod:`.certificate`: a throwaway self-signed certificate (openssl) for TLS;
- :mod:`.dispatcher`: Kamailio running the shipped ``deploy/kamailio/kamailio.cfg`` in front of
  nodes (only its ``#!define``-s and dispatcher list set by the test);
- :mod:`.serve_node`: ``ivr serve`` as a child process, a node of a line behind Kamailio.

Every process these start is stopped by their context managers (SIGTERM, a
bounded wait, then SIGKILL). No pytest plugin: wire fixtures where needed,
for instance in a conftest::

    @pytest.fixture(scope="module")
    def registrar() -> Iterator[Kamailio]:
        if not kamailio_available():
            pytest.skip("kamailio is not installed")
        with kamailio_server() as server:
            yield server
"""

from tests.telephony.harness.kamailio import (
    DEFAULT_USERS,
    Kamailio,
    KamailioError,
    KamailioSettings,
    kamailio_available,
    kamailio_server,
    sip_options_ping,
)
from tests.telephony.harness.mini_uas import MiniUas
from tests.telephony.harness.ports import (
    PortRange,
    RtpPortAllocator,
    allocate_rtp_range,
    free_udp_port,
    free_udp_ports,
    release_rtp_range,
    udp_port_is_free,
)
from tests.telephony.harness.sipp import (
    SippError,
    SippOptions,
    SippProcess,
    SippResult,
    run_sipp,
    sipp_available,
    start_sipp,
)

__all__ = [
    "DEFAULT_USERS",
    "Kamailio",
    "KamailioError",
    "KamailioSettings",
    "MiniUas",
    "PortRange",
    "RtpPortAllocator",
    "SippError",
    "SippOptions",
    "SippProcess",
    "SippResult",
    "allocate_rtp_range",
    "free_udp_port",
    "free_udp_ports",
    "kamailio_available",
    "kamailio_server",
    "release_rtp_range",
    "run_sipp",
    "sip_options_ping",
    "sipp_available",
    "start_sipp",
    "udp_port_is_free",
]
