"""The learning switch (IEEE 802.1D transparent bridge), as pure logic with time passed in.

A switch connects several Ethernet segments. For every frame it receives it

1. **learns**: the frame's *source* address lives behind the port it came in
   on; the MAC table remembers that (and when), refreshing the entry each
   time the station sends;
2. **ages**: an entry not refreshed for the ageing time (300 s by default, as
   IEEE 802.1D recommends) is forgotten, so a station that moved or left
   stops attracting frames to the wrong port;
3. **forwards**: a frame for a known unicast address goes out of that one
   port; **filters**: if that port is the one it came in on, the destination
   already heard it, so it goes nowhere; **floods**: a broadcast or multicast
   frame, or one for an address not (or no longer) in the table, goes out of
   every port except the one it came in on.

So hosts on one switch form one *broadcast domain*: a broadcast reaches all.

:class:`LearningSwitch` owns no clock and no interfaces: a simulator's
switch node calls :meth:`LearningSwitch.decide` with the port a frame arrived
on, the frame (bytes or :class:`~labkit.link.EthernetFrame`) and the current
time in nanoseconds, and sends copies out of the ports it returns.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from html import escape

from labkit.errors import LabkitValueError, ParseError
from labkit.link.ethernet import EthernetFrame
from labkit.link.mac import MACAddress

__all__ = ["DEFAULT_AGEING_TIME_NS", "Decision", "MACTableEntry", "LearningSwitch"]

_NS = 1_000_000_000
#: IEEE 802.1D's recommended ageing time: 300 s, in nanoseconds.
DEFAULT_AGEING_TIME_NS = 300 * _NS

Port = Hashable


@dataclass(frozen=True, slots=True)
class MACTableEntry:
    """One learned station: its address, the port it is behind, when it was last heard."""

    mac: MACAddress
    port: Port
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class Decision:
    """What the switch did with one frame, and why."""

    out_ports: tuple[Port, ...]
    #: "forward", "flood", "filter" or "drop"
    action: str
    reason: str
    src: MACAddress | None = None
    dst: MACAddress | None = None

    def __str__(self) -> str:
        ports = ", ".join(str(p) for p in self.out_ports) or "none"
        return f"{self.action}: {self.reason} -> ports {ports}"


def _check_time(now_ns: object) -> int:
    if isinstance(now_ns, bool) or not isinstance(now_ns, int):
        raise LabkitValueError(f"now_ns={now_ns!r}: time is an int number of nanoseconds")
    return now_ns


class LearningSwitch:
    """MAC learning, ageing, forwarding, filtering and flooding for one switch.

    ``ports`` is how many ports (numbered 1..n, as on a switch's front panel)
    or the port names themselves. ``ageing_time_ns`` is how long an entry
    lives without being refreshed. ``capacity`` limits the table (real
    switches have a fixed-size table; when it is full new addresses are not
    learned and their frames are flooded, which is what a MAC flooding
    attack exploits). ``check_fcs=True`` makes :meth:`decide` verify the FCS
    of frames given as bytes and drop corrupted ones (store-and-forward);
    otherwise bytes are read without their FCS checked, and may carry one or not.
    """

    def __init__(
        self,
        ports: int | Iterable[Port],
        *,
        ageing_time_ns: int = DEFAULT_AGEING_TIME_NS,
        capacity: int | None = None,
        check_fcs: bool = False,
    ) -> None:
        if isinstance(ports, bool):
            raise LabkitValueError(f"ports={ports!r}: give a number of ports or their names")
        if isinstance(ports, int):
            if ports < 2:
                raise LabkitValueError(f"ports={ports!r}: a switch needs at least 2 ports")
            names: tuple[Port, ...] = tuple(range(1, ports + 1))
        else:
            names = tuple(ports)
            if len(names) < 2 or len(set(names)) != len(names):
                raise LabkitValueError(
                    f"ports={names!r}: need at least 2 ports with distinct names"
                )
        if isinstance(ageing_time_ns, bool) or not isinstance(ageing_time_ns, int) or (
            ageing_time_ns <= 0
        ):
            raise LabkitValueError(
                f"ageing_time_ns={ageing_time_ns!r}: a positive int (300 s = 300_000_000_000)"
            )
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        ):
            raise LabkitValueError(f"capacity={capacity!r}: a positive int, or None for no limit")
        self.ports = names
        self.ageing_time_ns = ageing_time_ns
        self.capacity = capacity
        self.check_fcs = check_fcs
        self._table: dict[MACAddress, MACTableEntry] = {}
        self.now_ns = 0
        self.counters = {"forward": 0, "flood": 0, "filter": 0, "drop": 0}

    # -- time ------------------------------------------------------------------------------
    def _advance(self, now_ns: object) -> int:
        now = _check_time(now_ns)
        if now < self.now_ns:
            raise LabkitValueError(
                f"now_ns={now}: earlier than the last time this switch saw ({self.now_ns}); "
                "time only moves forward"
            )
        self.now_ns = now
        return now

    def age(self, now_ns: int) -> list[MACTableEntry]:
        """Forget entries not refreshed within the ageing time; return the forgotten ones."""
        now = self._advance(now_ns)
        old = [e for e in self._table.values() if now - e.last_seen_ns >= self.ageing_time_ns]
        for entry in old:
            del self._table[entry.mac]
        return old

    # -- the table -------------------------------------------------------------------------
    def learn(self, mac: MACAddress | str, port: Port, now_ns: int) -> bool:
        """Remember that ``mac`` is behind ``port`` (as of ``now_ns``); False if not learned."""
        now = self._advance(now_ns)
        address = mac if isinstance(mac, MACAddress) else MACAddress(mac)
        self._check_port(port)
        if address.is_multicast:
            return False  # a group address is never a source: nothing to learn
        if (
            address not in self._table
            and self.capacity is not None
            and len(self._table) >= self.capacity
        ):
            self.age(now)
            if len(self._table) >= self.capacity:
                return False
        self._table[address] = MACTableEntry(address, port, now)
        return True

    def lookup(self, mac: MACAddress | str, now_ns: int) -> Port | None:
        """The port ``mac`` was last heard on, or None if unknown or aged out."""
        now = self._advance(now_ns)
        address = mac if isinstance(mac, MACAddress) else MACAddress(mac)
        entry = self._table.get(address)
        if entry is None:
            return None
        if now - entry.last_seen_ns >= self.ageing_time_ns:
            del self._table[address]
            return None
        return entry.port

    def entries(self) -> list[MACTableEntry]:
        """The live table as of the last time given, sorted by port then address."""
        self.age(self.now_ns)
        order = {p: i for i, p in enumerate(self.ports)}
        return sorted(self._table.values(), key=lambda e: (order[e.port], e.mac))

    def __len__(self) -> int:
        return len(self.entries())

    def clear(self) -> None:
        """Forget every entry (as when a switch reboots)."""
        self._table.clear()

    def flush_port(self, port: Port) -> list[MACTableEntry]:
        """Forget the stations behind ``port`` (its link went down); return them."""
        self._check_port(port)
        gone = [e for e in self._table.values() if e.port == port]
        for entry in gone:
            del self._table[entry.mac]
        return gone

    def add_port(self, port: Port) -> None:
        """Give the switch one more port (a cable plugged into a new socket)."""
        if port in self.ports:
            raise LabkitValueError(f"port={port!r}: this switch already has a port of that name")
        self.ports = self.ports + (port,)

    def _check_port(self, port: Port) -> None:
        if port not in self.ports:
            raise LabkitValueError(f"port={port!r}: this switch's ports are {list(self.ports)}")

    # -- frames ----------------------------------------------------------------------------
    def forward(
        self, in_port: Port, frame: EthernetFrame | bytes | bytearray | memoryview, now_ns: int
    ) -> Decision:
        """Handle one frame arriving on ``in_port`` at ``now_ns``: learn, then decide."""
        self._check_port(in_port)
        now = self._advance(now_ns)
        if isinstance(frame, EthernetFrame):
            src, dst = frame.src, frame.dst
        elif isinstance(frame, (bytes, bytearray, memoryview)):
            try:
                if self.check_fcs:
                    parsed = EthernetFrame.parse(frame, fcs=True)
                    src, dst = parsed.src, parsed.dst
                else:
                    if len(frame) < 14:
                        raise ParseError("ethernet", "length", len(frame),
                                         "shorter than the 14-byte header")
                    raw = bytes(frame[:12])
                    dst = MACAddress._from_packed(raw[:6])
                    src = MACAddress._from_packed(raw[6:12])
            except ParseError as err:
                return self._count(Decision((), "drop", f"unreadable frame ({err})"))
        else:
            raise LabkitValueError(
                f"frame: expected an EthernetFrame or bytes, got {type(frame).__name__}"
            )
        if src.is_multicast:
            return self._count(Decision((), "drop", f"source {src} is a group address", src, dst))
        self.learn(src, in_port, now)
        others = tuple(p for p in self.ports if p != in_port)
        if dst.is_broadcast:
            return self._count(Decision(others, "flood", "broadcast", src, dst))
        if dst.is_multicast:
            return self._count(Decision(others, "flood", f"multicast {dst}", src, dst))
        port = self.lookup(dst, now)
        if port is None:
            return self._count(Decision(others, "flood", f"{dst} unknown", src, dst))
        if port == in_port:
            return self._count(
                Decision((), "filter", f"{dst} is on port {port}, where the frame came from",
                         src, dst)
            )
        return self._count(Decision((port,), "forward", f"{dst} is on port {port}", src, dst))

    def decide(
        self, in_port: Port, frame: EthernetFrame | bytes | bytearray | memoryview, now_ns: int
    ) -> list[Port]:
        """The ports to send a copy of ``frame`` out of (see :meth:`forward` for the reason)."""
        return list(self.forward(in_port, frame, now_ns).out_ports)

    def _count(self, decision: Decision) -> Decision:
        self.counters[decision.action] += 1
        return decision

    # -- display ---------------------------------------------------------------------------
    def _rows(self) -> list[tuple[str, str, str]]:
        return [
            (str(e.mac), str(e.port), f"{(self.now_ns - e.last_seen_ns) / _NS:.1f}")
            for e in self.entries()
        ]

    def format_table(self) -> str:
        """The MAC table as text, ages as of the last time the switch was told."""
        head = f"{'MAC address':<19}{'port':<6}age (s)"
        lines = [head] + [f"{mac:<19}{port:<6}{age}" for mac, port, age in self._rows()]
        if len(lines) == 1:
            lines.append("(empty)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()

    def __repr__(self) -> str:
        return (
            f"LearningSwitch(ports={list(self.ports)!r}, entries={len(self._table)}, "
            f"ageing_time_ns={self.ageing_time_ns})"
        )

    def _repr_html_(self) -> str:
        cell = "padding:1px 6px;font-family:monospace;text-align:left"
        rows = "".join(
            f'<tr><td style="{cell}">{escape(m)}</td><td style="{cell}">{escape(p)}</td>'
            f'<td style="{cell}">{a}</td></tr>'
            for m, p, a in self._rows()
        ) or f'<tr><td colspan="3" style="{cell};color:#888">(empty)</td></tr>'
        return (
            f"<div style='font-weight:bold'>MAC table ({len(self)} entries, "
            f"ageing {self.ageing_time_ns / _NS:g} s)</div>"
            '<table style="border-collapse:collapse;font-size:12px">'
            f'<tr><th style="{cell}">MAC address</th><th style="{cell}">port</th>'
            f'<th style="{cell}">age (s)</th></tr>{rows}</table>'
        )
