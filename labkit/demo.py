"""The ``labkit demo`` scenario: the capstone's web request, and what each layer saw of it.

The network, the fetch and the layer views are :mod:`labkit.capstone`'s (two
LANs, two routers, a web server); this module adds only the two choices the
demo makes and collects what it reports:

- :func:`hop`: where the routers' hop R1 = R2 runs: the simulated boards'
  byte bridge (the default), two real boards (``hardware=(tx, rx)``, or the
  ``LABKIT_TX_PORT`` / ``LABKIT_RX_PORT`` environment), or a plain simulated
  link (``wire=False``);
- :func:`scenario`: build the network on that hop (capturing C's interface,
  to a pcap file if asked), fetch the page and return a :class:`DemoRun`.

The command line (:mod:`labkit.cli.demo`) prints a :class:`DemoRun`; its
printing function is still importable here as ``labkit.demo.run``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit.capstone import (
    BridgeHop,
    Exchange,
    Layer,
    build,
    fetch,
    layers,
    reply_frames,
    request_frame,
    wire_signal,
)

__all__ = ["Hop", "DemoRun", "hop", "scenario"]


@dataclass(frozen=True)
class Hop:
    """Where the routers' hop runs (see :func:`hop`)."""

    #: :func:`labkit.capstone.build`'s ``wire``: ``"bridge"`` (boards) or ``"sim"`` (a link)
    wire: str
    #: the ports :func:`labkit.capstone.build` opens; ``(None, None)``: the environment's, else sim
    ports: tuple[str | None, str | None]
    #: the real boards' ports, or ``None`` for the simulated ones
    boards: tuple[str, str] | None

    @property
    def where(self) -> str:
        """The hop in words, for the demo's heading."""
        if self.boards:
            return "real boards " + " -> ".join(self.boards)
        return "the simulated boards' byte bridge" if self.wire == "bridge" else "a simulated link"


def hop(hardware: tuple[str, str] | None = None, wire: bool = True) -> Hop:
    """The routers' hop: on ``hardware`` (tx, rx) if given, else the bridge if ``wire``, else a link.

    ``("sim", "sim")`` means the simulated pair whatever the environment says;
    with neither ``hardware`` nor ``wire=False``, the environment's
    ``LABKIT_TX_PORT`` / ``LABKIT_RX_PORT`` name real boards if set.
    """
    mode = "bridge" if wire or hardware else "sim"
    ports: tuple[str | None, str | None] = hardware if hardware else (None, None)
    boards = None if hardware and all(port == "sim" for port in hardware) else hardware
    from_env = (os.environ.get("LABKIT_TX_PORT") or "sim", os.environ.get("LABKIT_RX_PORT") or "sim")
    if ports == (None, None) and mode == "bridge" and from_env != ("sim", "sim"):
        boards = from_env  # capstone.build's open_pair takes real boards from the environment
    return Hop(mode, ports, boards)


@dataclass
class DemoRun:
    """What one run of the demo saw."""

    hop: Hop
    #: the request and the reply, with their virtual times
    exchange: Exchange
    #: the request's frame as it left C, one view per layer, HTTP first and the wire last
    request: list[Layer]
    #: that frame on the wire: its bits, and its samples (8 per bit, Manchester)
    bits: np.ndarray
    volts: np.ndarray
    #: the first reply segment's frame as it reached C, one view per layer (HTTP first)
    reply: list[Layer]
    #: how many frames carried the reply's bytes to C
    reply_frames: int
    #: the bridge on the routers' hop, one per direction (counters: frames, wire_bytes, lost)
    bridges: list[BridgeHop]
    #: frames captured at C (all of them are in ``pcap`` if one was written)
    captured: int
    #: requests W served
    served: int
    pcap: Any = None

    @property
    def ok(self) -> bool:
        """The page arrived: ``200 OK``."""
        return self.exchange.response.status == 200


def scenario(where: Hop | None = None, *, pcap: Any = None, seed: int = 9,
             progress: Callable[[int, int, int | None], None] | None = None) -> DemoRun:
    """Build the capstone's network on ``where`` (default :func:`hop`), fetch ``/``, report.

    ``pcap``: a file name (or binary file) for C's capture. ``progress(now_ns,
    received, expected)`` is called as reply bytes arrive. Boards that cannot
    be opened raise a ``LabkitError`` (or ``OSError``).
    """
    where = where or hop()
    with build(seed=seed, wire=where.wire, ports=where.ports, pcap=pcap) as cap:
        exchange = fetch(cap, progress=progress)
        trace = cap.capture.trace
        frame = request_frame(trace)
        bits, volts = wire_signal(frame)
        replies = reply_frames(trace)
        return DemoRun(
            hop=where, exchange=exchange, request=layers(frame), bits=bits, volts=volts,
            reply=layers(replies[0]) if replies else [], reply_frames=len(replies),
            bridges=list(cap.hops), captured=len(trace), served=cap.server.served, pcap=pcap,
        )


def __getattr__(name: str) -> Any:
    if name == "run":  # the terminal report, before it moved to the command line
        from labkit.cli.demo import print_demo

        return print_demo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
