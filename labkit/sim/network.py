"""The topology API: build a network, run it, capture it.

::

    from labkit.sim import Network

    net = Network(seed=1)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.1.20/24", gateway="192.168.1.1")
    s1 = net.add_switch("S1")
    r1 = net.add_router("R1", interfaces=["192.168.1.1/24", "10.0.0.1/24"])
    net.connect(a, s1, delay="1ms", bandwidth="10Mbit", loss=0.01)
    net.connect(b, s1)
    net.connect(r1, s1)                     # R1's first free interface, eth0
    cap = net.capture(pcap="lan.pcap")      # every interface
    net.at("1ms", a.send, frame_bytes)
    net.run(until="2s")
    net["B"].inbox, cap.trace

Names are unique; ``net["A"]`` is the node, ``net["A.eth0"]`` its interface.
Addresses are checked as they are given: an IPv4 address needs its prefix
(``"/24"``), must not be the subnet's network or broadcast address, must not be
used twice in the network; a gateway must be in the host's subnet. MAC
addresses are given out in order (``02:00:00:00:00:01``, ...; locally
administered) unless you pass ``mac=``.

Times are strings with a unit (``"1ms"``) or numbers of seconds, but for the
events of :meth:`Network.at` and :meth:`Network.after`: a string with a unit or
whole nanoseconds (an int, as ``net.now``; a float is refused). Bandwidths are
strings (``"10Mbit"``) or numbers of bits per second (:mod:`labkit.units`).
Everything random draws from one generator seeded by ``seed``: the same seed
gives the same run, byte for byte.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import numbers
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from labkit.errors import LabkitValueError
from labkit.sim.capture import Capture, Summariser, hex_summary
from labkit.sim.engine import Engine, Timer
from labkit.sim.errors import TopologyError, UnknownNameError
from labkit.sim.impair import Corrupt, Delay, Duplicate, Impairment, Loss, Reorder, check_rate
from labkit.sim.link import Channel, Link
from labkit.sim.nodes import Host, Interface, Node, Router, Switch, format_mac
from labkit.sim.pcap import PcapWriter
from labkit.sim.queue import QueueDiscipline
from labkit.units import format_time, parse_rate, parse_time

__all__ = ["Network"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")

Endpoint = Node | Interface | str


def _event_time(value: object, name: str) -> int:
    """A time for :meth:`Network.at`, ``after``, ``run`` and ``run_for``: a string with a unit, or int ns.

    A float is refused: ``net.at(0.5, ...)`` and ``net.at(now + 5e6, ...)`` mean seconds in one
    writer's head and nanoseconds in another's, and the wrong reading fails far from the call.
    """
    if isinstance(value, str):
        return parse_time(value, name)
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if value < 0:
            raise LabkitValueError(f"{name}={value!r}: a time cannot be negative")
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)) and not isinstance(value, (bool, np.bool_)):
        if not float(value) >= 0 or float(value) == float("inf"):
            raise LabkitValueError(f"{name}={value!r}: expected a finite time, not negative")
        ns = round(float(value) * 1e9)
        shown = format_time(ns) if parse_time(format_time(ns)) == ns else "1.5ms"
        raise LabkitValueError(
            f"{name}={value!r}: a bare float is ambiguous (seconds? nanoseconds?); write a string "
            f"with a unit, such as {shown!r}, or whole nanoseconds as an int "
            f"({ns:_} if you meant {value!r} s)"
        )
    raise LabkitValueError(
        f"{name}={value!r}: expected a string with a unit, such as '1ms', or whole nanoseconds (int)"
    )


class Network:
    """A simulated network: nodes, links, one virtual clock and one seeded generator.

    ``seed`` (default 0) seeds :attr:`rng`; two networks built and run the
    same way with the same seed behave identically.
    """

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)):
            raise LabkitValueError(
                f"seed={seed!r}: expected a whole number, so that the run can be repeated"
            )
        #: The event engine (clock, queue, generator).
        self.engine: Engine = Engine(int(seed))
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self.captures: list[Capture] = []
        #: The summariser used by captures: a function ``frame -> str``. Layers replace it.
        self.summariser: Summariser = hex_summary
        self._xid: Iterator[int] = itertools.count(1)
        self._mac_counter: int = 0
        self._macs: dict[bytes, Interface] = {}
        self._ips: dict[ipaddress.IPv4Address, Interface] = {}

    # -- clock and randomness ------------------------------------------------------------------
    @property
    def now(self) -> int:
        """Virtual time in nanoseconds."""
        return self.engine.now

    @property
    def rng(self) -> np.random.Generator:
        """The run's seeded random generator."""
        return self.engine.rng

    @property
    def seed(self) -> int:
        return self.engine.seed

    # -- names ---------------------------------------------------------------------------------
    def _check_new_name(self, name: object, what: str) -> str:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise TopologyError(
                f"name={name!r}: a {what} name is a word of letters, digits, '_' or '-', "
                "starting with a letter (like 'A', 'S1', 'R1')"
            )
        if name in self.nodes:
            other = self.nodes[name]
            raise TopologyError(f"name={name!r}: there is already a {other.kind} called {name!r}")
        return name

    def __getitem__(self, name: str) -> Any:
        """The node called ``name`` (``"A"``), or an interface (``"A.eth0"``)."""
        if not isinstance(name, str):
            raise UnknownNameError(f"{name!r}: nodes are looked up by name, a string like 'A'")
        node_name, dot, iface_name = name.partition(".")
        node = self.nodes.get(node_name)
        if node is None:
            close = difflib.get_close_matches(node_name, list(self.nodes), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(self.nodes) or "none yet"
            raise UnknownNameError(f"no node called {node_name!r} (nodes: {known}){hint}")
        return node.interface(iface_name) if dot else node

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def interfaces(self) -> list[Interface]:
        """Every interface of every node, in the order they were made."""
        return [i for n in self.nodes.values() for i in n.interfaces]

    # -- addresses -----------------------------------------------------------------------------
    def _parse_ip(self, value: object, name: str) -> ipaddress.IPv4Interface:
        if isinstance(value, ipaddress.IPv4Interface):
            ip = value
        elif isinstance(value, str):
            if "/" not in value:
                raise TopologyError(
                    f"{name}={value!r}: give the prefix length too, e.g. '{value}/24', so the "
                    "host knows which addresses are on its own subnet"
                )
            try:
                ip = ipaddress.IPv4Interface(value.strip())
            except ValueError as exc:
                raise TopologyError(
                    f"{name}={value!r}: not an IPv4 address with a prefix like "
                    f"'192.168.1.10/24' ({exc})"
                ) from None
        else:
            raise TopologyError(f"{name}={value!r}: expected a string like '192.168.1.10/24'")
        net = ip.network
        if net.prefixlen <= 30 and ip.ip in (net.network_address, net.broadcast_address):
            which = "network" if ip.ip == net.network_address else "broadcast"
            raise TopologyError(
                f"{name}={value!r}: {ip.ip} is the {which} address of {net}; a host needs one of "
                f"{net.network_address + 1} .. {net.broadcast_address - 1}"
            )
        if ip.ip in self._ips:
            raise TopologyError(
                f"{name}={value!r}: address {ip.ip} is already used by {self._ips[ip.ip].fullname}"
            )
        return ip

    def _parse_mac(self, value: object) -> bytes:
        if isinstance(value, (bytes, bytearray)) and len(value) == 6:
            mac = bytes(value)
        elif isinstance(value, str) and _MAC_RE.match(value.strip()):
            mac = bytes.fromhex(re.sub(r"[:-]", "", value.strip()))
        else:
            raise TopologyError(
                f"mac={value!r}: expected 6 bytes or a string like '02:00:00:00:00:0a'"
            )
        if mac in self._macs:
            raise TopologyError(
                f"mac={value!r}: MAC address {format_mac(mac)} is already used by "
                f"{self._macs[mac].fullname}"
            )
        return mac

    def _next_mac(self) -> bytes:
        while True:
            self._mac_counter += 1
            mac = b"\x02\x00" + self._mac_counter.to_bytes(4, "big")
            if mac not in self._macs:
                return mac

    def _add_interface(
        self, node: Node, name: str | None, *, ip: object = None, mac: object = None
    ) -> Interface:
        if name is None:
            name = f"{node.iface_prefix}{len(node.interfaces) + node.iface_start}"
        elif not isinstance(name, str) or not _NAME_RE.match(name):
            raise TopologyError(f"name={name!r}: an interface name is a word like 'eth1'")
        if any(i.name == name for i in node.interfaces):
            raise TopologyError(f"{node.name} already has an interface called {name!r}")
        ip_obj = None if ip is None else self._parse_ip(ip, "ip")
        mac_b = self._next_mac() if mac is None else self._parse_mac(mac)
        iface = Interface(node, name, mac_b, ip_obj)
        node.interfaces.append(iface)
        self._macs[mac_b] = iface
        if ip_obj is not None:
            self._ips[ip_obj.ip] = iface
        return iface

    # -- building ------------------------------------------------------------------------------
    def add_host(
        self,
        name: str,
        ip: object = None,
        gateway: object = None,
        *,
        mac: object = None,
        tcp: Callable[..., Any] | None = None,
    ) -> Host:
        """Add a host with one interface ``eth0``; ``ip`` like ``"192.168.1.10/24"``.

        ``tcp`` makes the host's TCP connections once the transport layer is
        installed (a class or factory like :class:`labkit.transport.TCPConnection`,
        which is the default): the place a TCP of one's own plugs in.
        """
        if tcp is not None and not callable(tcp):
            raise TopologyError(f"tcp={tcp!r}: expected a class or factory of TCP connections")
        self._check_new_name(name, "host")
        ip_obj = None if ip is None else self._parse_ip(ip, "ip")
        gw = None
        if gateway is not None:
            if ip_obj is None:
                raise TopologyError(
                    f"gateway={gateway!r}: a host needs its own ip=... before a gateway"
                )
            try:
                gw = ipaddress.IPv4Address(gateway.strip() if isinstance(gateway, str) else gateway)
            except ValueError:
                raise TopologyError(
                    f"gateway={gateway!r}: expected an IPv4 address like '192.168.1.1'"
                ) from None
            if gw not in ip_obj.network:
                raise TopologyError(
                    f"gateway={gateway!r}: {gw} is not in {name}'s subnet {ip_obj.network}; a "
                    "host can only reach a gateway on its own subnet"
                )
            if gw == ip_obj.ip:
                raise TopologyError(f"gateway={gateway!r}: that is {name}'s own address")
        mac_b = None if mac is None else self._parse_mac(mac)
        host = Host(self, name, tcp=tcp)
        self._add_interface(host, "eth0", ip=ip_obj, mac=mac_b)
        host.gateway = gw
        self.nodes[name] = host
        return host

    def add_switch(self, name: str, *, logic: object = None) -> Switch:
        """Add a switch; it gets a port for every link connected to it.

        ``logic`` is the switching logic it runs once switching is installed
        (:func:`labkit.sim.stacks.install_switching`): an object, or a class made
        once per switch, with ``add_port(name)`` and ``forward(in_port, frame,
        now_ns)`` (:class:`labkit.link.bridge.SwitchLogic`). The default is labkit's
        learning switch; until switching is installed, a switch without logic
        floods like a hub.
        """
        self._check_new_name(name, "switch")
        if logic is not None and not isinstance(logic, type) and not callable(
            getattr(logic, "forward", None)
        ):
            raise TopologyError(
                f"logic={logic!r}: expected a switch logic with forward(in_port, frame, now_ns) "
                "and add_port(name), or its class"
            )
        sw = Switch(self, name, logic=logic)
        self.nodes[name] = sw
        return sw

    def add_router(
        self,
        name: str,
        interfaces: list[object] | dict[str, object] | None = None,
        *,
        forwarding: object = None,
    ) -> Router:
        """Add a router with one interface per address.

        ``interfaces`` is a list of addresses (``["192.168.1.1/24",
        "10.0.0.1/24"]`` makes ``eth0`` and ``eth1``) or a dict from interface
        name to address. :meth:`connect` joins them in order. ``forwarding`` is
        what the router does with packets for others once IP is installed
        (:func:`labkit.sim.stacks.install_ip`): an object with ``forward(stack,
        packet, arrived_on, now)`` (:class:`labkit.net.stack.Forwarding`); the
        default is labkit's.
        """
        self._check_new_name(name, "router")
        if forwarding is not None and not callable(getattr(forwarding, "forward", None)):
            raise TopologyError(
                f"forwarding={forwarding!r}: expected an object with "
                "forward(stack, packet, arrived_on, now)"
            )
        if interfaces is None:
            items: list[tuple[str | None, object]] = []
        elif isinstance(interfaces, dict):
            items = list(interfaces.items())
        elif isinstance(interfaces, (list, tuple)):
            items = [(None, ip) for ip in interfaces]
        else:
            raise TopologyError(
                f"interfaces={interfaces!r}: expected a list of addresses like "
                "['192.168.1.1/24', '10.0.0.1/24'] or a dict {'eth0': '192.168.1.1/24'}"
            )
        router = Router(self, name, forwarding=forwarding)
        # check every address before adding any, so a mistake leaves no half-built router
        seen: set[ipaddress.IPv4Address] = set()
        for _, ip in items:
            if ip is not None:
                parsed = self._parse_ip(ip, "interfaces")
                if parsed.ip in seen:
                    raise TopologyError(f"interfaces: address {parsed.ip} appears twice")
                seen.add(parsed.ip)
        for iface_name, ip in items:
            self._add_interface(router, iface_name, ip=ip)
        self.nodes[name] = router
        return router

    def _endpoint(self, value: Endpoint, arg: str) -> Interface:
        if isinstance(value, str):
            value = self[value]
        if isinstance(value, Interface):
            if value.node.net is not self:
                raise TopologyError(f"{arg}={value.fullname}: that interface is in another network")
            if value.peer is not None:
                raise TopologyError(
                    f"{arg}={value.fullname}: already connected to {value.peer.fullname}"
                )
            return value
        if isinstance(value, Node):
            if value.net is not self or self.nodes.get(value.name) is not value:
                raise TopologyError(f"{arg}={value.name}: that node is in another network")
            for iface in value.interfaces:
                if iface.channel is None:
                    return iface
            if isinstance(value, Switch):
                return self._add_interface(value, None)
            names = ", ".join(i.name for i in value.interfaces)
            raise TopologyError(
                f"{arg}={value.name}: every interface of {value.name} ({names}) is already "
                f"connected; add one with {value.name}.add_interface(ip=...)"
            )
        raise TopologyError(
            f"{arg}={value!r}: expected a node, an interface or a name like 'A' or 'R1.eth1'"
        )

    def connect(
        self,
        x: Endpoint,
        y: Endpoint,
        *,
        delay: object = "10us",
        bandwidth: object = "100Mbit",
        mtu: int = 1500,
        overhead: int = 14,
        queue: int | QueueDiscipline = 100,
        loss: float = 0.0,
        corrupt: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        jitter: object = 0,
    ) -> Link:
        """Join ``x`` and ``y`` (nodes, interfaces or names) with a full-duplex link.

        ``delay``: propagation delay (default ``"10us"``, about 2 km of
        cable). ``bandwidth``: bit rate (default ``"100Mbit"``; ``None`` for a
        transmitter that takes no time). ``mtu``: largest payload in bytes
        (default 1500), not counting ``overhead`` header bytes (default 14).
        ``queue``: frames that may wait for the transmitter (default 100;
        drop-tail), or a queue discipline from :mod:`labkit.sim.queue`
        (``DropTail(bytes=64_000)``, ``CoDel()``), copied for each direction.
        ``loss``, ``corrupt``, ``duplicate``, ``reorder``: rates of
        those impairments, each direction on its own; ``jitter``: a uniform
        extra delay of ``± jitter``. More impairments: ``link.impair(...)``.
        """
        delay_ns = parse_time(delay, "delay")
        bw = None if bandwidth is None else parse_rate(bandwidth, "bandwidth")
        qdisc = queue if isinstance(queue, QueueDiscipline) else None
        for arg, v in (("mtu", mtu), ("overhead", overhead), ("queue", 0 if qdisc is not None else queue)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise TopologyError(f"{arg}={v!r}: expected a whole number >= 0")
        if mtu < 1:
            raise TopologyError(f"mtu={mtu!r}: a link must carry at least one byte")
        rates = {
            "loss": check_rate(loss, "loss"),
            "corrupt": check_rate(corrupt, "corrupt"),
            "duplicate": check_rate(duplicate, "duplicate"),
            "reorder": check_rate(reorder, "reorder"),
        }
        jitter_ns = parse_time(jitter, "jitter")
        a = self._endpoint(x, "x")
        b = self._endpoint(y, "y")
        if a.node is b.node:
            raise TopologyError(
                f"cannot connect {a.node.name} to itself ({a.fullname} and {b.fullname})"
            )
        chans = []
        for src, dst in ((a, b), (b, a)):
            ch = Channel(
                self.engine,
                src,
                dst,
                bandwidth=bw,
                delay=delay_ns,
                mtu=int(mtu),
                overhead=int(overhead),
                queue=qdisc.spawn() if qdisc is not None else int(queue),  # type: ignore[arg-type]
                xid=self._xid,
            )
            ch.add(*self._impairments(rates, jitter_ns))
            chans.append(ch)
        link = Link(a, b, chans[0], chans[1])
        a.link = b.link = link
        a.channel, b.channel = chans
        a.peer, b.peer = b, a
        self.links.append(link)
        return link

    @staticmethod
    def _impairments(rates: dict[str, float], jitter_ns: int) -> list[Impairment]:
        out: list[Impairment] = []
        if rates["loss"]:
            out.append(Loss(rates["loss"]))
        if rates["corrupt"]:
            out.append(Corrupt(rates["corrupt"]))
        if rates["duplicate"]:
            out.append(Duplicate(rates["duplicate"]))
        if rates["reorder"]:
            out.append(Reorder(rates["reorder"]))
        if jitter_ns:
            out.append(Delay(0, jitter=f"{jitter_ns}ns"))
        return out

    def link_between(self, x: Node | str, y: Node | str) -> Link:
        """The link joining nodes ``x`` and ``y`` directly."""
        nx = self[x] if isinstance(x, str) else x
        ny = self[y] if isinstance(y, str) else y
        for link in self.links:
            if {link.a.node, link.b.node} == {nx, ny}:
                return link
        raise TopologyError(f"{nx.name} and {ny.name} are not directly connected")

    def impair(self, source: Node | str, dest: Node | str, *impairments: Impairment) -> Link:
        """Put impairments on the direction ``source`` -> ``dest`` of the link between them."""
        link = self.link_between(source, dest)
        src = self[source] if isinstance(source, str) else source
        return link.impair(*impairments, source=src)

    # -- capture -------------------------------------------------------------------------------
    def capture(
        self,
        *targets: Endpoint,
        pcap: str | os.PathLike[str] | BinaryIO | None = None,
        nanosecond: bool = True,
        summariser: Summariser | None = None,
    ) -> Capture:
        """Record frames crossing ``targets`` (nodes, interfaces or names; none = all).

        Interfaces are taken as they are now: capture after building the
        topology. A frame crossing several captured interfaces is recorded
        once at each (sent by one, received by the next), as a capture on
        several real interfaces would; capture one interface for a single
        point of view. ``pcap`` writes a libpcap file as well (nanosecond
        timestamps unless ``nanosecond=False``). ``summariser`` overrides the
        network's :attr:`summariser` for this capture's trace.
        """
        ifaces: list[Interface] = []
        if not targets:
            ifaces = self.interfaces
        for t in targets:
            if isinstance(t, str):
                t = self[t]
            if isinstance(t, Node):
                ifaces.extend(t.interfaces)
            elif isinstance(t, Interface):
                ifaces.append(t)
            else:
                raise TopologyError(
                    f"target={t!r}: expected a node, an interface or a name like 'A'"
                )
        if not ifaces:
            raise TopologyError("capture: no interfaces to capture on (build the topology first)")
        if summariser is not None and not callable(summariser):
            raise LabkitValueError(f"summariser={summariser!r}: expected a function frame -> str")
        writer = None if pcap is None else PcapWriter(pcap, nanosecond=nanosecond)
        cap = Capture(
            list(dict.fromkeys(ifaces)),
            writer,
            (lambda: summariser) if summariser is not None else (lambda: self.summariser),
        )
        self.captures.append(cap)
        return cap

    # -- running -------------------------------------------------------------------------------
    def at(self, time: object, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` at virtual time ``time``: ``"1ms"``, ``"2.5s"``, or whole nanoseconds.

        A bare int is nanoseconds, as ``net.now`` and every protocol's clock are (``net.at(0, ...)``
        is the start); a bare float is refused, since it could be either.
        """
        t = _event_time(time, "time")
        if not callable(fn):
            raise LabkitValueError(f"fn={fn!r}: expected something to call")
        if t < self.now:
            raise LabkitValueError(
                f"time={time!r}: that is in the past (now is {format_time(self.now)})"
            )
        return self.engine.timer(t - self.now, fn, *args)

    def after(self, delay: object, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` ``delay`` from now (``"10ms"``, or whole nanoseconds as for :meth:`at`)."""
        if not callable(fn):
            raise LabkitValueError(f"fn={fn!r}: expected something to call")
        return self.engine.timer(_event_time(delay, "delay"), fn, *args)

    def run(
        self, until: object = None, *, until_ns: int | None = None, max_events: int | None = None
    ) -> int:
        """Run until virtual time ``until`` (or until nothing is left to do); return events run.

        ``until`` is a time with a unit (``"2s"``) or whole nanoseconds (an int,
        as for :meth:`at`; a bare float is refused); ``until_ns`` says the same
        int more loudly (give one of them). With either, the clock ends exactly there
        even if the last event was earlier. Without them, a network with a
        periodic timer (a traffic source, a protocol's hello) never runs dry:
        give ``until``. Called from inside an event, it raises
        :class:`~labkit.sim.errors.ReentrantRunError`.
        """
        horizon = None
        if until is not None and until_ns is not None:
            raise LabkitValueError(
                f"until={until!r}, until_ns={until_ns!r}: give one of them, not both"
            )
        if until_ns is not None:
            if isinstance(until_ns, bool) or not isinstance(until_ns, (numbers.Integral, np.integer)):
                raise LabkitValueError(f"until_ns={until_ns!r}: expected whole nanoseconds (int)")
            horizon = int(until_ns)
        elif until is not None:
            horizon = _event_time(until, "until")
        if horizon is not None and horizon < self.now:
            shown = until if until is not None else until_ns
            raise LabkitValueError(
                f"until={shown!r}: that is before now ({format_time(self.now)}); "
                "use run_for() to run for a duration"
            )
        return self._run(horizon, max_events)

    def run_for(self, duration: object) -> int:
        """Run for ``duration`` more virtual time (``"10ms"`` or int ns, as for :meth:`after`); return events run."""
        return self._run(self.now + _event_time(duration, "duration"), None)

    def _run(self, horizon: int | None, max_events: int | None) -> int:
        try:
            return self.engine.run(horizon, max_events)
        finally:
            if not self.engine.running:  # an inner call refused as re-entrant flushes nothing
                self.flush()

    def flush(self) -> None:
        """Write what every capture holds to its pcap file."""
        for cap in self.captures:
            cap.flush()

    def close(self) -> None:
        """Close every capture (and its pcap file)."""
        for cap in self.captures:
            cap.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for n in self.nodes.values():
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
        desc = ", ".join(f"{v} {k}{'s' if v != 1 else ''}" for k, v in kinds.items()) or "empty"
        return (
            f"<Network seed={self.seed} now={format_time(self.now)}: {desc}, "
            f"{len(self.links)} links>"
        )
