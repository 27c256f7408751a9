"""IPv4 addressing helpers: against ipaddress on random inputs, and the numbers OUTLINE.md corrects."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabkitValueError
from labkit.net import addressing as A

addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
prefixes = st.integers(0, 32)


# --- classes: the source's wrong numbers, corrected ---------------------------------------------


def test_class_a_range_and_hosts():
    a = A.CLASSES[0]
    assert (str(a.usable_first), str(a.usable_last)) == ("1.0.0.0", "126.255.255.255")
    assert a.hosts_per_network == 16_777_214 == 2**24 - 2
    assert a.networks == 126  # 2**7 minus 0.0.0.0/8 and 127.0.0.0/8


def test_class_b_networks():
    b = A.CLASSES[1]
    assert b.networks == 16_384 == 2**14
    assert b.hosts_per_network == 65_534
    assert b.first_octet == (128, 191)


def test_class_c_and_d_and_e():
    c, d, e = A.CLASSES[2:]
    assert c.networks == 2_097_152 and c.hosts_per_network == 254
    assert c.first_octet == (192, 223)
    assert d.leading_bits == "1110" and (str(d.first), str(d.last)) == ("224.0.0.0", "239.255.255.255")
    # RFC 1112: class E is every address starting 1111, 240.0.0.0/4
    assert e.leading_bits == "1111" and (str(e.first), str(e.last)) == ("240.0.0.0", "255.255.255.255")
    assert ipaddress.IPv4Network(f"{e.first}/{len(e.leading_bits)}") == ipaddress.IPv4Network("240.0.0.0/4")
    assert d.networks is None and e.hosts_per_network is None
    # the source's textbook pattern 11110 stops at 247.255.255.255 and leaves 248-255 classless
    t = A.TEXTBOOK_CLASS_E
    assert (str(t.first), str(t.last)) == ("240.0.0.0", "247.255.255.255")
    assert t.size * 2 == e.size


def test_classes_tile_the_address_space():
    # A, B, C, D and E are consecutive and cover every address, 255.255.255.255 included
    for lower, upper in zip(A.CLASSES, A.CLASSES[1:]):
        assert int(lower.last) + 1 == int(upper.first)
    assert sum(c.size for c in A.CLASSES) == 2**32
    assert A.address_class("255.255.255.255").name == "E"
    assert A.special_kind("255.255.255.255") == "limited broadcast"


@given(addresses)
def test_address_class_by_first_octet(addr):
    first = int(addr) >> 24
    want = ("A" if first < 128 else "B" if first < 192 else "C" if first < 224 else
            "D" if first < 240 else "E")
    cls = A.address_class(addr)
    assert (cls.name if cls else None) == want
    if cls is not None:
        assert addr in cls
    assert (want == "D") == addr.is_multicast


# --- masks ------------------------------------------------------------------------------------


@given(prefixes)
def test_mask_three_notations_round_trip(p):
    net = ipaddress.IPv4Network(f"0.0.0.0/{p}")
    m = A.mask(p)
    assert m.dotted == str(net.netmask)
    assert m.binary.replace(".", "") == "1" * p + "0" * (32 - p)
    assert A.mask(m.dotted) == A.mask(m.binary) == A.mask(f"/{p}") == A.mask(m.binary.replace(".", ""))
    assert A.mask(m.dotted).prefix_length == p
    assert str(m.wildcard) == str(net.hostmask)


@given(st.integers(0, 2**32 - 1))
def test_non_contiguous_masks_are_refused(value):
    inverted = ~value & 0xFFFFFFFF
    contiguous = inverted & (inverted + 1) == 0
    text = str(ipaddress.IPv4Address(value))
    if contiguous:
        assert A.mask(text).value == value
    else:
        with pytest.raises(A.NonContiguousMaskError, match="not contiguous"):
            A.mask(text)


@pytest.mark.parametrize("bad", ["255.255.255.256", "/33", 33, -1, "abc", 2.5, True, "1" * 31])
def test_bad_masks_name_the_value(bad):
    with pytest.raises(LabkitValueError, match="mask="):
        A.mask(bad)


# --- parts, broadcast, ranges: agree with ipaddress ---------------------------------------------


@given(addresses, prefixes)
def test_parts_agree_with_ipaddress(addr, p):
    iface = ipaddress.IPv4Interface((int(addr), p))
    net = iface.network
    assert A.network_part(addr, p) == net.network_address
    assert A.network_part(f"{addr}/{p}") == net.network_address
    assert A.broadcast_address(addr, A.mask(p).dotted) == net.broadcast_address
    assert A.host_part(iface) == int(addr) - int(net.network_address)
    hosts = list(net.hosts()) if p >= 23 else None
    first, last = A.host_range(net)
    if hosts is not None:
        assert A.host_count(p) == len(hosts)
        assert (first, last) == (hosts[0], hosts[-1])
    else:
        assert A.host_count(p) == int(last) - int(first) + 1 == net.num_addresses - 2


@given(addresses, addresses, prefixes)
def test_same_subnet_agrees_with_ipaddress(a, b, p):
    net = ipaddress.IPv4Network((int(a), p), strict=False)
    assert A.same_subnet(a, b, p) == (b in net)
    assert A.same_subnet(a, b, A.mask(p).dotted) == A.same_subnet(b, a, p)


def test_same_subnet_example_from_the_course():
    assert A.same_subnet("172.16.10.1", "172.16.10.2", "255.255.255.0")
    assert not A.same_subnet("172.16.10.1", "172.16.11.2", "255.255.255.0")
    assert A.same_subnet("172.16.10.1", "172.16.11.2", "255.255.0.0")


# --- special addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "addr, kind",
    [
        ("0.0.0.0", "unspecified"),
        ("255.255.255.255", "limited broadcast"),
        ("0.1.2.3", "this network"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("172.32.0.1", "public"),
        ("192.168.100.1", "private"),
        ("169.254.10.20", "link-local"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("8.8.8.8", "public"),
    ],
)
def test_special_kinds(addr, kind):
    assert A.special_kind(addr) == kind
    assert kind in A.describe(addr)


@given(addresses)
def test_special_kinds_agree_with_ipaddress(addr):
    kind = A.special_kind(addr)
    assert (kind == "loopback") == addr.is_loopback
    assert (kind == "link-local") == addr.is_link_local
    assert (kind == "multicast") == addr.is_multicast
    if kind == "private":
        assert addr.is_private


# --- subnetting ---------------------------------------------------------------------------------


@given(prefixes, st.integers(1, 300))
def test_split_makes_at_least_count_equal_subnets_covering_the_network(p, count):
    net = ipaddress.IPv4Network((0x0A000000, p), strict=False)
    bits = (count - 1).bit_length()
    if p + bits > 32:
        with pytest.raises(LabkitValueError, match="host bits"):
            A.split(net, count)
        return
    subs = A.split(str(net), count)
    assert len(subs) == 2**bits >= count
    assert len(subs) < 2 * count or count == 1
    assert sum(s.num_addresses for s in subs) == net.num_addresses
    assert all(s.subnet_of(net) for s in subs)


@given(st.integers(1, 2**24))
def test_prefix_for_hosts_is_the_tightest(hosts):
    p = A.prefix_for_hosts(hosts)
    assert A.host_count(p) >= hosts
    if p < 32:
        assert A.host_count(p + 1) < hosts


def test_subnets_for_hosts_example():
    subs = A.subnets_for_hosts("192.168.1.0/24", 50)
    assert [str(s) for s in subs] == [
        "192.168.1.0/26", "192.168.1.64/26", "192.168.1.128/26", "192.168.1.192/26"]
    with pytest.raises(LabkitValueError, match="larger than"):
        A.subnets_for_hosts("192.168.1.0/24", 300)


def test_host_bits_set_suggests_the_network():
    with pytest.raises(LabkitValueError, match="did you mean 192.168.1.0/24"):
        A.split("192.168.1.7/24", 2)


# --- the binary view ----------------------------------------------------------------------------


@given(addresses, prefixes)
def test_binary_view_lines_up_the_bits(addr, p):
    view = A.BinaryView(addr, p)
    lines = str(view).splitlines()
    bits = {line.split()[0]: line.split()[1].replace(".", "") for line in lines[:4]}
    a, m = int(bits["address"], 2), int(bits["mask"], 2)
    assert a == int(addr)
    assert int(bits["network"], 2) == a & m
    assert int(bits["broadcast"], 2) == a | (~m & 0xFFFFFFFF)
    assert lines[4].split()[0].replace(".", "") == "n" * p + "h" * (32 - p)
    html = view._repr_html_()
    assert html.count("background:#aec7e8") == 4 * p + 1  # four rows plus the legend


def test_bad_addresses_are_labkit_errors():
    with pytest.raises(LabkitValueError, match="address='300.1.1.1'"):
        A.describe("300.1.1.1")
    with pytest.raises(LabkitValueError, match="give a mask"):
        A.network_part("10.0.0.1")
