"""IPv4 addressing: classes, masks, subnets and special addresses.

Built on the standard library's :mod:`ipaddress` (which already knows how to
parse, compare and iterate addresses and networks); this module adds what a
course needs on top of it:

- the classful view (A to E) of an address, with each class's range, number
  of networks and hosts per network *computed* from its leading bits;
- a subnet mask in its three notations (dotted ``255.255.255.0``, prefix
  length ``/24``, binary ``11111111.11111111.11111111.00000000``), with a clear
  error for a mask whose ones are not contiguous;
- the network and host parts of an address, the broadcast address, the range
  of usable host addresses, "are these two on the same subnet?";
- the special addresses (``0.0.0.0``, ``255.255.255.255``, loopback, private,
  link-local, multicast, reserved);
- subnetting: split a network into N subnets, or into subnets big enough for
  N hosts each;
- :class:`BinaryView`, which lines up address, mask, network and broadcast bit
  by bit (text for ``print``, HTML for Jupyter).

Classful addressing was replaced by CIDR in 1993 (RFC 1519, now RFC 4632):
routers look only at prefixes. The classes are still how the source text (and
many exams) introduce addresses, so they are here, computed and correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from labkit.errors import LabkitValueError

__all__ = [
    "AddressClass",
    "CLASSES",
    "TEXTBOOK_CLASS_E",
    "SubnetMask",
    "NonContiguousMaskError",
    "BinaryView",
    "address_class",
    "address_from_int",
    "as_address",
    "as_network",
    "mask",
    "network_part",
    "host_part",
    "network_address",
    "broadcast_address",
    "host_range",
    "interface",
    "host_count",
    "same_subnet",
    "special_kind",
    "describe",
    "split",
    "subnets_for_hosts",
    "prefix_for_hosts",
    "to_binary",
    "PRIVATE_NETWORKS",
    "LOOPBACK_NETWORK",
    "LINK_LOCAL_NETWORK",
    "UNSPECIFIED",
    "LIMITED_BROADCAST",
]

_ALL_ONES = 0xFFFFFFFF

#: ``0.0.0.0``: "this host on this network" (a source address before a host knows its own,
#: e.g. in a DHCP discover); as a route, the default route ``0.0.0.0/0``.
UNSPECIFIED = IPv4Address("0.0.0.0")
#: ``255.255.255.255``: the limited broadcast, to every host on this link; routers never forward it.
LIMITED_BROADCAST = IPv4Address("255.255.255.255")
#: ``127.0.0.0/8``: loopback; a packet to any of these never leaves the host (RFC 1122).
LOOPBACK_NETWORK = IPv4Network("127.0.0.0/8")
#: ``169.254.0.0/16``: link-local addresses a host picks itself when no DHCP answers (RFC 3927).
LINK_LOCAL_NETWORK = IPv4Network("169.254.0.0/16")
#: The three private ranges of RFC 1918: usable by anyone inside a site, never routed on the Internet.
PRIVATE_NETWORKS = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
)


class NonContiguousMaskError(LabkitValueError):
    """A subnet mask whose ones are not all at the left (e.g. ``255.0.255.0``)."""


# --- coercion ----------------------------------------------------------------------------------


def as_address(value: object, name: str = "address") -> IPv4Address:
    """An :class:`~ipaddress.IPv4Address` from a string, an int, 4 bytes or an address."""
    if isinstance(value, IPv4Address):
        return value
    if isinstance(value, IPv4Interface):
        return value.ip
    if isinstance(value, bool) or not isinstance(value, (str, int, bytes, bytearray)):
        raise LabkitValueError(
            f"{name}={value!r}: expected an IPv4 address such as '192.168.1.10' "
            f"(a string, an int or 4 bytes), not {type(value).__name__}"
        )
    try:
        return IPv4Address(bytes(value) if isinstance(value, bytearray) else value)
    except ValueError as exc:
        raise LabkitValueError(f"{name}={value!r}: not an IPv4 address ({exc})") from None


_interned: dict[int, IPv4Address] = {}
_INTERN_LIMIT = 4096


def address_from_int(value: int) -> IPv4Address:
    """The :class:`~ipaddress.IPv4Address` for a 32-bit integer read from a header.

    Addresses are immutable, so every packet from the same host can share one
    object: parsers intern them, which turns building an address (about half a
    microsecond in :mod:`ipaddress`) into a dict lookup. The table is emptied
    when it reaches 4,096 entries, so random addresses cannot grow it without bound.
    """
    address = _interned.get(value)
    if address is None:
        if len(_interned) >= _INTERN_LIMIT:
            _interned.clear()
        address = _interned[value] = IPv4Address(value)
    return address


def as_network(value: object, name: str = "network", *, strict: bool = True) -> IPv4Network:
    """An :class:`~ipaddress.IPv4Network` from ``'10.0.0.0/8'``, an interface or a network.

    With ``strict=False`` host bits are cleared (``'10.1.2.3/8'`` -> ``10.0.0.0/8``);
    with ``strict=True`` they are an error that says which network was meant.
    """
    if isinstance(value, IPv4Network):
        return value
    if isinstance(value, IPv4Interface):
        return value.network
    if not isinstance(value, (str, tuple)):
        raise LabkitValueError(
            f"{name}={value!r}: expected a network such as '192.168.1.0/24', "
            f"not {type(value).__name__}"
        )
    try:
        return IPv4Network(value, strict=strict)
    except ValueError as exc:
        hint = ""
        if "host bits set" in str(exc):
            hint = f"; did you mean {IPv4Network(value, strict=False)}?"
        raise LabkitValueError(f"{name}={value!r}: not an IPv4 network ({exc}){hint}") from None


def to_binary(value: object, *, dots: bool = True) -> str:
    """The 32 bits of an address (or mask) as text: ``'11000000.10101000.00000001.00001010'``."""
    bits = f"{int(as_address(value)):032b}"
    if not dots:
        return bits
    return ".".join(bits[i : i + 8] for i in range(0, 32, 8))


# --- classes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressClass:
    """One of the classful address classes, with its numbers computed from its leading bits.

    ``networks`` and ``hosts_per_network`` are ``None`` for classes D and E,
    which are not split into networks and hosts. ``usable_first`` and
    ``usable_last`` leave out the reserved networks at the edges of class A
    (``0.0.0.0/8`` "this network" and ``127.0.0.0/8`` loopback).
    """

    name: str
    leading_bits: str
    default_prefix: int | None
    purpose: str

    @property
    def first(self) -> IPv4Address:
        """The lowest address whose leading bits match."""
        n = len(self.leading_bits)
        return IPv4Address(int(self.leading_bits, 2) << (32 - n))

    @property
    def last(self) -> IPv4Address:
        """The highest address whose leading bits match."""
        n = len(self.leading_bits)
        return IPv4Address((int(self.leading_bits, 2) << (32 - n)) | ((1 << (32 - n)) - 1))

    @property
    def first_octet(self) -> tuple[int, int]:
        """The range of the first octet, e.g. ``(128, 191)`` for class B."""
        return int(self.first) >> 24, int(self.last) >> 24

    @property
    def network_bits(self) -> int | None:
        """Bits that number the networks: the default prefix minus the leading bits."""
        if self.default_prefix is None:
            return None
        return self.default_prefix - len(self.leading_bits)

    @property
    def host_bits(self) -> int | None:
        """Bits that number the hosts in one network: 32 minus the default prefix."""
        return None if self.default_prefix is None else 32 - self.default_prefix

    @property
    def reserved_networks(self) -> tuple[IPv4Network, ...]:
        """Networks of this class that are not ordinary networks (class A: 0/8 and 127/8)."""
        if self.name == "A":
            return (IPv4Network("0.0.0.0/8"), LOOPBACK_NETWORK)
        return ()

    @property
    def networks(self) -> int | None:
        """How many networks the class holds: ``2 ** network_bits`` (minus reserved ones)."""
        if self.network_bits is None:
            return None
        return 2**self.network_bits - len(self.reserved_networks)

    @property
    def hosts_per_network(self) -> int | None:
        """Usable host addresses per network: ``2 ** host_bits - 2`` (network and broadcast)."""
        if self.host_bits is None:
            return None
        return 2**self.host_bits - 2

    @property
    def usable_first(self) -> IPv4Address:
        reserved = [n for n in self.reserved_networks if n.network_address == self.first]
        return reserved[0].broadcast_address + 1 if reserved else self.first

    @property
    def usable_last(self) -> IPv4Address:
        reserved = [n for n in self.reserved_networks if n.broadcast_address == self.last]
        return reserved[0].network_address - 1 if reserved else self.last

    @property
    def size(self) -> int:
        """Addresses in the class: ``2 ** (32 - len(leading_bits))``."""
        return 1 << (32 - len(self.leading_bits))

    @property
    def share(self) -> float:
        """The fraction of all 2**32 addresses that belong to this class."""
        return self.size / 2**32

    def __contains__(self, address: object) -> bool:
        value = int(as_address(address))
        return int(self.first) <= value <= int(self.last)

    def summary(self) -> str:
        lo, hi = self.usable_first, self.usable_last
        text = f"class {self.name}: leading bits {self.leading_bits}, {lo} to {hi}"
        if self.default_prefix is not None:
            text += (
                f", /{self.default_prefix}, {self.networks:,} networks of "
                f"{self.hosts_per_network:,} hosts"
            )
        return f"{text} ({self.purpose})"

    def __str__(self) -> str:
        return self.summary()


#: The five classes, in order. Everything but the leading bits and default prefix is computed.
#: Class E is every address starting 1111, 240.0.0.0/4 (RFC 1112 section 4, RFC 5735's
#: 240.0.0.0/4 "reserved for future use"), so the five classes tile all 2**32 addresses
#: and 255.255.255.255 lies in class E (it is also the limited broadcast).
CLASSES: tuple[AddressClass, ...] = (
    AddressClass("A", "0", 8, "large networks"),
    AddressClass("B", "10", 16, "medium networks"),
    AddressClass("C", "110", 24, "small networks"),
    AddressClass("D", "1110", None, "multicast"),
    AddressClass("E", "1111", None, "reserved for future use"),
)

#: The textbook convention the source text follows: class E as 11110 (240-247), and the
#: addresses starting 11111 (248-255) left without a class. Kept to compare, not used to classify.
TEXTBOOK_CLASS_E = AddressClass("E", "11110", None, "reserved (the textbook's pattern)")


def address_class(address: object) -> AddressClass:
    """The classful class of ``address`` by its leading bits (every address has one).

    >>> address_class("172.16.5.4").name
    'B'
    """
    value = int(as_address(address))
    for cls in CLASSES:
        n = len(cls.leading_bits)
        if value >> (32 - n) == int(cls.leading_bits, 2):
            return cls
    raise AssertionError("unreachable: the five classes tile the address space")


# --- masks -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubnetMask:
    """A subnet mask, convertible between its three notations.

    Build one with :func:`mask` from ``24``, ``'/24'``, ``'255.255.255.0'`` or
    ``'11111111.11111111.11111111.00000000'``.
    """

    prefix_length: int

    @property
    def value(self) -> int:
        """The mask as a 32-bit integer."""
        return (_ALL_ONES << (32 - self.prefix_length)) & _ALL_ONES

    @property
    def address(self) -> IPv4Address:
        return IPv4Address(self.value)

    @property
    def dotted(self) -> str:
        """``'255.255.255.0'``."""
        return str(self.address)

    @property
    def binary(self) -> str:
        """``'11111111.11111111.11111111.00000000'``."""
        return to_binary(self.value)

    @property
    def wildcard(self) -> IPv4Address:
        """The inverted mask (``0.0.0.255`` for /24), as access lists write it."""
        return IPv4Address(~self.value & _ALL_ONES)

    @property
    def prefix(self) -> str:
        """``'/24'``."""
        return f"/{self.prefix_length}"

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return self.dotted

    def __repr__(self) -> str:
        return f"mask({self.dotted!r})"


def mask(value: object) -> SubnetMask:
    """Read a subnet mask in any of its notations; non-contiguous masks are refused.

    Accepts a prefix length (``24`` or ``'/24'``), a dotted mask
    (``'255.255.255.0'``), a binary mask with or without dots, an
    :class:`~ipaddress.IPv4Address`, or a :class:`SubnetMask`.
    """
    if isinstance(value, SubnetMask):
        return value
    if isinstance(value, bool):
        raise LabkitValueError(f"mask={value!r}: a bool is not a mask")
    if isinstance(value, int):
        if not 0 <= value <= 32:
            raise LabkitValueError(f"mask={value!r}: a prefix length is 0 to 32")
        return SubnetMask(value)
    if isinstance(value, IPv4Address):
        return _mask_from_int(int(value), value)
    if not isinstance(value, str):
        raise LabkitValueError(
            f"mask={value!r}: expected 24, '/24', '255.255.255.0' or a binary mask, "
            f"not {type(value).__name__}"
        )
    text = value.strip()
    if text.startswith("/"):
        digits = text[1:]
        if not digits.isdigit() or not 0 <= int(digits) <= 32:
            raise LabkitValueError(f"mask={value!r}: a prefix length is /0 to /32")
        return SubnetMask(int(digits))
    compact = text.replace(".", "")
    if len(compact) == 32 and set(compact) <= {"0", "1"}:
        return _mask_from_int(int(compact, 2), value)
    if text.isdigit():
        return mask(int(text))
    try:
        as_int = int(IPv4Address(text))
    except ValueError:
        raise LabkitValueError(
            f"mask={value!r}: not a mask; write it as 24, '/24', '255.255.255.0' or "
            "'11111111.11111111.11111111.00000000'"
        ) from None
    return _mask_from_int(as_int, value)


def _mask_from_int(value: int, original: object) -> SubnetMask:
    inverted = ~value & _ALL_ONES
    # contiguous ones on the left <=> the inverted mask is 2**k - 1
    if inverted & (inverted + 1):
        bits = f"{value:032b}"
        first_zero = bits.index("0")
        stray = bits.index("1", first_zero)
        raise NonContiguousMaskError(
            f"mask={original!r}: its ones are not contiguous ({to_binary(value)}): bit "
            f"{stray} is a 1 after the 0 at bit {first_zero}. A mask is ones then zeros; "
            f"did you mean /{first_zero} ({SubnetMask(first_zero).dotted})?"
        )
    return SubnetMask(32 - inverted.bit_length())


# --- network and host parts --------------------------------------------------------------------


def _split(address: object, netmask: object | None) -> tuple[IPv4Address, SubnetMask]:
    """Accept ``('192.168.1.10', 24)`` or ``('192.168.1.10/24', None)`` or an IPv4Interface."""
    if netmask is None:
        if isinstance(address, IPv4Interface):
            return address.ip, SubnetMask(address.network.prefixlen)
        if isinstance(address, str) and "/" in address:
            addr_text, mask_text = address.split("/", 1)
            return as_address(addr_text.strip()), mask(
                f"/{mask_text.strip()}" if mask_text.strip().isdigit() else mask_text
            )
        raise LabkitValueError(
            f"address={address!r}: give a mask too, e.g. ('192.168.1.10', '255.255.255.0') "
            "or '192.168.1.10/24'"
        )
    return as_address(address), mask(netmask)


def interface(address: object, netmask: object | None = None) -> IPv4Interface:
    """An :class:`~ipaddress.IPv4Interface` (address plus mask) from the usual spellings."""
    addr, m = _split(address, netmask)
    return IPv4Interface((int(addr), m.prefix_length))


def network_part(address: object, netmask: object | None = None) -> IPv4Address:
    """``address AND mask``: the network part, as an address (``192.168.1.0``)."""
    addr, m = _split(address, netmask)
    return IPv4Address(int(addr) & m.value)


network_address = network_part


def host_part(address: object, netmask: object | None = None) -> int:
    """``address AND NOT mask``: the host's number inside its network (``10`` for .10/24)."""
    addr, m = _split(address, netmask)
    return int(addr) & ~m.value & _ALL_ONES


