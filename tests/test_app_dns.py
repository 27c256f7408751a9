"""The DNS codec (labkit.app.dns) against dnspython, both ways, every field; and its bad input."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.app.dns import (
    EDNS,
    MX,
    SOA,
    Message,
    Question,
    ResourceRecord,
    name_to_wire,
    normalize_name,
)
from labkit.errors import LabkitError, LabkitValueError, ParseError

IN = 1

# --------------------------------------------------------------------------- strategies

# A small pool of labels, so that names share suffixes and compression has work to do;
# some need escaping (a dot, a quote, a space, a byte above 127).
_LABELS = [b"www", b"example", b"com", b"Mail", b"ns1", b"a", b"x-y", b"b.c", b'q"t', b"sp ace",
           b"\xc3\xa9", b"_srv", b"0"]
labels = st.one_of(st.sampled_from(_LABELS), st.binary(min_size=1, max_size=12))
names = st.lists(labels, min_size=0, max_size=4).map(
    lambda ls: ".".join(_esc(lab) for lab in ls) + "." if ls else ".")


def _esc(label: bytes) -> str:
    return dns.name.Name([label]).to_text(omit_final_dot=True)


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ttls = st.integers(0, 0x7FFFFFFF)


def _data(t: str) -> st.SearchStrategy[tuple[int, object]]:
    if t == "A":
        return st.builds(lambda x: (1, IPv4Address(x)), u32)
    if t == "AAAA":
        return st.builds(lambda x: (28, IPv6Address(x)), st.integers(0, 2**128 - 1))
    if t in ("NS", "CNAME", "PTR"):
        return names.map(lambda n, t=t: ({"NS": 2, "CNAME": 5, "PTR": 12}[t], n))
    if t == "MX":
        return st.builds(lambda p, e: (15, MX(p, e)), u16, names)
    if t == "SOA":
        return st.builds(lambda m, r, *xs: (6, SOA(m, r, *xs)), names, names, u32, u32, u32, u32, u32)
    if t == "TXT":
        return st.lists(st.binary(max_size=20), min_size=1, max_size=3).map(lambda s: (16, tuple(s)))
    return st.builds(lambda c, d: (c, d), st.integers(65280, 65534), st.binary(max_size=16))


rdatas = st.one_of(*(_data(t) for t in ("A", "AAAA", "NS", "CNAME", "PTR", "MX", "SOA", "TXT", "X")))
records = st.builds(lambda n, ttl, td: ResourceRecord(n, td[0], IN, ttl, td[1]), names, ttls, rdatas)
questions = st.builds(Question, names, st.sampled_from([1, 2, 5, 6, 15, 16, 28, 255]),
                      st.sampled_from([1, 3, 255]))
edns = st.builds(EDNS, st.integers(512, 0xFFFF), st.integers(0, 255), st.integers(0, 255),
                 st.booleans(), st.integers(0, 0x7FFF),
                 st.lists(st.tuples(st.integers(65001, 65534), st.binary(max_size=8)), max_size=2)
                 .map(tuple))


@st.composite
def messages(draw: st.DrawFn) -> Message:
    opt = draw(st.none() | edns)
    add = tuple(draw(st.lists(records, max_size=3)))
    if opt is not None:
        add += (opt.record(),)  # dnspython writes the OPT record last
    return Message(
        id=draw(u16), qr=draw(st.booleans()), opcode=draw(st.sampled_from([0, 1, 2, 4])),
        aa=draw(st.booleans()), tc=draw(st.booleans()), rd=draw(st.booleans()),
        ra=draw(st.booleans()), z=draw(st.booleans()), ad=draw(st.booleans()),
        cd=draw(st.booleans()), rcode=draw(st.integers(0, 15)),
        questions=tuple(draw(st.lists(questions, max_size=2))),
        answers=tuple(draw(st.lists(records, max_size=4))),
        authority=tuple(draw(st.lists(records, max_size=3))),
        additional=add,
    )


# --------------------------------------------------------------------------- dnspython's view


def _from_dnspython(rr: dns.rrset.RRset) -> list[ResourceRecord]:
    out = []
    for rd in rr:
        t = rd.rdtype
        data: object
        if t in (1, 28):
            data = IPv4Address(rd.address) if t == 1 else IPv6Address(rd.address)
        elif t in (2, 5, 12):
            data = rd.target.to_text()
        elif t == 15:
            data = MX(rd.preference, rd.exchange.to_text())
        elif t == 6:
            data = SOA(rd.mname.to_text(), rd.rname.to_text(), rd.serial, rd.refresh, rd.retry,
                       rd.expire, rd.minimum)
        elif t == 16:
            data = tuple(rd.strings)
        else:
            data = rd.data
        out.append(ResourceRecord(rr.name.to_text(), int(t), int(rr.rdclass), rr.ttl, data))
    return out


def _dnspython_view(d: dns.message.Message) -> dict[str, object]:
    """Every field dnspython parsed, in labkit's terms."""
    view: dict[str, object] = {
        "id": d.id, "flags": d.flags,
        "questions": [Question(q.name.to_text(), int(q.rdtype), int(q.rdclass)) for q in d.question],
        "answers": [r for s in d.answer for r in _from_dnspython(s)],
        "authority": [r for s in d.authority for r in _from_dnspython(s)],
        "additional": [r for s in d.additional for r in _from_dnspython(s)],
        "rcode": int(d.rcode()),
    }
    if d.opt is not None:
        opt = d.opt[0]
        view["edns"] = (d.payload, d.ednsflags, d.edns,
                        tuple((int(o.otype), o.to_wire()) for o in opt.options))
    else:
        view["edns"] = None
    return view


