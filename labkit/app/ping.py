"""ping: ICMP echo from a simulated host, printing what Linux's ``ping -c`` prints.

It runs on the host's :class:`~labkit.net.stack.IPStack` and its clock, which must
be able to wait (:class:`~labkit.link.interface.WaitingClock`, as the simulator's
is): the program sends its requests on timers, then runs the simulation until
every one is answered or has timed out. Times are virtual. :mod:`labkit.app.traceroute`
is its sibling.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from labkit.errors import LabkitError, LabkitValueError
from labkit.link.interface import WaitingClock
from labkit.net.addressing import as_address
from labkit.net.arp import NoRouteError
from labkit.net.icmp import ICMPMessage, ICMPType
from labkit.net.ipv4 import ICMP, FragmentationNeeded, IPv4Packet
from labkit.net.stack import IPStack
from labkit.units import parse_time

__all__ = ["ping", "PingResult", "stack_of"]


def stack_of(host: object) -> IPStack:
    """The IP stack of ``host`` (a simulated node after ``install_ip``, or a stack itself)."""
    stack = host if isinstance(host, IPStack) else getattr(host, "stack", None)
    if not isinstance(stack, IPStack):
        raise LabkitValueError(
            f"{getattr(host, 'name', host)!r} has no IP stack: call install_ip(net) first"
        )
    if not callable(getattr(stack.clock, "run_until", None)):
        raise LabkitValueError(
            f"{stack.name}: its clock cannot wait (no run_until), so a program cannot run to the end"
        )
    return stack


def _clock(stack: IPStack) -> WaitingClock:
    return stack.clock  # type: ignore[return-value]  # stack_of checked run_until


def _ms(ns: int) -> str:
    """A time in ms with three significant digits, as ping and traceroute print it."""
    ms = ns / 1e6
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


_PING_ERRORS = {
    (3, 0): "Destination Net Unreachable",
    (3, 1): "Destination Host Unreachable",
    (3, 2): "Destination Protocol Unreachable",
    (3, 3): "Destination Port Unreachable",
    (11, 0): "Time to live exceeded",
    (11, 1): "Frag reassembly time exceeded",
}


@dataclass
class PingResult:
    """What a ping run saw: counts, round-trip times (ns) and the printed lines."""

    destination: IPv4Address
    transmitted: int = 0
    received: int = 0
    errors: int = 0
    rtts: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def loss(self) -> float:
        """Packet loss in percent."""
        return 100.0 * (self.transmitted - self.received) / self.transmitted if self.transmitted else 0.0

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return (f"<PingResult {self.destination}: {self.transmitted} transmitted, {self.received} "
                f"received, {self.errors} errors>")


def duration_ns(value: object, name: str, *, positive: bool = False) -> int:
    """A duration given as whole nanoseconds (an int) or a string with a unit ('10ms').

    A float is refused: ``interval=0.000001`` could mean seconds or nanoseconds, and a
    float of nanoseconds would break the packets' timestamps much later, far from the call.
    """
    if isinstance(value, str):
        ns = parse_time(value, name)
    elif isinstance(value, int) and not isinstance(value, bool):
        ns = value
    else:
        raise LabkitValueError(
            f"{name}={value!r}: expected whole nanoseconds (an int: 1 s = 1_000_000_000) "
            "or a string with a unit, such as '1ms'"
        )
    if ns < 0 or (positive and ns == 0):
        raise LabkitValueError(f"{name}={value!r}: expected a {'positive' if positive else 'non-negative'} time")
    return ns


def ping(
    host: object,
    dst: object,
    count: int = 4,
    *,
    interval: int | str = 1_000_000_000,
    timeout: int | str = 10_000_000_000,
    size: int = 56,
    ttl: int | None = None,
    dont_fragment: bool = False,
    verbose: bool = True,
) -> PingResult:
    """Ping ``dst`` from simulated ``host``, printing what Linux's ``ping -c count`` prints.

    Sends ``count`` ICMP echo requests of ``size`` data bytes, ``interval``
    ns apart (an int of nanoseconds, or a string with a unit such as ``'200ms'``), and runs the simulation until every request is answered (or
    reported failed) or ``timeout`` ns after the last one (10 s, as ping
    waits at the end). Times are virtual.
    """
    stack = stack_of(host)
    clock = _clock(stack)
    d = as_address(dst, "dst")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise LabkitValueError(f"count={count!r}: expected a positive int")
    interval = duration_ns(interval, "interval")
    timeout = duration_ns(timeout, "timeout", positive=True)
    ident = 0x1000 + len(stack.icmp_listeners)
    result = PingResult(d)
    sent_at: dict[int, int] = {}
    answered: set[int] = set()
    state = {"deadline_passed": False}
    start = clock.now()

    def say(line: str) -> None:
        result.lines.append(line)
        if verbose:
            print(line)

    def listener(packet: IPv4Packet, msg: ICMPMessage, now: int) -> None:
        if msg.type == ICMPType.ECHO_REPLY and msg.identifier == ident and msg.sequence in sent_at:
            seq = msg.sequence
            if seq in answered:
                say(f"{len(msg.pack())} bytes from {packet.src}: icmp_seq={seq} ttl={packet.ttl} "
                    f"time={_ms(now - sent_at[seq])} ms (DUP!)")
                return
            answered.add(seq)
            result.received += 1
            result.rtts.append(now - sent_at[seq])
            say(f"{len(msg.pack())} bytes from {packet.src}: icmp_seq={seq} ttl={packet.ttl} "
                f"time={_ms(now - sent_at[seq])} ms")
        elif msg.is_error:
            try:
                orig = msg.original
                quoted = ICMPMessage.parse(orig.payload, verify_checksum=False)
            except LabkitError:
                return
            if orig.protocol != ICMP or quoted.identifier != ident or quoted.sequence not in sent_at:
                return
            if quoted.sequence in answered:
                return
            answered.add(quoted.sequence)
            result.errors += 1
            text = _PING_ERRORS.get((msg.type, msg.code), f"{msg.type_name}: {msg.code_name}")
            if msg.type == 3 and msg.code == 4:
                text = f"Frag needed and DF set (mtu = {msg.next_hop_mtu})"
            say(f"From {packet.src} icmp_seq={quoted.sequence} {text}")

    def send(seq: int) -> None:
        now = clock.now()
        data = now.to_bytes(8, "big") + bytes((0x10 + i) & 0xFF for i in range(max(0, size - 8)))
        sent_at[seq] = now
        result.transmitted += 1
        try:
            stack.send(d, ICMP, ICMPMessage.echo_request(ident, seq, data[:size]).pack(), ttl=ttl,
                       dont_fragment=dont_fragment)
        except NoRouteError:
            answered.add(seq)
            result.errors += 1
            say("ping: connect: Network is unreachable")
        except FragmentationNeeded as exc:
            answered.add(seq)
            result.errors += 1
            say(f"ping: local error: message too long, mtu={exc.mtu}")

    def deadline() -> None:
        state["deadline_passed"] = True

    say(f"PING {d} ({d}) {size}({size + 28}) bytes of data.")
    stack.icmp_listeners.append(listener)
    try:
        timers = [clock.call_at(start + i * interval, send, i + 1) for i in range(count)]
        timers.append(clock.call_at(start + (count - 1) * interval + timeout, deadline))
        clock.run_until(lambda: state["deadline_passed"] or len(answered) == count)
    finally:
        stack.icmp_listeners.remove(listener)
        for timer in timers:
            timer.cancel()
    elapsed = (max(sent_at.values()) - start) // 1_000_000 if sent_at else 0
    say("")
    say(f"--- {d} ping statistics ---")
    errors = f", +{result.errors} errors" if result.errors else ""
    say(f"{result.transmitted} packets transmitted, {result.received} received{errors}, "
        f"{result.loss:.0f}% packet loss, time {elapsed}ms")
    if result.rtts:
        ms = [r / 1e6 for r in result.rtts]
        mdev = statistics.pstdev(ms)
        say(f"rtt min/avg/max/mdev = {min(ms):.3f}/{statistics.fmean(ms):.3f}/{max(ms):.3f}/{mdev:.3f} ms")
    return result