def broadcast_address(address: object, netmask: object | None = None) -> IPv4Address:
    """``address OR NOT mask``: the directed broadcast of the address's network."""
    addr, m = _split(address, netmask)
    return IPv4Address(int(addr) | (~m.value & _ALL_ONES))


def host_count(prefix: object) -> int:
    """Usable host addresses in a network with this mask.

    ``2 ** (32 - prefix) - 2``: the all-zeros host number names the network and
    the all-ones number is its broadcast. Two exceptions: a /31 has 2 usable
    addresses (a point-to-point link, RFC 3021) and a /32 is a single host.
    """
    p = mask(prefix).prefix_length
    if p == 32:
        return 1
    if p == 31:
        return 2
    return 2 ** (32 - p) - 2


def host_range(network: object, netmask: object | None = None) -> tuple[IPv4Address, IPv4Address]:
    """The first and last usable host addresses of a network (see :func:`host_count`)."""
    if netmask is None and not isinstance(network, (IPv4Interface,)) and not (
        isinstance(network, str) and "/" in network
    ):
        net = as_network(network, strict=False)
    else:
        addr, m = _split(network, netmask)
        net = IPv4Network((int(addr) & m.value, m.prefix_length))
    if net.prefixlen >= 31:
        return net.network_address, net.broadcast_address
    return net.network_address + 1, net.broadcast_address - 1


