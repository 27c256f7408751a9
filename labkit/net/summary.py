"""One line about a frame carrying ARP or IPv4, in tcpdump's style, for traces and diagrams.

:func:`summarise` is what a capture's trace prints (``ARP, Request who-has ...``,
``IP a > b: ICMP echo request ...``); :func:`short_summary` labels an arrow in a
sequence diagram. :mod:`labkit.sim.stacks` makes :func:`summarise` the network's
summariser when it installs IP.
"""

from __future__ import annotations

from labkit.errors import LabkitError, ParseError
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.net.arp import ARPPacket
from labkit.net.icmp import ICMPMessage, ICMPType
from labkit.net.ipv4 import ICMP, IPv4Packet, protocol_name

__all__ = ["summarise", "short_summary"]


def _field(exc: LabkitError) -> str:
    return exc.field if isinstance(exc, ParseError) else type(exc).__name__


def summarise(frame: bytes) -> str:
    """One line about an Ethernet frame carrying ARP or IPv4, in tcpdump's style."""
    try:
        eth = EthernetFrame.parse(frame, fcs=False)
    except LabkitError:
        return f"{len(frame)} bytes (not Ethernet)"
    if eth.ethertype == EtherType.ARP:
        try:
            return ARPPacket.parse(eth.payload).summary()
        except LabkitError as exc:
            return f"ARP, unreadable ({_field(exc)})"
    if eth.ethertype != EtherType.IPV4:
        return f"{eth.summary()}"
    try:
        p = IPv4Packet.parse(eth.payload, verify_checksum=False)
    except LabkitError as exc:
        return f"IP, unreadable ({_field(exc)})"
    head = f"IP {p.src} > {p.dst}: ttl {p.ttl}"
    if p.is_fragment:
        frag = f" (frag {p.identification}:{len(p.payload)}@{p.fragment_offset_bytes}" \
               f"{'+' if p.more_fragments else ''})"
    else:
        frag = ""
    if p.protocol == ICMP and p.fragment_offset == 0:
        try:
            return f"{head}{frag} {ICMPMessage.parse(p.payload, verify_checksum=False).summary()}"
        except LabkitError:
            pass
    return f"{head}{frag} {protocol_name(p.protocol)}, length {len(p.payload)}"


def short_summary(frame: bytes) -> str:
    """A few words about a frame, short enough to label an arrow in a sequence diagram.

    ``ARP who-has 10.0.1.1``, ``ARP 10.0.1.1 is-at ..:00:03``, ``echo request ttl=64``,
    ``time exceeded``, ``frag 552@0+``.
    """
    try:
        eth = EthernetFrame.parse(frame, fcs=False)
        if eth.ethertype == EtherType.ARP:
            arp = ARPPacket.parse(eth.payload)
            if arp.operation == 1:
                return f"ARP who-has {arp.target_ip}" + (" (gratuitous)" if arp.is_gratuitous else "")
            return f"ARP {arp.sender_ip} is-at ..{str(arp.sender_mac)[-5:]}"
        p = IPv4Packet.parse(eth.payload, verify_checksum=False)
    except LabkitError:
        return f"{len(frame)} bytes"
    if p.is_fragment and p.fragment_offset:
        return f"frag {len(p.payload)}@{p.fragment_offset_bytes}{'+' if p.more_fragments else ''}"
    text = f"{protocol_name(p.protocol)} ttl={p.ttl}"
    if p.protocol == ICMP:
        try:
            msg = ICMPMessage.parse(p.payload, verify_checksum=False)
        except LabkitError:
            msg = None
        if msg is not None and msg.is_error:
            text = msg.code_name if msg.type == ICMPType.DESTINATION_UNREACHABLE else msg.type_name
        elif msg is not None:
            text = f"{msg.type_name} ttl={p.ttl}"
    if p.is_fragment:
        text += f" (frag {len(p.payload)}@0+)"
    return text
