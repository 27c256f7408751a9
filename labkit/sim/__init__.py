"""labkit.sim: a deterministic network simulator for the course's lessons.

Hosts, switches and routers joined by links, on a virtual clock, with one
seeded random generator: the same seed gives the same run, the same bytes,
the same plots. The data-link, IP, ARP, ICMP, UDP and TCP lessons run on it.

Build and run (:mod:`labkit.sim.network`)::

    from labkit.sim import Network, Loss, Fault

    net = Network(seed=1)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.1.20/24", gateway="192.168.1.1")
    s1 = net.add_switch("S1")
    net.connect(a, s1, delay="1ms", bandwidth="10Mbit", loss=0.01)
    net.connect(b, s1)
    net.impair("A", "S1", Fault(nth=3))      # drop exactly the 3rd frame from A
    cap = net.capture(pcap="run.pcap")       # every interface, to a trace and a file
    net.at("0s", a.send, frame)              # frames are bytes
    net.run(until="2s")
    b.inbox                                  # what B received (default handler)
    print(cap.trace)                         # time, interface, direction, length, summary

The pieces:

- :class:`Network` (:mod:`~labkit.sim.network`): ``add_host``, ``add_switch``,
  ``add_router``, ``connect``, ``impair``, ``capture``, ``at``/``after``,
  ``run``/``run_for``, ``net["A"]``, ``net["A.eth0"]``.
- :class:`Host`, :class:`Switch`, :class:`Router`, :class:`Interface`
  (:mod:`~labkit.sim.nodes`): ``node.set_handler(fn(iface, frame, now))``,
  ``iface.send(frame)``, ``node.call_later("5ms", fn)``, ``node.rng``.
- The protocol stacks (:mod:`~labkit.sim.stacks`, imported on its own): the one
  module where the layers meet the simulator: ``install_switching``,
  ``install_ip``, ``install_transport``, ``socket``, and :class:`~labkit.sim.stacks.NodeClock`;
  ``add_switch(name, logic=...)``, ``add_router(..., forwarding=...)`` and
  ``add_host(..., tcp=...)`` give a node a component of one's own.
- :class:`Link` and :class:`Channel` (:mod:`~labkit.sim.link`): bandwidth,
  propagation delay, MTU, drop-tail queue.
- Queue disciplines (:mod:`~labkit.sim.queue`): :class:`DropTail` in packets or
  bytes and :class:`CoDel` (RFC 8289), with queue length and sojourn time logged.
- Impairments (:mod:`~labkit.sim.impair`): :class:`Loss`, :class:`Corrupt`,
  :class:`Duplicate`, :class:`Reorder`, :class:`Delay`, and the scripted
  :class:`Fault` / :func:`drop_nth`.
- Capture (:mod:`~labkit.sim.capture`, :mod:`~labkit.sim.pcap`):
  :class:`Capture`, :class:`Trace`, :class:`TraceRecord`, :class:`PcapWriter`,
  :func:`read_pcap`.
- The engine (:mod:`~labkit.sim.engine`): :class:`Engine` (integer
  nanoseconds, ties broken by scheduling order), :class:`Timer`.

Units (``"1ms"``, ``"10Mbit"``) are read by :mod:`labkit.units`; drawings are
in :mod:`labkit.viz.sim`; the scenario-test helper is :mod:`labkit.testing`.
The engine (everything here but :mod:`~labkit.sim.stacks`) imports no protocol layer; see
docs/architecture.md.
"""

from labkit.sim.capture import Capture, Trace, TraceRecord, hex_summary
from labkit.sim.engine import Engine, Timer
from labkit.sim.errors import NotConnectedError, TopologyError, UnknownNameError
from labkit.sim.impair import (
    Corrupt,
    Delay,
    Duplicate,
    Fault,
    Impairment,
    Loss,
    Reorder,
    drop_nth,
)
from labkit.sim.link import Channel, Link
from labkit.sim.network import Network
from labkit.sim.nodes import Host, Interface, Node, Received, Router, Switch, format_mac
from labkit.sim.pcap import PcapFile, PcapRecord, PcapWriter, read_pcap
from labkit.sim.queue import CoDel, DropTail, QueueDiscipline

__all__ = [
    "Capture",
    "Channel",
    "CoDel",
    "Corrupt",
    "Delay",
    "DropTail",
    "Duplicate",
    "Engine",
    "Fault",
    "Host",
    "Impairment",
    "Interface",
    "Link",
    "Loss",
    "Network",
    "Node",
    "NotConnectedError",
    "PcapFile",
    "PcapRecord",
    "PcapWriter",
    "QueueDiscipline",
    "Received",
    "Reorder",
    "Router",
    "Switch",
    "Timer",
    "TopologyError",
    "Trace",
    "TraceRecord",
    "UnknownNameError",
    "drop_nth",
    "format_mac",
    "hex_summary",
    "read_pcap",
]