def same_subnet(a: object, b: object, netmask: object) -> bool:
    """True when ``a`` and ``b`` have the same network part under ``netmask``.

    This is the test a host makes before sending: same subnet, deliver
    directly (ARP for the destination); otherwise send to the gateway.
    """
    m = mask(netmask).value
    return (int(as_address(a, "a")) & m) == (int(as_address(b, "b")) & m)


# --- special addresses -------------------------------------------------------------------------

_KINDS = (
    ("unspecified", "0.0.0.0: 'this host', used as a source before a host knows its address; "
                    "as a route 0.0.0.0/0 is the default route"),
    ("limited broadcast", "255.255.255.255: every host on this link; never forwarded by routers "
                          "(it lies in class E, 240.0.0.0/4, but is set apart from it by RFC 919)"),
    ("this network", "0.0.0.0/8: 'this network', never a destination"),
    ("loopback", "127.0.0.0/8: the host itself; packets never leave it (127.0.0.1 is 'localhost')"),
    ("private", "RFC 1918 private range: free to use inside a site, not routed on the Internet"),
    ("link-local", "169.254.0.0/16: picked by a host itself when no DHCP server answers (RFC 3927)"),
    ("multicast", "class D, 224.0.0.0/4: a group of receivers"),
    ("reserved", "class E, 240.0.0.0/4: reserved, not usable as a host address"),
    ("public", "an ordinary globally routed (public) unicast address"),
)
_KIND_TEXT = dict(_KINDS)


