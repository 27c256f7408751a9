"""The data link layer: Ethernet frames, MAC addresses, CRC, framing and switching.

- :mod:`~labkit.link.mac`: :class:`MACAddress`, the 48-bit hardware address;
- :mod:`~labkit.link.ethernet`: :class:`EthernetFrame` (Ethernet II, 802.1Q), sizes, FCS;
- :mod:`~labkit.link.crc`: CRC-32 bit by bit, for teaching (equal to ``zlib.crc32``);
- :mod:`~labkit.link.framing`: COBS byte stuffing to find frames in a byte stream;
- :mod:`~labkit.link.wire`: frames as Manchester-coded voltages, with preamble and SFD;
- :mod:`~labkit.link.switch`: :class:`LearningSwitch`, the MAC-learning logic of a switch;
- :mod:`~labkit.link.bridge`: :class:`Bridge`, that logic running in a simulated switch node
  (:func:`install_switching`).
"""

from labkit.link import crc, framing
from labkit.link.bridge import Bridge, BridgeEvent, install_switching
from labkit.link.ethernet import (
    FCS_LENGTH,
    HEADER_LENGTH,
    MAX_FRAME_LENGTH,
    MAX_PAYLOAD,
    MAX_TAGGED_FRAME_LENGTH,
    MIN_FRAME_LENGTH,
    MIN_PAYLOAD,
    VLAN_TAG_LENGTH,
    EthernetFrame,
    EtherType,
    VLANTag,
    fcs,
)
from labkit.link.mac import BROADCAST, MACAddress, MACAddressValueError
from labkit.link.switch import DEFAULT_AGEING_TIME_NS, Decision, LearningSwitch, MACTableEntry
from labkit.link.wire import WireReception, listen, receive_frame, transmit

__all__ = [
    "BROADCAST",
    "Bridge",
    "BridgeEvent",
    "DEFAULT_AGEING_TIME_NS",
    "Decision",
    "EtherType",
    "EthernetFrame",
    "FCS_LENGTH",
    "HEADER_LENGTH",
    "LearningSwitch",
    "MACAddress",
    "MACAddressValueError",
    "MACTableEntry",
    "MAX_FRAME_LENGTH",
    "MAX_PAYLOAD",
    "MAX_TAGGED_FRAME_LENGTH",
    "MIN_FRAME_LENGTH",
    "MIN_PAYLOAD",
    "VLANTag",
    "VLAN_TAG_LENGTH",
    "WireReception",
    "crc",
    "fcs",
    "framing",
    "install_switching",
    "listen",
    "receive_frame",
    "transmit",
]