def _labkit_view(m: Message) -> dict[str, object]:
    e = m.edns
    opt = [r for r in m.additional if r.rtype == 41]
    return {
        "id": m.id, "flags": m.flags, "questions": list(m.questions),
        "answers": list(m.answers), "authority": list(m.authority),
        "additional": [r for r in m.additional if r.rtype != 41],
        "rcode": m.full_rcode,
        "edns": None if e is None else (e.udp_size, opt[0].ttl, e.version, e.options),
    }


def _to_dnspython(m: Message) -> dns.message.Message:
    """The same message, built field by field with dnspython's own classes."""

    def name(text: str) -> dns.name.Name:
        return dns.name.from_text(text)

    def rdata(rr: ResourceRecord) -> dns.rdata.Rdata:
        t, d = rr.rtype, rr.data
        if t == 1:
            return dns.rdtypes.IN.A.A(IN, t, str(d))
        if t == 28:
            return dns.rdtypes.IN.AAAA.AAAA(IN, t, str(d))
        if t in (2, 5, 12):
            cls = {2: dns.rdtypes.ANY.NS.NS, 5: dns.rdtypes.ANY.CNAME.CNAME, 12: dns.rdtypes.ANY.PTR.PTR}[t]
            return cls(IN, t, name(d))
        if t == 15:
            return dns.rdtypes.ANY.MX.MX(IN, t, d.preference, name(d.exchange))
        if t == 6:
            return dns.rdtypes.ANY.SOA.SOA(IN, t, name(d.mname), name(d.rname), *d[2:])
        if t == 16:
            return dns.rdtypes.ANY.TXT.TXT(IN, t, list(d))
        return dns.rdata.GenericRdata(IN, t, d)

    def rrsets(sec: tuple[ResourceRecord, ...]) -> list[dns.rrset.RRset]:
        out = []
        for rr in sec:
            if rr.rtype == 41:
                continue
            s = dns.rrset.RRset(name(rr.name), rr.rclass, rr.rtype)
            s.add(rdata(rr), rr.ttl)
            out.append(s)
        return out

    d = dns.message.Message(id=m.id)
    d.flags = m.flags
    d.question = [dns.rrset.RRset(name(q.name), q.qclass, q.qtype) for q in m.questions]
    d.answer, d.authority, d.additional = rrsets(m.answers), rrsets(m.authority), rrsets(m.additional)
    e = m.edns
    if e is not None:
        opt = [r for r in m.additional if r.rtype == 41][0]
        d.use_edns(edns=e.version, ednsflags=opt.ttl, payload=e.udp_size,
                   options=[dns.edns.GenericOption(c, v) for c, v in e.options])
        d.ednsflags = opt.ttl  # use_edns keeps only the flags; the extended rcode is the top byte
    return d