def special_kind(address: object) -> str:
    """What kind of address this is: ``'unspecified'``, ``'limited broadcast'``,
    ``'this network'``, ``'loopback'``, ``'private'``, ``'link-local'``,
    ``'multicast'``, ``'reserved'`` or ``'public'``.

    Documentation and carrier-grade NAT ranges (which ``ipaddress`` also knows)
    are reported as ``'public'`` here: the course teaches the ones above.
    """
    addr = as_address(address)
    if addr == UNSPECIFIED:
        return "unspecified"
    if addr == LIMITED_BROADCAST:
        return "limited broadcast"
    if int(addr) >> 24 == 0:
        return "this network"
    if addr in LOOPBACK_NETWORK:
        return "loopback"
    if any(addr in n for n in PRIVATE_NETWORKS):
        return "private"
    if addr in LINK_LOCAL_NETWORK:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if int(addr) >> 28 == 0xF:
        return "reserved"
    return "public"


def describe(address: object) -> str:
    """One line on an address: its class and what is special about it.

    >>> describe("10.1.2.3")[:34]
    '10.1.2.3: class A, private: RFC 19'
    """
    addr = as_address(address)
    cls = address_class(addr)
    kind = special_kind(addr)
    label = f"class {cls.name}"
    return f"{addr}: {label}, {kind}: {_KIND_TEXT[kind]}"


