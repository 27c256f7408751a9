"""Port numbers: which program on a host a segment or datagram is for.

A port is a 16-bit number, 0..65535. Ports 0..1023 are *well-known*
(assigned by IANA: 80 HTTP, 53 DNS); 1024..49151 are *registered*; the
operating system hands out *ephemeral* ports to clients that did not bind
one. IANA's ephemeral range is 49152..65535 (RFC 6335); Linux uses 32768..60999
by default. Port 0 in a bind means "any free port".
"""

from __future__ import annotations

import numbers

import numpy as np

from labkit.errors import LabkitError, LabkitValueError

__all__ = [
    "MAX_PORT",
    "WELL_KNOWN",
    "EPHEMERAL",
    "WELL_KNOWN_SERVICES",
    "check_port",
    "is_well_known",
    "PortAllocator",
    "PortsExhausted",
]

MAX_PORT = 0xFFFF
WELL_KNOWN = range(0, 1024)
EPHEMERAL = range(49152, 65536)

#: A few services the course mentions, by port.
WELL_KNOWN_SERVICES = {20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp",
                       53: "dns", 67: "dhcp", 80: "http", 123: "ntp", 443: "https"}


class PortsExhausted(LabkitError):
    """Every ephemeral port is in use."""


def check_port(value: object, name: str = "port") -> int:
    """Return ``value`` as a port number, or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise LabkitValueError(f"{name}={value!r}: a port is a whole number 0..65535")
    port = int(value)
    if not 0 <= port <= MAX_PORT:
        raise LabkitValueError(f"{name}={value!r}: out of range; a port is 16 bits, 0..65535")
    return port


def is_well_known(port: int) -> bool:
    """True for 0..1023, the ports reserved for standard services."""
    return check_port(port) in WELL_KNOWN


class PortAllocator:
    """Hands out ephemeral ports, starting at a random point of the range (RFC 6056).

    A random start makes the next port hard to guess; the generator is the
    simulation's seeded one, so runs repeat. Ports are then tried in order,
    skipping those in use.
    """

    def __init__(self, rng: np.random.Generator, ports: range = EPHEMERAL) -> None:
        self._ports = ports
        self._next = int(rng.integers(0, len(ports)))
        self.in_use: set[int] = set()

    def allocate(self) -> int:
        for _ in range(len(self._ports)):
            port = self._ports[self._next]
            self._next = (self._next + 1) % len(self._ports)
            if port not in self.in_use:
                self.in_use.add(port)
                return port
        raise PortsExhausted(f"all {len(self._ports)} ephemeral ports are in use")

    def reserve(self, port: int) -> None:
        """Mark a port taken (a bind); raises if it already is."""
        port = check_port(port)
        if port in self.in_use:
            raise LabkitValueError(f"port={port}: address already in use")
        self.in_use.add(port)

    def release(self, port: int) -> None:
        self.in_use.discard(port)
