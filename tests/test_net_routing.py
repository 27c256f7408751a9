"""Routing table: longest-prefix match against a brute-force model, overlapping prefixes, printing."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabkitValueError
from labkit.net.routing import CONNECTED, DEFAULT, STATIC, Route, RoutingTable


def router_table():
    t = RoutingTable()
    t.add_connected("192.168.1.1/24", "eth0")
    t.add_connected("10.0.0.1/30", "eth1")
    t.add_static("172.16.0.0/12", "10.0.0.2")
    t.add_static("172.16.5.0/24", "192.168.1.254")
    t.add_static("172.16.5.128/25", "10.0.0.2", metric=5)
    t.add_default("10.0.0.2")
    return t


@pytest.mark.parametrize(
    "dst, network, hop, iface",
    [
        ("192.168.1.77", "192.168.1.0/24", None, "eth0"),
        ("10.0.0.2", "10.0.0.0/30", None, "eth1"),
        ("172.20.1.1", "172.16.0.0/12", "10.0.0.2", "eth1"),
        ("172.16.5.9", "172.16.5.0/24", "192.168.1.254", "eth0"),
        ("172.16.5.200", "172.16.5.128/25", "10.0.0.2", "eth1"),
        ("8.8.8.8", "0.0.0.0/0", "10.0.0.2", "eth1"),
        ("10.0.0.4", "0.0.0.0/0", "10.0.0.2", "eth1"),  # just outside the /30
    ],
)
def test_longest_prefix_wins_with_overlapping_prefixes(dst, network, hop, iface):
    route = router_table().lookup(dst)
    assert route.network == IPv4Network(network)
    assert route.next_hop == (IPv4Address(hop) if hop else None)
    assert route.interface == iface
    assert route.gateway_for(dst) == IPv4Address(hop or dst)


def test_matches_lists_all_candidates_longest_first():
    got = [str(r.network) for r in router_table().matches("172.16.5.200")]
    assert got == ["172.16.5.128/25", "172.16.5.0/24", "172.16.0.0/12", "0.0.0.0/0"]


def test_no_route_without_default():
    t = router_table()
    t.remove("0.0.0.0/0")
    assert t.lookup("8.8.8.8") is None
    with pytest.raises(LabkitValueError, match="no such route"):
        t.remove("0.0.0.0/0")


def test_kinds_and_printing():
    t = router_table()
    kinds = {str(r.network): r.kind for r in t}
    assert kinds["192.168.1.0/24"] == CONNECTED and kinds["172.16.0.0/12"] == STATIC
    assert kinds["0.0.0.0/0"] == DEFAULT
    lines = t.table().splitlines()
    assert lines[0].split() == ["Destination", "Gateway", "Genmask", "Flags", "Metric", "Iface"]
    assert lines[1].split()[0] == "10.0.0.0"  # the /30 is the longest prefix
    assert lines[2].split() == ["172.16.5.128", "10.0.0.2", "255.255.255.128", "UG", "5", "eth1"]
    assert lines[-1].split() == ["0.0.0.0", "10.0.0.2", "0.0.0.0", "UG", "1", "eth1"]
    assert "192.168.1.0 0.0.0.0 255.255.255.0 U 0 eth0" in [" ".join(x.split()) for x in lines]
    assert "directly connected" in t._repr_html_()
    assert len(t) == 6


def test_static_route_needs_a_reachable_next_hop():
    t = RoutingTable()
    t.add_connected("192.168.1.1/24", "eth0")
    with pytest.raises(LabkitValueError, match="not on any connected subnet"):
        t.add_static("10.0.0.0/8", "172.16.0.1")
    with pytest.raises(LabkitValueError, match="did you mean 10.0.0.0/8"):
        t.add_static("10.1.2.3/8", "192.168.1.2")
    assert t.add_static("10.0.0.0/8", "172.16.0.1", "eth9").interface == "eth9"


def test_lower_metric_wins_for_the_same_network():
    t = RoutingTable()
    t.add_connected("192.168.1.1/24", "eth0")
    t.add_static("10.0.0.0/8", "192.168.1.2", metric=10)
    t.add_static("10.0.0.0/8", "192.168.1.3", metric=1)
    t.add_static("10.0.0.0/8", "192.168.1.4", metric=20)
    assert t.lookup("10.1.1.1").next_hop == IPv4Address("192.168.1.3")


routes = st.lists(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 9)), max_size=40
)


@given(routes, st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
def test_lookup_matches_brute_force(entries, destinations):
    t = RoutingTable()
    model: dict[IPv4Network, Route] = {}
    for addr, p, iface in entries:
        net = IPv4Network((addr, p), strict=False)
        route = Route(net, None, f"eth{iface}", CONNECTED)
        t.add(route)
        model[net] = route
    # the destinations include addresses inside the routes, where matches are
    dsts = [IPv4Address(d) for d in destinations] + [n.network_address + 1 for n in model if n.prefixlen < 32]
    for dst in dsts:
        candidates = [n for n in model if dst in n]
        want = model[max(candidates, key=lambda n: n.prefixlen)] if candidates else None
        assert t.lookup(dst) == want
        assert [r.network for r in t.matches(dst)] == sorted(candidates, key=lambda n: -n.prefixlen)