# --- subnetting --------------------------------------------------------------------------------


def split(network: object, count: int) -> list[IPv4Network]:
    """Split ``network`` into ``count`` equal subnets (rounded up to a power of two).

    Borrowing ``b`` host bits makes ``2 ** b`` subnets, so 5 subnets need 3 bits
    and give 8. All of them are returned; use as many as you need.
    """
    net = as_network(network)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise LabkitValueError(f"count={count!r}: the number of subnets is a positive int")
    borrowed = (count - 1).bit_length()  # the smallest b with 2 ** b >= count
    new_prefix = net.prefixlen + borrowed
    if new_prefix > 32:
        raise LabkitValueError(
            f"count={count}: {net} has only {32 - net.prefixlen} host bits; {count} subnets "
            f"would need {borrowed} of them"
        )
    return list(net.subnets(new_prefix=new_prefix))


def prefix_for_hosts(hosts: int) -> int:
    """The longest prefix whose networks hold ``hosts`` usable addresses.

    ``2 ** h - 2 >= hosts`` for ``h`` host bits (so 62 hosts fit a /26, 63 need
    a /25). A /31 (2 hosts, RFC 3021) and a /32 (1) are used for 2 and 1.
    """
    if isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 1:
        raise LabkitValueError(f"hosts={hosts!r}: the number of hosts is a positive int")
    if hosts == 1:
        return 32
    if hosts == 2:
        return 31
    h = 2
    while 2**h - 2 < hosts:
        h += 1
    if h > 32:
        raise LabkitValueError(f"hosts={hosts}: more than an IPv4 network can hold")
    return 32 - h


