"""Figures and a widget for lesson 11 (DHCP and DNS).

- :func:`dns_world` / :func:`dhcp_lan`: the lesson's simulated networks, ready to run;
- :func:`exchanges`: the DHCP, DNS and ARP messages of a capture, as arrows between hosts;
- :func:`draw_sequence`: those arrows as a sequence (time) diagram: DORA, a resolution;
- :func:`draw_lease_timeline`: a DHCP client's lease, with T1, T2 and the expiry;
- :class:`CacheTTLExplorer`: a widget: the TTL of one record against the questions a
  resolver sends and the stale answers it gives after the record changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.app.dhcp import DHCPClient, DHCPMessage, DHCPRelay, DHCPServer
from labkit.app.dns import Message, ResourceRecord
from labkit.app.dns_service import AuthoritativeServer, RecursiveResolver, Zone
from labkit.errors import LabkitError
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.net.arp import ARPPacket
from labkit.net.ipv4 import IPv4Packet
from labkit.sim import Network
from labkit.sim.stacks import install_ip, install_transport
from labkit.transport.udp import UDPDatagram
from labkit.viz.phy import figure_output

__all__ = ["dns_world", "dhcp_lan", "Exchange", "exchanges", "draw_sequence",
           "draw_lease_timeline", "CacheTTLExplorer", "cache_ttl_explorer", "ttl_run"]

RR = ResourceRecord.make
HOSTS = {"client": "10.0.0.10", "resolver": "10.0.0.53", "root": "10.0.0.2", "tld": "10.0.0.3",
         "auth": "10.0.0.4"}


def dns_zones(www_ttl: int = 300) -> dict[str, Zone]:
    """The root zone, com. and example.com. of the lesson (negative TTL of example.com.: 60 s)."""
    root = Zone(".", [
        RR(".", "SOA", ("a.root-servers.net.", "nstld.example.", 1, 1800, 900, 604800, 86400)),
        RR(".", "NS", "a.root-servers.net.", ttl=518400),
        RR("a.root-servers.net.", "A", HOSTS["root"], ttl=518400),
        RR("com.", "NS", "a.gtld-servers.net.", ttl=172800),
        RR("a.gtld-servers.net.", "A", HOSTS["tld"], ttl=172800),
    ])
    com = Zone("com.", [
        RR("com.", "SOA", ("a.gtld-servers.net.", "nstld.example.", 1, 1800, 900, 604800, 900)),
        RR("com.", "NS", "a.gtld-servers.net.", ttl=172800),
        RR("example.com.", "NS", "ns1.example.com.", ttl=172800),
        RR("ns1.example.com.", "A", HOSTS["auth"], ttl=172800),
    ])
    ex = Zone("example.com.", [
        RR("example.com.", "SOA", ("ns1.example.com.", "admin.example.com.", 1, 3600, 600,
                                   86400, 60), ttl=3600),
        RR("example.com.", "NS", "ns1.example.com.", ttl=3600),
        RR("ns1.example.com.", "A", HOSTS["auth"], ttl=3600),
        RR("www.example.com.", "A", "10.0.0.80", ttl=www_ttl),
        RR("web.example.com.", "CNAME", "www.example.com.", ttl=600),
        RR("example.com.", "MX", (10, "mail.example.com."), ttl=300),
        RR("mail.example.com.", "A", "10.0.0.25", ttl=300),
    ])
    return {"root": root, "tld": com, "auth": ex}


def dns_world(www_ttl: int = 300, *, seed: int = 1, loss: float = 0.0, pcap: Any = None
              ) -> tuple[Network, RecursiveResolver, dict[str, Zone], Any]:
    """A client, a recursive resolver and the root, TLD and authoritative servers on one LAN.

    Returns the network, the resolver (on host ``resolver``, serving on port 53),
    the zones (change a record to see caches go stale) and the capture of
    every host's interface (written to ``pcap`` too, if given).
    """
    net = Network(seed=seed)
    net.add_switch("S")
    for name, ip in HOSTS.items():
        extra: dict[str, Any] = {"loss": loss} if loss and name == "resolver" else {}
        net.connect(net.add_host(name, ip=f"{ip}/24"), "S", delay="5ms", **extra)
    install_transport(net)
    zones = dns_zones(www_ttl)
    for host in ("root", "tld", "auth"):
        AuthoritativeServer([zones[host]]).serve(net[host].transport)
    resolver = RecursiveResolver([("a.root-servers.net.", HOSTS["root"])],
                                 transport=net["resolver"].transport, timeout=1.0,
                                 rng=np.random.default_rng(seed))
    resolver.serve()
    cap = net.capture(*[net[h] for h in HOSTS], pcap=pcap)
    return net, resolver, zones, cap


def dhcp_lan(lease_time: int = 120, *, seed: int = 1, pcap: Any = None, relay: bool = False
             ) -> tuple[Network, DHCPServer, DHCPClient, Any]:
    """A DHCP server and a client with no address (across a relaying router if ``relay``)."""
    net = Network(seed=seed)
    net.add_switch("S")
    client = net.add_host("client")
    net.connect(client, "S", delay="1ms")
    if relay:
        srv = net.add_host("server", ip="10.0.2.2/24", gateway="10.0.2.1")
        r = net.add_router("router", interfaces={"eth0": "10.0.0.1/24", "eth1": "10.0.2.1/24"})
        net.connect(r["eth0"], "S", delay="1ms")
        net.connect(r["eth1"], srv, delay="1ms")
    else:
        srv = net.add_host("server", ip="10.0.0.1/24")
        net.connect(srv, "S", delay="1ms")
    install_ip(net)
    if relay:
        DHCPRelay(net["router"].stack, server="10.0.2.2")
    server = DHCPServer(srv.stack, network="10.0.0.0/24", pool=("10.0.0.100", "10.0.0.199"),
                        router="10.0.0.1", dns_servers=[HOSTS["resolver"]], lease_time=lease_time,
                        domain_name="example.com")
    dhcp_client = DHCPClient(client.stack, np.random.default_rng(seed), hostname="pc1")
    hosts = [client, srv] + ([net["router"]] if relay else [])
    cap = net.capture(*hosts, pcap=pcap)
    return net, server, dhcp_client, cap


# --------------------------------------------------------------------------- reading a capture


@dataclass(frozen=True)
class Exchange:
    """One message between two hosts: sent at ``sent``, arrived at ``arrived`` (seconds)."""

    sent: float
    arrived: float
    src: str
    dst: str
    label: str
    kind: str  # "dhcp", "dns", "arp"


def describe(frame: bytes) -> tuple[str, str] | None:
    """(kind, label) for a DHCP, DNS or ARP frame; None for anything else."""
    try:
        eth = EthernetFrame.parse(frame, fcs=False)
        if eth.ethertype == EtherType.ARP:
            a = ARPPacket.parse(eth.payload)
            if a.sender_ip == IPv4Address(0):
                return "arp", f"ARP probe: who has {a.target_ip}?"
            if a.sender_ip == a.target_ip:
                return "arp", f"ARP announce {a.sender_ip}"
            return "arp", f"ARP {'who has ' + str(a.target_ip) if a.operation == 1 else 'reply'}"
        if eth.ethertype != EtherType.IPV4:
            return None
        ip = IPv4Packet.parse(eth.payload)
        if ip.protocol != 17:
            return None
        udp = UDPDatagram.parse(ip.payload)
        ports = {udp.src_port, udp.dst_port}
        if ports & {67, 68}:
            m = DHCPMessage.parse(udp.payload)
            extra = f" {m.yiaddr}" if m.message_type in ("OFFER", "ACK") else ""
            return "dhcp", f"DHCP {m.message_type}{extra}"
        if 53 in ports:
            d = Message.parse(udp.payload)
            q = d.questions[0] if d.questions else None
            qt = f"{q.name} {_tname(q.qtype)}" if q else "?"
            if not d.qr:
                return "dns", f"query {qt}"
            if d.rcode == 3:
                return "dns", "NXDOMAIN"
            if d.answers:
                return "dns", "answer " + ", ".join(str(r.data) for r in d.answers[:2])
            ns = [r for r in d.authority if r.rtype == 2]
            if ns:
                return "dns", f"referral: {ns[0].name} NS {ns[0].data}"
            return "dns", "no data"
    except LabkitError:
        return None
    return None


def _tname(t: int) -> str:
    from labkit.app.dns import type_name
    return type_name(t)


def exchanges(capture: Any, kinds: Sequence[str] = ("dhcp", "dns", "arp")) -> list[Exchange]:
    """The messages of ``capture`` (a capture of the hosts' interfaces), sender to receiver.

    A frame sent by one host and received by others is one arrow to each; a
    broadcast that nobody captured received is an arrow to ``"(all)"``.
    """
    records = list(capture.trace)
    ins = [r for r in records if r.direction == "in"]
    out: list[Exchange] = []
    for r in records:
        if r.direction != "out":
            continue
        d = describe(r.frame)
        if d is None or d[0] not in kinds:
            continue
        got = [i for i in ins if i.frame == r.frame and i.time >= r.time and i.node != r.node]
        # keep only the first arrival at each host
        seen: set[str] = set()
        for i in got:
            if i.node in seen:
                continue
            seen.add(i.node)
            out.append(Exchange(r.time / 1e9, i.time / 1e9, r.node, i.node, d[1], d[0]))
        if not got:
            out.append(Exchange(r.time / 1e9, r.time / 1e9, r.node, "(all)", d[1], d[0]))
    # one arrival per transmission and receiver: the same frame may be sent twice (retries)
    out.sort(key=lambda e: (e.sent, e.arrived))
    uniq: list[Exchange] = []
    for e in out:
        if uniq and any(u.src == e.src and u.dst == e.dst and u.arrived == e.arrived for u in uniq):
            continue
        uniq.append(e)
    return uniq


_COLOURS = {"dhcp": "tab:blue", "dns": "tab:green", "arp": "tab:orange"}


def draw_sequence(events: Sequence[Exchange], lanes: Sequence[str], *, ax: Axes | None = None,
                  title: str = "", numbered: bool = False, time_scale: str = "index") -> Axes:
    """A sequence diagram: one vertical line per host, one arrow per message, time downwards.

    ``time_scale="index"`` spaces the messages evenly (and writes each one's
    time); ``"time"`` draws them at their real times (seconds).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 0.55 * len(events) + 1.5))
    xs = {name: i for i, name in enumerate(lanes)}
    n = len(events)
    for name, x in xs.items():
        ax.plot([x, x], [-0.5, n - 0.3], color="0.6", lw=1, zorder=0)
        ax.text(x, -0.8, name, ha="center", va="bottom", fontsize=10, fontweight="bold")
    for k, e in enumerate(events):
        if e.src not in xs or e.dst not in xs:
            continue
        y0 = k if time_scale == "index" else e.sent
        y1 = (k + 0.6) if time_scale == "index" else e.arrived
        x0, x1 = xs[e.src], xs[e.dst]
        colour = _COLOURS.get(e.kind, "k")
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.6))
        label = f"{k + 1}. {e.label}" if numbered else e.label
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 - 0.12, label, ha="center", va="bottom", fontsize=8,
                color=colour, bbox=dict(fc="white", ec="none", alpha=0.8, pad=0.5))
        ax.text(len(lanes) - 0.45, y0, f"{e.sent * 1000:.1f} ms" if e.sent < 10 else f"{e.sent:.1f} s",
                fontsize=7, color="0.35", va="center")
    ax.set_xlim(-0.6, len(lanes) - 0.1)
    ax.set_ylim(n + 0.2, -1.1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def draw_lease_timeline(client: DHCPClient, *, until: float | None = None,
                        ax: Axes | None = None) -> Axes:
    """A DHCP client's states over time, with the lease's T1, T2 and expiry marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.8))
    hist = client.history
    end = until if until is not None else (hist[-1][0] + 5 if hist else 10)
    colours = {"SELECTING": "0.8", "PROBING": "tab:orange", "BOUND": "tab:green",
               "RENEWING": "gold", "REBINDING": "tab:red", "INIT": "0.9"}
    spans: list[tuple[float, str]] = []
    for t, e in hist:
        word = e.split(" ")[0]
        state = {"DISCOVER": "SELECTING", "ARP": "PROBING", "BOUND": "BOUND", "T1:": "RENEWING",
                 "T2:": "REBINDING", "RENEW": "RENEWING", "REBIND": "REBINDING",
                 "lease": "SELECTING", "conflict:": "INIT"}.get(word)
        if state is not None and (not spans or spans[-1][1] != state):
            spans.append((t, state))
    for (t0, state), nxt in zip(spans, spans[1:] + [(end, "")]):
        ax.barh(0, nxt[0] - t0, left=t0, height=0.5, color=colours[state], edgecolor="white")
        if nxt[0] - t0 > end / 30:
            ax.text((t0 + nxt[0]) / 2, 0, state, ha="center", va="center", fontsize=8)
    # T1, T2 and the expiry of the last lease bound (each renewal starts a new lease)
    last = [(t, e) for t, e in hist if e.startswith("BOUND") and " for " in e]
    if last:
        t0, e = last[-1]
        lease = float(e.split(" for ")[1].split(" ")[0])
        for frac, name in ((0.5, "T1"), (0.875, "T2"), (1.0, "expiry")):
            x = t0 + frac * lease
            if x <= end:
                ax.axvline(x, color="k", ls="--", lw=1)
                ax.text(x, 0.3, f"{name}\n{x:.0f} s", ha="center", va="bottom", fontsize=8,
                        bbox=dict(fc="white", ec="none", alpha=0.8, pad=0.5))
    for t, e in hist:
        if e.startswith(("DISCOVER", "ACK", "NAK", "T1", "T2", "RENEW", "REBIND", "conflict")):
            ax.plot([t], [-0.3], marker="v", color="k", ms=5)
    ax.set_xlim(0, end)
    ax.set_ylim(-0.6, 0.9)
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    ax.set_title("the client's lease: states over time (▼ = a message; dashed: the last "
                 "lease's T1, T2, expiry)", fontsize=10)
    ax.get_figure().tight_layout()  # type: ignore[union-attr]
    return ax


# --------------------------------------------------------------------------- the widget


def ttl_run(ttl: int, *, interval: float = 30.0, duration: float = 1800.0,
            move_at: float = 600.0) -> dict[str, Any]:
    """Resolve www.example.com every ``interval`` s; the address moves at ``move_at`` s.

    Returns the lookup times, the questions each sent upstream, whether each
    answer was stale (the old address after the move), and the totals.
    """
    net, resolver, zones, cap = dns_world(www_ttl=ttl)
    cap.close()
    times, sent, stale = [], [], []
    moved = False
    t = 0.0
    while t < duration:
        if not moved and t >= move_at:
            zones["auth"].replace("www.example.com.", "A",
                                  [RR("www.example.com.", "A", "10.0.0.81", ttl=ttl)])
            moved = True
        before = resolver.queries_sent
        res = resolver.resolve("www.example.com")
        times.append(t)
        sent.append(resolver.queries_sent - before)
        stale.append(moved and res.addresses == ["10.0.0.80"])
        t += interval
        net.run(until=f"{t}s")
    return {"times": times, "sent": sent, "stale": stale, "queries": sum(sent),
            "stale_answers": sum(stale), "lookups": len(times)}


class CacheTTLExplorer(widgets.VBox):
    """A slider for the TTL of www.example.com's A record, and what the resolver does with it.

    The figure shows, for a lookup every 30 s over 30 minutes, how many
    questions each lookup sent upstream (a cache miss walks the tree; a hit
    sends none), and which answers were stale after the address moved at
    10 minutes. A long TTL saves questions; a short one notices the move sooner.
    """

    def __init__(self, ttl: int = 300) -> None:
        self.ttl = widgets.SelectionSlider(options=[0, 30, 60, 120, 300, 600, 900, 1800],
                                           value=ttl, description="TTL (s)",
                                           continuous_update=False)
        self.out = widgets.Output()
        super().__init__([self.ttl, self.out])
        self.ttl.observe(self._redraw, names="value")
        self._redraw()

    def result(self) -> dict[str, Any]:
        return ttl_run(int(self.ttl.value))

    def summary(self, r: dict[str, Any] | None = None) -> str:
        r = r if r is not None else self.result()
        return (f"TTL {self.ttl.value} s: {r['lookups']} lookups, {r['queries']} questions sent "
                f"upstream, {r['stale_answers']} stale answers after the move")

    def figure(self) -> Figure:
        r = self.result()
        fig, ax = plt.subplots(figsize=(9, 3.2))
        t = np.array(r["times"]) / 60
        ax.bar(t, r["sent"], width=0.4, color="tab:blue", label="questions for this lookup")
        ax.axvline(10, color="k", ls="--", lw=1)
        ax.text(10.1, max(r["sent"] + [1]) * 0.95, "www moves to 10.0.0.81", fontsize=8, va="top")
        hits = [x for x, n in zip(t, r["sent"]) if n == 0]
        ax.plot(hits, [0.08] * len(hits), "|", color="tab:green", ms=8, label="answered from the cache")
        stale = [x for x, old in zip(t, r["stale"]) if old]
        ax.plot(stale, [0.35] * len(stale), "x", color="tab:red", ms=7,
                label="stale: the old address, after the move")
        ax.set_xlabel("time (minutes)")
        ax.set_ylabel("questions sent upstream")
        ax.set_ylim(0, 3.6)
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(self.summary(r), fontsize=10)
        fig.tight_layout()
        return fig

    def _redraw(self, _change: object = None) -> None:
        self.out.outputs = (figure_output(self.figure(), f"<{self.summary()}>"),)

    def __repr__(self) -> str:
        return f"CacheTTLExplorer({self.summary()})"


def cache_ttl_explorer(ttl: int = 300) -> CacheTTLExplorer:
    """Return a :class:`CacheTTLExplorer`; display it as a cell's last value."""
    return CacheTTLExplorer(ttl)
