"""One line about a frame, in tcpdump's style, naming TCP and UDP ports and flags.

The network layer's :func:`labkit.net.summary.summarise` names ARP, IPv4 and
ICMP; this one adds the transport layer's ports and TCP's flags and sequence
numbers. :mod:`labkit.sim.stacks` makes it the network's summariser when it
installs the transport layer.
"""

from __future__ import annotations

from labkit.errors import LabkitError
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.net.ipv4 import IPv4Packet
from labkit.net.summary import summarise as summarise_ip
from labkit.transport import tcp as tcp_wire
from labkit.transport import udp as udp_wire
from labkit.transport.tcp import TCPSegment

__all__ = ["summarise"]


def summarise(frame: bytes) -> str:
    """One line about a frame, in tcpdump's style, naming TCP and UDP ports and flags."""
    try:
        eth = EthernetFrame.parse(frame, fcs=False)
        if eth.ethertype != EtherType.IPV4:
            return summarise_ip(frame)
        packet = IPv4Packet.parse(eth.payload, verify_checksum=False)
    except LabkitError:
        return summarise_ip(frame)
    if packet.is_fragment and packet.fragment_offset != 0:
        return summarise_ip(frame)
    try:
        if packet.protocol == tcp_wire.PROTOCOL:
            seg = TCPSegment.parse(packet.payload)
            rest = seg.summary().split(" ", 4)[4]  # drop "TCP sport > dport"
            return f"IP {packet.src}.{seg.src_port} > {packet.dst}.{seg.dst_port}: TCP {rest}"
        if packet.protocol == udp_wire.PROTOCOL and len(packet.payload) >= udp_wire.HEADER_LENGTH:
            # Only the header: a first fragment carries the start of a longer datagram.
            sport, dport, length, _ = udp_wire.LAYOUT.struct.unpack_from(packet.payload)
            frag = " (first fragment)" if packet.more_fragments else ""
            return (f"IP {packet.src}.{sport} > {packet.dst}.{dport}: UDP, "
                    f"length {length - udp_wire.HEADER_LENGTH}{frag}")
    except LabkitError:
        pass
    return summarise_ip(frame)
