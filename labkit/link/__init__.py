"""The data link layer: Ethernet frames, MAC addresses, CRC, framing and switching.

- :mod:`~labkit.link.mac`: :class:`MACAddress`, the 48-bit hardware address;
- :mod:`~labkit.link.ethernet`: :class:`EthernetFrame` (Ethernet II, 802.1Q), sizes, FCS;
- :mod:`~labkit.link.crc`: CRC-32 bit by bit, for teaching (equal to ``zlib.crc32``);
- :mod:`~labkit.link.framing`: COBS byte stuffing to find frames in a byte stream;
- :mod:`~labkit.link.wire`: frames as Manchester-coded voltages, with preamble and SFD;
- :mod:`~labkit.link.switch`: :class:`LearningSwitch`, the MAC-learning logic of a switch;
- :mod:`~labkit.link.bridge`: :class:`Bridge`, a switch's logic at work on its interfaces, and
  :class:`SwitchLogic`, the door a switch of one's own comes through;
- :mod:`~labkit.link.interface`: :class:`NetworkInterface` and :class:`Clock`, what the layers
  see of a node.

:func:`labkit.sim.stacks.install_switching` puts bridges in a simulated network's switches
(still importable from here, for notebooks written before it moved).
"""


from labkit._moved import moved
from labkit.link import crc, framing
from labkit.link.bridge import Bridge, BridgeEvent, SwitchLogic
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
from labkit.link.interface import Clock, NetworkInterface
from labkit.link.mac import BROADCAST, MACAddress, MACAddressValueError
from labkit.link.switch import DEFAULT_AGEING_TIME_NS, Decision, LearningSwitch, MACTableEntry
from labkit.link.wire import WireReception, listen, receive_frame, transmit

__all__ = [
    "BROADCAST",
    "Bridge",
    "BridgeEvent",
    "Clock",
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
    "NetworkInterface",
    "SwitchLogic",
    "VLANTag",
    "VLAN_TAG_LENGTH",
    "WireReception",
    "crc",
    "fcs",
    "framing",
    "listen",
    "receive_frame",
    "transmit",
]


# install_switching moved to labkit.sim.stacks, above the layers; served from there on first
# use, so that `import labkit.link` imports no simulator.
__getattr__, __dir__ = moved(__name__, {"install_switching": "labkit.sim.stacks"})
