"""traceroute: the path to a host, hop by hop, printing what ``traceroute -n -I`` prints.

Probes are ICMP echo requests with TTL 1, 2, 3...; each router where the TTL
runs out answers ICMP time exceeded from its address, which names the hop. It
runs on a simulated host's :class:`~labkit.net.stack.IPStack` and waiting clock,
as :mod:`labkit.app.ping` does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from labkit.app.ping import _clock, _ms, duration_ns, stack_of
from labkit.errors import LabkitError
from labkit.net.addressing import as_address
from labkit.net.arp import NoRouteError
from labkit.net.icmp import ICMPMessage, ICMPType
from labkit.net.ipv4 import ICMP, IPv4Packet

__all__ = ["traceroute", "TraceResult"]


@dataclass
class TraceResult:
    """What traceroute saw: for each hop, the answering address (or None) and the RTTs (ns)."""

    destination: IPv4Address
    hops: list[list[tuple[IPv4Address | None, int | None, str]]] = field(default_factory=list)
    reached: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def path(self) -> list[IPv4Address | None]:
        """The first address that answered at each hop (``None`` for ``* * *``)."""
        return [next((a for a, _, _ in hop if a is not None), None) for hop in self.hops]

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return f"<TraceResult {self.destination}: {len(self.hops)} hops, reached={self.reached}>"


def traceroute(
    host: object,
    dst: object,
    *,
    max_hops: int = 30,
    queries: int = 3,
    wait: int | str = 1_000_000_000,
    verbose: bool = True,
) -> TraceResult:
    """Trace the route to ``dst``, printing what ``traceroute -n -I`` prints.

    Sends ICMP echo requests with TTL 1, 2, 3...; the router where the TTL
    runs out answers with ICMP time exceeded from its address, which names
    that hop; the destination answers the echo itself, which ends the trace.
    (Classic Unix traceroute sends UDP to high ports instead and stops at the
    port unreachable; ``-I`` and Windows' ``tracert`` use ICMP echo, as here:
    this layer has no UDP.) Each probe waits at most ``wait`` ns.
    """
    stack = stack_of(host)
    clock = _clock(stack)
    d = as_address(dst, "dst")
    wait = duration_ns(wait, "wait", positive=True)
    ident = 0x2000 + len(stack.icmp_listeners)
    result = TraceResult(d)
    seq_counter = itertools.count(1)
    probe: dict[str, Any] = {"seq": None, "sent": 0, "timer": None, "ttl": 0, "n": 0}
    line: list[str] = []
    state: dict[str, Any] = {"done": False, "last_addr": None}

    def say(text: str) -> None:
        result.lines.append(text)
        if verbose:
            print(text)

    def record(addr: IPv4Address | None, rtt: int | None, mark: str) -> None:
        hop = result.hops[-1]
        hop.append((addr, rtt, mark))
        if addr is None:
            line.append(" *")
        else:
            if addr != state["last_addr"]:
                line.append(f"  {addr}")
                state["last_addr"] = addr
            line.append(f"  {_ms(rtt or 0)} ms{mark}")
        next_probe()

    def next_probe() -> None:
        if probe["timer"] is not None:
            probe["timer"].cancel()
            probe["timer"] = None
        if probe["n"] == queries or probe["ttl"] == 0:
            if probe["ttl"]:
                say(f"{probe['ttl']:>2}" + "".join(line))
                stopped = any(m in (" !N", " !H", " !P") for _, _, m in result.hops[-1])
                if result.reached or stopped or probe["ttl"] >= max_hops:
                    state["done"] = True
                    return
            probe["ttl"] += 1
            probe["n"] = 0
            line.clear()
            state["last_addr"] = None
            result.hops.append([])
        probe["n"] += 1
        seq = next(seq_counter)
        probe["seq"] = seq
        probe["sent"] = clock.now()
        try:
            stack.send(d, ICMP, ICMPMessage.echo_request(ident, seq, bytes(32)).pack(), ttl=probe["ttl"])
        except NoRouteError:
            say("traceroute: connect: Network is unreachable")
            state["done"] = True
            return
        probe["timer"] = clock.call_at(clock.now() + wait, on_timeout, seq)

    def on_timeout(seq: int) -> None:
        if probe["seq"] == seq:
            probe["timer"] = None
            record(None, None, "")

    def listener(packet: IPv4Packet, msg: ICMPMessage, now: int) -> None:
        if state["done"]:
            return
        if msg.type == ICMPType.ECHO_REPLY:
            if msg.identifier == ident and msg.sequence == probe["seq"]:
                result.reached = True
                record(packet.src, now - probe["sent"], "")
            return
        if not msg.is_error:
            return
        try:
            quoted = ICMPMessage.parse(msg.original.payload, verify_checksum=False)
        except LabkitError:
            return
        if quoted.identifier != ident or quoted.sequence != probe["seq"]:
            return
        mark = ""
        if msg.type == ICMPType.DESTINATION_UNREACHABLE:
            mark = {0: " !N", 1: " !H", 2: " !P"}.get(msg.code, f" !<{msg.code}>")
        record(packet.src, now - probe["sent"], mark)

    say(f"traceroute to {d} ({d}), {max_hops} hops max, 60 byte packets")
    stack.icmp_listeners.append(listener)
    try:
        clock.call_at(clock.now(), next_probe)
        clock.run_until(lambda: state["done"])
    finally:
        stack.icmp_listeners.remove(listener)
        if probe["timer"] is not None:
            probe["timer"].cancel()
    return result
