"""The transport layer: ports, UDP and TCP (segments and connections)."""

from labkit.transport.congestion import Ack, CongestionControl, NewReno, Reno
from labkit.transport.ports import PortAllocator, check_port, is_well_known
from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.tcp_connection import (
    ConnectionClosed,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimeout,
    State,
    TCPConfig,
    TCPConnection,
    TCPError,
    rst_for,
)
from labkit.transport.udp import UDPDatagram

__all__ = [
    "Ack",
    "CongestionControl",
    "NewReno",
    "Reno",
    "ConnectionClosed",
    "ConnectionRefused",
    "ConnectionReset",
    "ConnectionTimeout",
    "Flags",
    "PortAllocator",
    "State",
    "TCPConfig",
    "TCPConnection",
    "TCPError",
    "TCPSegment",
    "UDPDatagram",
    "check_port",
    "is_well_known",
    "rst_for",
    "tcp_options",
]