def _lower(x: object) -> object:
    """Names compared without case (dnspython's compression matches names without it)."""
    if isinstance(x, str):
        return x.lower()
    if isinstance(x, dict):
        return {k: _lower(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lower(v) for v in x]
    return x


# --------------------------------------------------------------------------- differential


@settings(max_examples=max(300, FUZZ_EXAMPLES // 10))
@given(messages())
def test_labkit_builds_what_dnspython_parses(m: Message) -> None:
    wire = m.pack()
    d = dns.message.from_wire(wire, one_rr_per_rrset=True)
    assert _dnspython_view(d) == _labkit_view(m)
    assert Message.parse(wire) == m


@settings(max_examples=max(300, FUZZ_EXAMPLES // 10))
@given(messages())
def test_labkit_parses_what_dnspython_builds(m: Message) -> None:
    wire = _to_dnspython(m).to_wire()
    parsed = Message.parse(wire)
    # exactly what dnspython itself reads from those bytes, case and all ...
    assert _labkit_view(parsed) == _dnspython_view(dns.message.from_wire(wire, one_rr_per_rrset=True))
    # ... which is the message we asked dnspython to build, up to the case of compressed names
    assert _lower(_labkit_view(parsed)) == _lower(_labkit_view(m))
    assert parsed.pack() == m.pack() or len(parsed.pack()) <= len(wire) + 64


def test_a_typical_response_field_by_field() -> None:
    q = dns.message.make_query("example.com", "MX", use_edns=0, payload=1232, want_dnssec=True)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.answer.append(dns.rrset.from_text("example.com.", 300, "IN", "MX", "10 mail.example.com."))
    r.authority.append(dns.rrset.from_text("example.com.", 3600, "IN", "NS", "ns1.example.com."))
    r.additional.append(dns.rrset.from_text("ns1.example.com.", 60, "IN", "A", "192.0.2.53"))
    m = Message.parse(r.to_wire())
    assert m.id == q.id and m.qr and m.aa and m.rd and not m.tc and m.rcode == 0
    assert m.questions == (Question("example.com.", 15, 1),)
    assert m.answers == (ResourceRecord("example.com.", 15, 1, 300, MX(10, "mail.example.com.")),)
    assert m.authority[0].data == "ns1.example.com." and m.authority[0].ttl == 3600
    assert m.additional[0].data == IPv4Address("192.0.2.53")
    e = Message.parse(q.to_wire()).edns  # the query's OPT record: what the client can take
    assert e is not None and e.udp_size == 1232 and e.do and e.version == 0
    assert m.edns is not None and m.edns.udp_size == r.payload
    # labkit's own bytes for it compress as well as dnspython's
    assert len(m.pack()) <= len(r.to_wire())


def test_make_checks_and_converts() -> None:
    rr = ResourceRecord.make("Www.Example.com", "A", "192.0.2.1", ttl=5)
    assert rr == ResourceRecord("Www.Example.com.", 1, 1, 5, IPv4Address("192.0.2.1"))
    assert ResourceRecord.make("t", "TXT", "hi").data == (b"hi",)
    assert normalize_name("a\\.b.c") == "a\\.b.c." and name_to_wire("a\\.b.c") == b"\x03a.b\x01c\x00"
    with pytest.raises(LabkitValueError, match="63"):
        normalize_name("a" * 64 + ".com")
    with pytest.raises(LabkitValueError, match="255"):
        normalize_name(".".join(["a" * 60] * 5))
    with pytest.raises(LabkitValueError, match="empty label"):
        normalize_name("a..b")
    with pytest.raises(LabkitValueError, match="address"):
        ResourceRecord.make("x", "A", "2001:db8::1")
    with pytest.raises(LabkitValueError, match="rtype"):
        Question.make("x", "NOPE")


def test_truncation_keeps_the_question_and_sets_tc() -> None:
    q = Message.query("big.example.", "TXT", id=7)
    many = tuple(ResourceRecord.make("big.example.", "TXT", "x" * 200, ttl=60) for _ in range(5))
    full = q.reply(answers=many, aa=True)
    assert len(full.pack()) > 512
    cut = Message.parse(full.pack(max_size=512))
    assert cut.tc and cut.answers == () and cut.questions == q.questions and cut.id == 7
    assert Message.parse(full.pack(max_size=4096)) == full


# --------------------------------------------------------------------------- bad input


def _header(qd: int = 1, an: int = 0) -> bytes:
    return struct.pack("!6H", 1, 0, qd, an, 0, 0)


@pytest.mark.parametrize("body, field", [
    (b"\xc0\x0c\x00\x01\x00\x01", "compression pointer"),          # points at itself: a loop
    (b"\x01a\xc0\x0c\x00\x01\x00\x01", "compression pointer"),     # back to its own start: a loop
    (b"\xc0\x20\x00\x01\x00\x01", "compression pointer"),          # forward, past the end
    (b"\xff\xff\x00\x01\x00\x01", "compression pointer"),
    (b"\x05ab", "name"),                                           # label past the end
    (b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01", "label length"),
    (b"\x03www", "name"),                                          # no final zero
    (b"\x00\x00", "question"),                                     # type and class cut off
])
def test_bad_names_are_clear_errors(body: bytes, field: str) -> None:
    with pytest.raises(ParseError) as e:
        Message.parse(_header() + body)
    assert e.value.layer == "dns" and e.value.field == field


def test_a_chain_of_pointers_between_two_names_ends() -> None:
    # Two names pointing at each other (offset 12 -> 14 -> 12...) is refused, not followed.
    body = b"\xc0\x0e\xc0\x0c" + b"\x00\x01\x00\x01" * 2
    with pytest.raises(ParseError, match="loop|past"):
        Message.parse(_header(qd=2) + body)


def test_a_long_backward_chain_is_bounded_by_255_bytes() -> None:
    # 200 one-label names each pointing at the one before: the name grows past 255 bytes.
    body = bytearray(b"\x01a\x00\x00\x01\x00\x01")
    prev = 12
    for _ in range(200):
        here = 12 + len(body)
        body += b"\x01a" + struct.pack("!H", 0xC000 | prev) + b"\x00\x01\x00\x01"
        prev = here
    with pytest.raises(ParseError, match="255"):
        Message.parse(_header(qd=201) + bytes(body))


@pytest.mark.parametrize("rr, field", [
    (b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x05\x01\x02\x03\x04\x05", "rdlength"),  # A of 5
    (b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x09\x01", "rdlength"),                 # past the end
    (b"\x00\x00\x10\x00\x01\x00\x00\x00\x00\x00\x02\x05a", "TXT string length"),
    (b"\x00\x00\x0f\x00\x01\x00\x00\x00\x00\x00\x02\x00\x01", "rdlength"),             # MX too short
    (b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x03\x00\x01\x00", "EDNS option"),
    (b"\x01a\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00", "OPT owner name"),
    (b"\x00\x00\x02\x00\x01\x00\x00\x00\x00\x00\x04\x01a\x00\x00", "rdlength"),        # NS name short
    (b"\x00\x00\x01", "answer"),
])
def test_bad_records_are_clear_errors(rr: bytes, field: str) -> None:
    with pytest.raises(ParseError) as e:
        Message.parse(_header(qd=0, an=1) + rr)
    assert e.value.field == field


_SEEDS = [
    Message.query("www.example.com", "AAAA", id=1, edns=EDNS(1232, options=((10, b"12345678"),))).pack(),
    Message.query("example.com", "MX", id=2).reply(
        aa=True, answers=(ResourceRecord.make("example.com", "MX", (10, "mail.example.com")),),
        authority=(ResourceRecord.make("example.com", "SOA",
                                       ("ns1.example.com", "admin.example.com", 1, 2, 3, 4, 5)),),
        additional=(ResourceRecord.make("mail.example.com", "A", "192.0.2.25"),
                    ResourceRecord.make("mail.example.com", "TXT", ["a", "b"]))).pack(),
]


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                                min_size=1, max_size=6))
    .map(lambda s: _mutate(*s)),
    st.tuples(st.sampled_from(_SEEDS), st.integers(0, 300)).map(lambda s: s[0][:s[1]]),
))
def test_fuzz_only_labkit_errors(data: bytes) -> None:
    try:
        m = Message.parse(data)
    except ParseError as e:
        assert e.layer == "dns" and e.field and repr(e.value) in str(e)
        return
    except LabkitError:  # pragma: no cover - a parse error is expected, never anything else
        raise
    # what parses packs, and packs to something that parses to the same message
    assert Message.parse(m.pack()) == m


def _mutate(seed: bytes, edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(seed)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b)
