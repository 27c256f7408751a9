"""Capture: record what crosses interfaces, to a pcap file and to an in-memory trace.

A :class:`Capture` is a tap on one or more interfaces (made with
:meth:`labkit.sim.Network.capture`). Every frame an interface sends
(``"out"``, when the interface accepts it for sending) or receives (``"in"``,
when its last bit has arrived) becomes a :class:`TraceRecord` in
:attr:`Capture.trace`, and, if a ``pcap`` path was given, a record in that
file. Frames lost on the way (a full queue, an impairment) are recorded in the
trace as ``"drop"`` at the sending interface, with the reason in ``note``; they
are not written to the pcap file, where a real capture would not see them
either.

Each transmission has a number (``xid``) shared by its ``"out"`` record and
the ``"in"`` record(s) at the other end, so a sequence diagram can draw an
arrow from sender to receiver (:func:`labkit.viz.sim.draw_sequence`).

The ``summary`` of a record comes from a summariser: a function
``frame -> str``. The default, :func:`hex_summary`, shows the length and the
first bytes in hex; upper layers set their own on the network
(``net.summariser = ...``) so that traces read "ARP who-has 192.168.1.1". If
the summariser raises a labkit error (a corrupted frame it cannot parse), the
record falls back to the hex summary and says why.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labkit.errors import LabkitError
from labkit.sim.pcap import PcapWriter
from labkit.units import format_time

if TYPE_CHECKING:
    from labkit.sim.nodes import Interface

__all__ = ["Capture", "Trace", "TraceRecord", "hex_summary", "Summariser"]

Summariser = Callable[[bytes], str]


def hex_summary(frame: bytes, width: int = 16) -> str:
    """The default summary: ``'60 bytes: ffffffffffff 020000000001 0806...'``."""
    head = frame[:width].hex()
    # group as an Ethernet-shaped reader would: 6 + 6 + 2 bytes, then the rest
    groups = [head[0:12], head[12:24], head[24:28], head[28:]]
    text = " ".join(g for g in groups if g)
    more = "…" if len(frame) > width else ""
    return f"{len(frame)} bytes: {text}{more}"


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One frame crossing one interface.

    ``time`` is virtual time in nanoseconds; ``direction`` is ``"out"``,
    ``"in"`` or ``"drop"``; ``peer`` is the node at the other end of the link;
    ``xid`` numbers the transmission (shared by its out and in records).
    """

    time: int
    node: str
    interface: str
    direction: str
    length: int
    summary: str
    frame: bytes
    xid: int
    peer: str
    note: str = ""

    @property
    def seconds(self) -> float:
        """The time in seconds (for plots)."""
        return self.time / 1e9


_COLUMNS = ("time", "interface", "dir", "len", "summary")


class Trace:
    """An ordered, read-only list of :class:`TraceRecord`, with a table view.

    Iterate it, index it, ``len()`` it, filter it with :meth:`where`; print it
    (or let Jupyter show it) for a table of time, interface, direction, length
    and summary.
    """

    __slots__ = ("_records",)

    def __init__(self, records: Iterable[TraceRecord] = ()) -> None:
        self._records = list(records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self._records)

    def __getitem__(self, i: int) -> TraceRecord:
        return self._records[i]

    def where(
        self,
        node: str | None = None,
        interface: str | None = None,
        direction: str | None = None,
        match: Callable[[TraceRecord], bool] | None = None,
    ) -> Trace:
        """The records that fit every condition given."""
        out = [
            r
            for r in self._records
            if (node is None or r.node == node)
            and (interface is None or r.interface == interface)
            and (direction is None or r.direction == direction)
            and (match is None or match(r))
        ]
        return Trace(out)

    def rows(self) -> list[tuple[str, str, str, int, str]]:
        """The table's rows: (time, interface, direction, length, summary)."""
        rows = []
        for r in self._records:
            summary = r.summary + (f"  [{r.note}]" if r.note else "")
            rows.append((format_time(r.time), r.interface, r.direction, r.length, summary))
        return rows

    def table(self, limit: int | None = 50) -> str:
        """The trace as a fixed-width text table (first ``limit`` rows; ``None``: all)."""
        rows = self.rows()
        shown = rows if limit is None else rows[:limit]
        cells = [list(_COLUMNS)] + [[str(c) for c in row] for row in shown]
        widths = [max(len(row[i]) for row in cells) for i in range(4)]
        lines = []
        for row in cells:
            lines.append(
                "  ".join(
                    [row[0].rjust(widths[0])]
                    + [row[i].ljust(widths[i]) for i in (1, 2)]
                    + [row[3].rjust(widths[3]), row[4]]
                ).rstrip()
            )
        if limit is not None and len(rows) > limit:
            lines.append(f"... {len(rows) - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"<Trace of {len(self)} records>"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in self.rows()[:200]
        )
        more = f"<p>... {len(self) - 200} more</p>" if len(self) > 200 else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


class Capture:
    """A tap on interfaces, feeding a :class:`Trace` and optionally a pcap file.

    Made by :meth:`labkit.sim.Network.capture`; stop it with :meth:`close`
    (also closes the pcap file), or use it as a context manager.
    """

    def __init__(
        self,
        interfaces: list[Interface],
        pcap: PcapWriter | None,
        summariser: Callable[[], Summariser],
    ) -> None:
        self.interfaces = list(interfaces)
        self.pcap = pcap
        self._summariser = summariser
        self._records: list[TraceRecord] = []
        self.closed = False
        for iface in self.interfaces:
            iface._add_tap(self)

    @property
    def trace(self) -> Trace:
        """Everything recorded so far."""
        return Trace(self._records)

    def _summary(self, frame: bytes) -> str:
        try:
            return self._summariser()(frame)
        except LabkitError as exc:  # a damaged frame a layer cannot parse: show its bytes
            return f"{hex_summary(frame)} (unreadable: {exc})"

    def record(
        self, time: int, iface: Interface, direction: str, frame: bytes, xid: int, note: str = ""
    ) -> None:
        """Called by an interface for every frame crossing it."""
        peer = iface.peer
        self._records.append(
            TraceRecord(
                time,
                iface.node.name,
                iface.fullname,
                direction,
                len(frame),
                self._summary(frame),
                frame,
                xid,
                peer.node.name if peer is not None else "",
                note,
            )
        )
        if self.pcap is not None and direction != "drop":
            self.pcap.write(time, frame)

    def flush(self) -> None:
        if self.pcap is not None:
            self.pcap.flush()

    def close(self) -> None:
        """Stop recording and close the pcap file."""
        if self.closed:
            return
        for iface in self.interfaces:
            iface._remove_tap(self)
        if self.pcap is not None:
            self.pcap.close()
        self.closed = True

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(i.fullname for i in self.interfaces[:4])
        more = "..." if len(self.interfaces) > 4 else ""
        return f"<Capture on {names}{more}: {len(self._records)} records>"
