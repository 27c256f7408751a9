"""DNS servers and resolvers (labkit.app.dns_service) on the simulator and on real sockets."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address

import dns.message
import dns.query
import dns.rcode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.app.dns import Message, ResourceRecord
from labkit.app.dns_service import (
    AuthoritativeServer,
    RealServer,
    RecursiveResolver,
    StubResolver,
    Zone,
    exchange,
)
from labkit.errors import LabkitError
from labkit.sim import Network
from labkit.sim.impair import Loss
from labkit.sim.stacks import install_transport

RR = ResourceRecord.make
SOA_ROOT = (".", "a.root-servers.net.", "nstld.example.", 1, 1800, 900, 604800, 86400)


def zones() -> dict[str, Zone]:
    """A root, a TLD (com.) and example.com., with glue, a CNAME and a big TXT record."""
    root = Zone(".", [
        RR(".", "SOA", SOA_ROOT[1:], ttl=86400),
        RR(".", "NS", "a.root-servers.net.", ttl=518400),
        RR("a.root-servers.net.", "A", "10.0.0.2", ttl=518400),
        RR("com.", "NS", "a.gtld-servers.net.", ttl=172800),
        RR("a.gtld-servers.net.", "A", "10.0.0.3", ttl=172800),
    ])
    com = Zone("com.", [
        RR("com.", "SOA", ("a.gtld-servers.net.", "nstld.example.", 1, 1800, 900, 604800, 900)),
        RR("com.", "NS", "a.gtld-servers.net.", ttl=172800),
        RR("example.com.", "NS", "ns1.example.com.", ttl=172800),
        RR("ns1.example.com.", "A", "10.0.0.4", ttl=172800),
    ])
    ex = Zone("example.com.", [
        RR("example.com.", "SOA", ("ns1.example.com.", "admin.example.com.", 7, 3600, 600,
                                   86400, 60), ttl=3600),
        RR("example.com.", "NS", "ns1.example.com.", ttl=3600),
        RR("ns1.example.com.", "A", "10.0.0.4", ttl=3600),
        RR("www.example.com.", "A", "10.0.0.80", ttl=300),
        RR("web.example.com.", "CNAME", "www.example.com.", ttl=600),
        RR("example.com.", "MX", (10, "mail.example.com."), ttl=300),
        RR("mail.example.com.", "A", "10.0.0.25", ttl=300),
        RR("big.example.com.", "TXT", ["x" * 200, "y" * 200, "z" * 200], ttl=300),
    ])
    return {"root": root, "com": com, "example": ex}


def world(seed: int = 1) -> Network:
    """Client, recursive resolver, root, TLD and authoritative server on one switched LAN."""
    net = Network(seed=seed)
    hosts = {"C": "10.0.0.10", "R": "10.0.0.53", "ROOT": "10.0.0.2", "COM": "10.0.0.3",
             "EX": "10.0.0.4"}
    net.add_switch("S")
    for name, ip in hosts.items():
        net.connect(net.add_host(name, ip=f"{ip}/24"), "S", delay="5ms")
    install_transport(net)
    z = zones()
    for host, zone in (("ROOT", "root"), ("COM", "com"), ("EX", "example")):
        AuthoritativeServer([z[zone]]).serve(net[host].transport)
    return net


def resolver(net: Network) -> RecursiveResolver:
    return RecursiveResolver([("a.root-servers.net.", "10.0.0.2")], transport=net["R"].transport,
                             timeout=1.0)


# --------------------------------------------------------------------------- zones


def test_zone_answers_refers_and_denies() -> None:
    z = zones()
    rc, aa, an, ns, ar = z["com"].answer(Message.query("www.example.com").questions[0])
    assert (rc, aa, an) == (0, False, []) and ns[0].data == "ns1.example.com."
    assert ar[0].data == IPv4Address("10.0.0.4")  # the glue
    rc, aa, an, ns, _ = z["example"].answer(Message.query("web.example.com").questions[0])
    assert rc == 0 and aa and [r.rtype for r in an] == [5, 1]  # CNAME, then the A it names
    rc, aa, an, ns, _ = z["example"].answer(Message.query("nope.example.com").questions[0])
    assert rc == 3 and ns[0].rtype == 6 and ns[0].ttl == 60  # NXDOMAIN, SOA minimum as TTL
    rc, _, an, ns, _ = z["example"].answer(Message.query("www.example.com", "AAAA").questions[0])
    assert rc == 0 and an == [] and ns[0].rtype == 6  # NODATA
    rc, *_ = z["example"].answer(Message.query("www.example.org").questions[0])
    assert rc == 5  # REFUSED: not our zone


# --------------------------------------------------------------------------- on the simulator


def test_recursive_resolution_walks_root_tld_authoritative() -> None:
    net = world()
    r = resolver(net)
    res = r.resolve("www.example.com")
    assert res.rcode == 0 and res.addresses == ["10.0.0.80"] and not res.from_cache
    assert [(s.address, s.outcome) for s in r.trace] == [
        ("10.0.0.2", "referral"), ("10.0.0.3", "referral"), ("10.0.0.4", "answer")]
    assert r.trace[0].detail.startswith("com. NS")
    times = [s.time for s in r.trace]
    assert times == sorted(times) and times[0] >= 0.02  # each exchange crosses the switch twice


def test_the_cache_answers_until_the_ttl_runs_out() -> None:
    net = world()
    r = resolver(net)
    r.resolve("www.example.com")
    sent = r.queries_sent
    again = r.resolve("www.example.com")
    assert again.from_cache and r.queries_sent == sent and again.records[0].ttl <= 300
    # mail.example.com: example.com.'s servers are cached, so one question goes straight there
    r.resolve("mail.example.com")
    assert r.queries_sent == sent + 1 and r.trace[0].address == "10.0.0.4"
    net.run_for("301s")  # www's 300 s run out; the NS records (3600 s, 172800 s) do not
    r.resolve("www.example.com")
    assert r.queries_sent == sent + 2 and [s.outcome for s in r.trace] == ["answer"]


def test_negative_answers_are_cached_for_the_soa_minimum() -> None:
    net = world()
    r = resolver(net)
    assert r.resolve("nope.example.com").rcode == 3
    sent = r.queries_sent
    assert r.resolve("nope.example.com", "MX").rcode == 3  # NXDOMAIN holds for every type
    assert r.queries_sent == sent and r.trace[0].outcome == "cache"
    assert r.resolve("www.example.com", "AAAA").records == []  # NODATA
    sent = r.queries_sent
    net.run_for("61s")  # example.com.'s SOA minimum is 60 s
    assert r.resolve("nope.example.com").rcode == 3 and r.queries_sent == sent + 1


def test_cname_is_followed() -> None:
    r = resolver(world())
    res = r.resolve("web.example.com")
    assert [x.rtype for x in res.records] == [5, 1] and res.addresses == ["10.0.0.80"]


def test_truncated_answer_is_retried_over_simulated_tcp() -> None:
    net = world()
    stub = StubResolver(("10.0.0.4", 53), transport=net["C"].transport, timeout=1.0)
    m = stub.query("big.example.com", "TXT")
    assert stub.attempts == ["udp", "tc", "tcp"]
    assert not m.tc and m.answers[0].data == (b"x" * 200, b"y" * 200, b"z" * 200)


def test_a_lost_query_is_retried_after_the_timeout() -> None:
    net = world()
    net.impair("C", "S", Loss(1.0))
    stub = StubResolver(("10.0.0.4", 53), transport=net["C"].transport, timeout=0.5, retries=2)
    with pytest.raises(LabkitError, match="after 3 tries"):
        stub.query("www.example.com")
    assert stub.attempts == ["udp", "timeout"] * 3
    assert 1.4 <= net.now / 1e9 <= 1.6  # three timeouts of 0.5 s of virtual time


def test_stub_asks_a_recursive_resolver_serving_on_a_host() -> None:
    net = world()
    r = resolver(net)
    r.serve()
    stub = StubResolver(("10.0.0.53", 53), transport=net["C"].transport, timeout=2.0)
    m = stub.query("www.example.com")
    assert m.ra and m.rcode == 0 and [str(x.data) for x in m.answers] == ["10.0.0.80"]
    assert [s.outcome for s in r.trace] == ["referral", "referral", "answer"]
    assert stub.query("nope.example.com").rcode == 3


def test_the_resolver_ignores_spoofed_ids() -> None:
    net = world()
    q = Message.query("www.example.com", id=1)
    got = exchange(net["C"].transport, ("10.0.0.4", 53), q, timeout=1.0)
    assert got is not None and got.id == 1 and got.aa


# --------------------------------------------------------------------------- real sockets


def test_real_server_answers_labkit_and_dnspython() -> None:
    z = zones()
    with RealServer(AuthoritativeServer([z["example"]])) as srv:
        host, port = srv.address
        assert host == "127.0.0.1"
        stub = StubResolver(srv.address, transport=socket, timeout=2.0)
        assert stub.addresses("www.example.com") == ["10.0.0.80"]
        q = dns.message.make_query("example.com", "MX")
        r = dns.query.udp(q, host, port=port, timeout=2.0)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & 0x0400  # AA
        assert r.answer[0][0].exchange.to_text() == "mail.example.com."
        assert r.additional[0][0].address == "10.0.0.25"
        r = dns.query.udp(dns.message.make_query("nope.example.com", "A"), host, port=port,
                          timeout=2.0)
        assert r.rcode() == dns.rcode.NXDOMAIN and r.authority[0].rdtype == 6
        # the big TXT record: truncated over UDP, whole over TCP, for both clients
        r = dns.query.udp(dns.message.make_query("big.example.com", "TXT"), host, port=port,
                          timeout=2.0)
        assert r.flags & 0x0200 and not r.answer
        r = dns.query.tcp(dns.message.make_query("big.example.com", "TXT"), host, port=port,
                          timeout=2.0)
        assert len(r.answer[0][0].strings) == 3
        assert stub.query("big.example.com", "TXT").answers[0].data[2] == b"z" * 200
        assert stub.attempts == ["udp", "tc", "tcp"]
        # garbage gets FORMERR, and the server lives on
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2.0)
        s.sendto(b"\x12\x34" + b"\xff" * 20, srv.address)
        data, _ = s.recvfrom(512)
        s.close()
        assert Message.parse(data).rcode == 1 and Message.parse(data).id == 0x1234
        assert stub.addresses("mail.example.com") == ["10.0.0.25"]


# --------------------------------------------------------------------------- a server facing garbage

_GOOD = Message.query("www.example.com", "A", id=9).pack()


@settings(max_examples=FUZZ_EXAMPLES // 5)
@given(st.one_of(st.binary(max_size=80),
                 st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), min_size=1, max_size=4)
                 .map(lambda edits: _mutated(edits))))
def test_the_server_answers_garbage_with_formerr_or_nothing(data: bytes) -> None:
    server = AuthoritativeServer([zones()["example"]])
    out = server.handle(data)
    if out is not None:
        reply = Message.parse(out)
        assert reply.qr and len(out) <= 512
        if len(data) >= 2:
            assert reply.id == int.from_bytes(data[:2], "big")


def _mutated(edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(_GOOD)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b)