def subnets_for_hosts(network: object, hosts: int) -> list[IPv4Network]:
    """Split ``network`` into the most subnets that each still hold ``hosts`` hosts."""
    net = as_network(network)
    new_prefix = prefix_for_hosts(hosts)
    if new_prefix < net.prefixlen:
        raise LabkitValueError(
            f"hosts={hosts}: a subnet for {hosts} hosts needs a /{new_prefix}, larger than "
            f"{net} itself ({host_count(net.prefixlen):,} hosts)"
        )
    return list(net.subnets(new_prefix=new_prefix))


# --- the binary view ---------------------------------------------------------------------------


class BinaryView:
    """Address, mask, network and broadcast lined up bit by bit.

    ``print(BinaryView("192.168.1.10/24"))`` shows the 32 bits of each with
    the network part and the host part marked below; in Jupyter the network
    bits are drawn on one colour and the host bits on another.
    """

    __slots__ = ("address", "mask")

    def __init__(self, address: object, netmask: object | None = None) -> None:
        self.address, self.mask = _split(address, netmask)

    @property
    def network(self) -> IPv4Network:
        return IPv4Network((int(self.address) & self.mask.value, self.mask.prefix_length))

    def rows(self) -> list[tuple[str, IPv4Address, str]]:
        """``(label, value, note)`` for each line of the view."""
        net = self.network
        return [
            ("address", self.address, ""),
            ("mask", self.mask.address, self.mask.prefix),
            ("network", net.network_address, "address AND mask"),
            ("broadcast", net.broadcast_address, "address OR NOT mask"),
        ]

    def __str__(self) -> str:
        p = self.mask.prefix_length
        lines = []
        for label, value, note in self.rows():
            lines.append(f"{label:<10} {to_binary(value)}  {str(value):<15} {note}".rstrip())
        marks = "".join("n" if i < p else "h" for i in range(32))
        marks = ".".join(marks[i : i + 8] for i in range(0, 32, 8))
        lines.append(f"{'':<10} {marks}  n = network part ({p} bits), h = host part ({32 - p} bits)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"BinaryView('{self.address}/{self.mask.prefix_length}')"

    def _repr_html_(self) -> str:
        p = self.mask.prefix_length
        cell = "padding:0 1px;font-family:monospace;text-align:center"
        head = "".join(
            f'<th style="{cell};color:#888;font-weight:normal">{i}</th>' if i % 8 == 0 else
            f'<th style="{cell}"></th>' for i in range(32)
        )
        body = []
        for label, value, note in self.rows():
            bits = f"{int(value):032b}"
            cells = []
            for i, bit in enumerate(bits):
                colour = "#aec7e8" if i < p else "#ffbb78"
                sep = "border-left:2px solid #333;" if i and i % 8 == 0 else ""
                cells.append(f'<td style="{cell};{sep}background:{colour}">{bit}</td>')
            body.append(
                f'<tr><td style="{cell};text-align:left;padding-right:6px">{escape(label)}</td>'
                + "".join(cells)
                + f'<td style="{cell};text-align:left;padding-left:8px">{escape(str(value))}</td>'
                + f'<td style="{cell};text-align:left;color:#555">{escape(note)}</td></tr>'
            )
        legend = (
            f'<div style="font-size:12px"><span style="background:#aec7e8;padding:0 4px">'
            f"network part: {p} bits</span> "
            f'<span style="background:#ffbb78;padding:0 4px">host part: {32 - p} bits</span></div>'
        )
        return (
            '<table style="border-collapse:collapse;font-size:12px">'
            f"<tr><th></th>{head}<th></th><th></th></tr>" + "".join(body) + "</table>" + legend
        )

