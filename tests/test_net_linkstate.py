"""Link state (labkit.net.linkstate): the messages, hellos and adjacencies, flooding with sequence
numbers and ages, a database per router and Dijkstra on it, failures, loss, and bad input."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.app.ping import ping
from labkit.errors import LabkitError, ParseError
from labkit.net.linkstate import (
    ACK,
    HELLO,
    LSA,
    MAX_AGE,
    PROTOCOL,
    UPDATE,
    LinkStateConfig,
    LinkStateMessage,
)
from labkit.sim import Network
from labkit.sim.routing import fail_link, install_linkstate, restore_link, router_network
from routing_support import triangle

N3 = IPv4Network("10.0.3.0/24")


def costs() -> LinkStateConfig:
    return LinkStateConfig(cost={"eth2": 3})  # the R1 - R3 link is the slow one, at both ends


# -- messages ---------------------------------------------------------------------------------
def test_messages_pack_and_parse_with_a_checksum():
    lsa = LSA("10.0.3.1", 7, 12, links=(("10.0.23.2", 1),), stubs=(("10.0.3.0/24", 1),))
    for msg in (LinkStateMessage(HELLO, "10.0.12.1", neighbours=("10.0.23.2",)),
                LinkStateMessage(UPDATE, "10.0.12.1", lsas=(lsa, lsa)),
                LinkStateMessage(ACK, "10.0.12.1", acks=(("10.0.3.1", 7),))):
        raw = msg.pack()
        assert LinkStateMessage.parse(raw) == msg
        bad = bytearray(raw)
        bad[-1] ^= 0x10
        with pytest.raises(ParseError) as e:
            LinkStateMessage.parse(bytes(bad))
        assert e.value.field == "checksum"


def _fix(raw: bytearray) -> bytes:
    """Recompute the checksum of a message edited by hand (so the test reaches the field)."""
    from labkit.net.checksum import internet_checksum
    raw[8:10] = b"\0\0"
    raw[8:10] = internet_checksum(bytes(raw)).to_bytes(2, "big")
    return bytes(raw)


@pytest.mark.parametrize("edit, field", [
    (lambda r: r.__setitem__(0, 9), "version"),
    (lambda r: r.__setitem__(1, 9), "type"),
    (lambda r: r.__setitem__(slice(2, 4), b"\x00\x05"), "length"),
    (lambda r: r.__setitem__(slice(10, 12), b"\x00\x05"), "lsas[1]"),
    (lambda r: r.__setitem__(slice(20, 22), b"\xff\xff"), "lsas[0].age"),
])
def test_malformed_fields_are_named(edit, field):
    lsa = LSA("10.0.3.1", 7, 12, stubs=(("10.0.3.0/24", 1),))
    raw = bytearray(LinkStateMessage(UPDATE, "10.0.12.1", lsas=(lsa,)).pack())
    edit(raw)
    with pytest.raises(ParseError) as e:
        LinkStateMessage.parse(_fix(raw))
    assert e.value.layer == "linkstate" and e.value.field == field


# -- the protocol ---------------------------------------------------------------------------
def test_every_router_builds_the_same_database_and_its_own_shortest_paths():
    net = triangle()
    ls = install_linkstate(net, costs())
    net.run_for("5s")
    ids = {r.router_id for r in ls.values()}
    assert ids == {IPv4Address("10.0.13.1"), IPv4Address("10.0.23.2"), IPv4Address("10.0.23.3")}
    for r in ls.values():
        assert set(r.lsdb) == ids  # the whole map, everywhere
    # R1's own Dijkstra: to 10.0.3.0/24 via R2 (1 + 1 + 1 = 3), not the direct link (3 + 1)
    assert ls["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))
    assert ls["R3"].routes()[IPv4Network("10.0.1.0/24")] == (3, IPv4Address("10.0.23.2"))
    assert all(r.counters["spf"] >= 1 for r in ls.values())
    assert ping(net["A"], "10.0.3.10", count=1).received == 1
    # the database came in real messages over the links, on IP protocol 253
    assert all(r.counters["updates"] > 0 and r.counters["hellos"] > 0 for r in ls.values())


def _converged(net):
    ls = install_linkstate(net, costs())
    net.run_for("5s")
    return ls


def test_a_failed_link_is_noticed_after_the_dead_interval_and_routed_around():
    net = triangle()
    ls = _converged(net)
    seq = ls["R2"].lsdb[ls["R2"].router_id].lsa.sequence
    fail_link(net, "R1", "R2")
    t = net.now
    net.run_for("30s")
    assert ls["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))  # not yet: 40 s dead interval
    net.run_for("15s")
    assert ls["R1"].routes()[N3] == (4, IPv4Address("10.0.13.3"))  # around, over the slow link
    changed = [run for run in ls["R1"].spf_runs if run.time > t
               and run.routes.get(N3, (0, None))[1] == IPv4Address("10.0.13.3")]
    assert 30e9 < changed[0].time - t <= 51e9
    assert ls["R2"].lsdb[ls["R2"].router_id].lsa.sequence > seq  # R2 said so, with a new number
    assert ping(net["A"], "10.0.3.10", count=1).received == 1
    restore_link(net, "R1", "R2")
    net.run_for("15s")
    assert ls["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))


def test_loss_on_a_link_is_repaired_by_retransmission():
    net = triangle(seed=4, loss=0.4)
    ls = _converged(net)
    net.run_for("60s")
    assert ls["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))
    assert sum(r.counters["retransmitted"] for r in ls.values()) > 0


def test_an_older_sequence_number_is_answered_with_the_newer_lsa():
    net = triangle()
    ls = _converged(net)
    r1, r2 = ls["R1"], ls["R2"]
    current = r1.lsdb[r2.router_id].lsa
    stale = LSA(current.router, current.sequence - 1, 0, current.links, ())
    r1.receive(IPv4Address("10.0.12.2"), LinkStateMessage(UPDATE, r2.router_id, lsas=(stale,)).pack(),
               net.now)
    assert r1.lsdb[r2.router_id].lsa == current  # not replaced
    assert r1.counters["lsas_old"] == 1


def test_a_vanished_router_ages_out_of_every_database():
    net = triangle()
    ls = _converged(net)
    gone = ls["R2"].router_id
    ls["R2"].stop()
    fail_link(net, "R1", "R2")
    fail_link(net, "R2", "R3")
    net.run_for(f"{MAX_AGE - 100}s")
    assert gone in ls["R1"].lsdb  # still there, growing old
    assert ls["R1"].lsdb[gone].age(net.now) > MAX_AGE - 200
    net.run_for("200s")
    assert gone not in ls["R1"].lsdb and ls["R1"].counters["purged"] == 1
    assert ls["R1"].routes()[N3] == (4, IPv4Address("10.0.13.3"))


def test_a_one_way_claim_is_not_used():
    net = triangle()
    ls = _converged(net)
    r1 = ls["R1"]
    # a forged LSA for a router that says it is next to R1 at cost 0, with a network
    fake = LSA("10.9.9.9", 1, 0, links=((r1.router_id, 0),), stubs=((N3, 0),))
    r1.receive(IPv4Address("10.0.12.2"),
               LinkStateMessage(UPDATE, ls["R2"].router_id, lsas=(fake,)).pack(), net.now)
    net.run_for("1s")
    assert IPv4Address("10.9.9.9") in r1.lsdb  # flooded like any other...
    assert r1.routes()[N3] == (3, IPv4Address("10.0.12.2"))  # ...but R1 does not list it back


def test_malformed_messages_are_dropped_and_counted():
    net = triangle()
    ls = _converged(net)
    r1 = ls["R1"]
    before = r1.routes()
    r1.receive(IPv4Address("10.0.12.2"), b"\x01\x02garbage", net.now)
    assert r1.counters["malformed"] == 1 and r1.errors[-1].startswith("linkstate: ")
    assert r1.routes() == before


def test_fifty_routers_converge_to_working_paths():
    net = router_network(50, seed=2, hosts=True)
    ls = install_linkstate(net)
    net.run_for("2s")
    lans = {IPv4Network(f"172.16.{i}.0/24") for i in range(50)}
    for name, r in ls.items():
        assert lans - {IPv4Network(f"172.16.{name[1:]}.0/24")} <= set(r.routes()), name
    assert ping(net["H0"], "172.16.49.10", count=1).received == 1
    assert ping(net["H17"], "172.16.33.10", count=1).received == 1


def _fuzz_input(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if rng.random() < 0.2:
        return rng.bytes(int(rng.integers(0, 60)))
    kind = int(rng.integers(1, 4))
    ids = [IPv4Address(int(x)) for x in rng.integers(0, 2**32, 4)]
    if kind == HELLO:
        msg = LinkStateMessage(HELLO, ids[0], neighbours=tuple(ids[1:]))
    elif kind == ACK:
        msg = LinkStateMessage(ACK, ids[0], acks=tuple((i, int(rng.integers(0, 2**32))) for i in ids))
    else:
        lsa = LSA(ids[1], int(rng.integers(0, 2**32)), int(rng.integers(0, MAX_AGE)),
                  links=((ids[2], 1),), stubs=((IPv4Network((int(ids[3]) & 0xFFFFFF00, 24)), 1),))
        msg = LinkStateMessage(UPDATE, ids[0], lsas=(lsa,))
    raw = bytearray(msg.pack())
    for _ in range(int(rng.integers(1, 4))):
        raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
    if rng.random() < 0.5:
        return _fix(raw) if len(raw) >= 10 else bytes(raw)  # past the checksum, to the fields
    return bytes(raw[: int(rng.integers(0, len(raw) + 1))])


BATCH = 10


@settings(max_examples=max(1, FUZZ_EXAMPLES // BATCH))
@given(st.integers(0, 2**32 - 1))
def test_fuzz_linkstate_parser_raises_only_labkit_errors(seed):
    for k in range(seed * BATCH, seed * BATCH + BATCH):
        note(f"input seed {k}")
        try:
            msg = LinkStateMessage.parse(_fuzz_input(k))
        except ParseError as e:
            assert e.layer == "linkstate" and e.field
            continue
        except LabkitError:
            continue
        assert LinkStateMessage.parse(msg.pack()) == msg


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (Wireshark) is not installed")
def test_wireshark_reads_protocol_253_as_ip_with_no_malformed_packet(tmp_path):
    net = triangle()
    path = tmp_path / "ls.pcap"
    net.capture("R2", pcap=path)
    install_linkstate(net)
    net.run_for("3s")
    net.flush()
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE",
                          "-Y", f"ip.proto == {PROTOCOL}", "-T", "fields", "-e", "ip.checksum.status",
                          "-e", "_ws.malformed"], capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    assert len(out) > 5
    assert set(out) == {"1\t"}  # every IP header checksum good, nothing malformed


def test_convergence_watched_tables_traceroute_and_lost_packets():
    from labkit.sim.routing import two_paths, watch_convergence

    net = two_paths()
    install_linkstate(net)
    net.run_for("30s")
    run = watch_convergence(net, "A", "10.0.4.10", until="300s", trace_every="5s",
                            events=[("60s", "fail", "R2", "R4"), ("200s", "restore", "R2", "R4")])
    # lost from the failure until the dead interval (40 s) runs out and Dijkstra reroutes
    (start, end), = run.loss_windows()
    assert start == 60e9 and 60e9 + 25e9 <= end < 60e9 + 41e9
    assert run.lost == (end - start) // 10**9 + 1
    # the table over time: R1 via R2 at cost 3, then via R3 at cost 4, then back
    hops = {(h, m) for _, h, m in run.next_hops("R1")}
    assert hops == {(IPv4Address("10.0.12.2"), 3), (IPv4Address("10.0.13.3"), 4)}
    short = (IPv4Address("10.0.1.1"), IPv4Address("10.0.12.2"), IPv4Address("10.0.24.4"),
             IPv4Address("10.0.4.10"))
    long = (IPv4Address("10.0.1.1"), IPv4Address("10.0.13.3"), IPv4Address("10.0.35.5"),
            IPv4Address("10.0.54.4"), IPv4Address("10.0.4.10"))
    paths = run.complete_paths()
    assert {p for _, p in paths} >= {short, long}
    assert len(run.path_changes()) >= 2
    first_long = next(t for t, p in paths if p == long)
    assert end < first_long <= end + 10e9  # a traceroute soon after the loss ends sees it
    back = next(t for t, p in paths if t > 200e9 and p == short)
    assert 200e9 <= back <= 206e9  # a restored link is taken up at once (hellos, new LSAs)
