"""DNS (RFC 1035): the message that carries every name lookup, and how it is packed.

A DNS message is a 12-byte header (:data:`HEADER`: an id, the flags, and four
counts) and four sections of records: the *question* (what is asked), the
*answer*, the *authority* (which servers know more) and the *additional*
(addresses of those servers, EDNS0's OPT pseudo-record).

Names are kept as text, absolute, ending in a dot (``"www.example.com."``;
the root is ``"."``), escaped as RFC 1035 section 5.1 and dnspython write them
(``\\.`` for a dot inside a label, ``\\DDD`` for a byte that is not printable).
On the wire a name is a run of labels, each a length byte and that many bytes,
ended by a zero; a *compression pointer* (two bytes, the top two bits set)
stands for the rest of the name as it appears earlier in the message.
:meth:`Message.pack` compresses every name it may; :meth:`Message.parse`
follows pointers, refusing one that points past the end, forward or at itself
(which is how a loop starts) with a :class:`~labkit.errors.ParseError`.

Record data (``rdata``) is typed for the types the course uses:

========  ==========================================  =========================
type      rdata                                       example
========  ==========================================  =========================
A         ``ipaddress.IPv4Address``                   ``IPv4Address("192.0.2.1")``
AAAA      ``ipaddress.IPv6Address``                   ``IPv6Address("2001:db8::1")``
NS        a name                                      ``"ns1.example.com."``
CNAME     a name                                      ``"www.example.com."``
PTR       a name                                      ``"host.example.com."``
MX        :class:`MX`                                 ``MX(10, "mail.example.com.")``
TXT       a tuple of byte strings                     ``(b"v=spf1 -all",)``
SOA       :class:`SOA`                                ``SOA("ns1.", "admin.", 1, ...)``
OPT       a tuple of ``(code, bytes)`` EDNS options   ``((10, b"cookie"),)``
other     the raw bytes                               ``b"\\x00\\x01"``
========  ==========================================  =========================

An OPT record (EDNS0, RFC 6891) sits in the additional section; its class is
the sender's UDP payload size and its TTL holds the extended rcode, the
version and the DO bit: :attr:`Message.edns` reads them as an :class:`EDNS`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, NamedTuple, Union

from labkit.errors import LabkitValueError, ParseError
from labkit.fields import Layout, unfrozen_twin

__all__ = [
    "HEADER", "PORT", "TYPES", "CLASSES", "RCODES", "OPCODES",
    "Question", "ResourceRecord", "MX", "SOA", "EDNS", "Message",
    "type_code", "type_name", "class_code", "rcode_name",
    "name_to_wire", "normalize_name", "name_labels", "is_subdomain",
]

_LAYER = "dns"
#: DNS's well-known port, over UDP and over TCP.
PORT = 53

#: The header, field by field (RFC 1035 section 4.1.1).
HEADER = Layout(
    ("id", "H"),
    ("flags", "H"),
    ("qdcount", "H"),
    ("ancount", "H"),
    ("nscount", "H"),
    ("arcount", "H"),
)

#: Record types by name (RFC 1035, 3596 for AAAA, 6891 for OPT).
TYPES = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
    "AAAA": 28, "SRV": 33, "OPT": 41, "DS": 43, "RRSIG": 46, "DNSKEY": 48,
    "AXFR": 252, "ANY": 255,
}
_TYPE_NAMES = {v: k for k, v in TYPES.items()}
#: Classes by name: IN (the Internet) is the only one in use; CH(AOS) names servers.
CLASSES = {"IN": 1, "CH": 3, "HS": 4, "NONE": 254, "ANY": 255}
_CLASS_NAMES = {v: k for k, v in CLASSES.items()}
#: Response codes (RFC 1035 4.1.1; BADVERS needs EDNS's extended rcode).
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4,
          "REFUSED": 5, "YXDOMAIN": 6, "YXRRSET": 7, "NXRRSET": 8, "NOTAUTH": 9,
          "NOTZONE": 10, "BADVERS": 16}
_RCODE_NAMES = {v: k for k, v in RCODES.items()}
OPCODES = {"QUERY": 0, "IQUERY": 1, "STATUS": 2, "NOTIFY": 4, "UPDATE": 5}

A, NS, CNAME, SOA_TYPE, PTR, MX_TYPE, TXT, AAAA, OPT = 1, 2, 5, 6, 12, 15, 16, 28, 41
_NAME_TYPES = frozenset((NS, CNAME, PTR))
MAX_NAME_LENGTH = 255  # bytes on the wire, with the length bytes and the final zero
MAX_LABEL_LENGTH = 63


def type_code(t: int | str) -> int:
    """A record type as its number: ``"AAAA"`` -> 28, ``"TYPE99"`` -> 99, 28 -> 28."""
    if type(t) is int:
        if 0 <= t <= 0xFFFF:
            return t
    elif isinstance(t, str):
        u = t.upper()
        if u in TYPES:
            return TYPES[u]
        if u.startswith("TYPE") and u[4:].isdigit() and int(u[4:]) <= 0xFFFF:
            return int(u[4:])
    raise LabkitValueError(f"rtype={t!r}: expected a type name ({', '.join(TYPES)}) or 0..65535")


def type_name(code: int) -> str:
    """A record type's name: 28 -> ``"AAAA"``, 99 -> ``"TYPE99"`` (RFC 3597)."""
    return _TYPE_NAMES.get(code, f"TYPE{code}")


def class_code(c: int | str) -> int:
    """A class as its number: ``"IN"`` -> 1."""
    if type(c) is int:
        if 0 <= c <= 0xFFFF:
            return c
    elif isinstance(c, str):
        u = c.upper()
        if u in CLASSES:
            return CLASSES[u]
        if u.startswith("CLASS") and u[5:].isdigit() and int(u[5:]) <= 0xFFFF:
            return int(u[5:])
    raise LabkitValueError(f"rclass={c!r}: expected a class name ({', '.join(CLASSES)}) or 0..65535")


def rcode_name(code: int) -> str:
    """A response code's name: 3 -> ``"NXDOMAIN"``."""
    return _RCODE_NAMES.get(code, str(code))


# --------------------------------------------------------------------------- names

# Bytes that stand for themselves in a name's text (dnspython's and BIND's choice).
_PLAIN = re.compile(rb'[!#%&\'*+,\-/0-9:<=>?A-Z\[\]^_`a-z{|}~]*\Z')
_SPECIAL = frozenset(b'"().;\\@$')


def _label_text(label: bytes) -> str:
    if _PLAIN.match(label):
        return label.decode("ascii")
    out = []
    for c in label:
        if c in _SPECIAL:
            out.append("\\" + chr(c))
        elif 0x20 < c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    return "".join(out)


def _text_labels(name: str) -> list[bytes]:
    """A name's labels as bytes, from its text (escapes undone); the root is []."""
    if name == "." or name == "":
        return []
    if "\\" not in name:
        body = name[:-1] if name.endswith(".") else name
        try:
            plain = [p.encode("ascii") for p in body.split(".")]
        except UnicodeEncodeError:
            raise LabkitValueError(
                f"name={name!r}: not ASCII; write an internationalised name in its "
                "xn-- (IDNA) form") from None
        if any(not p for p in plain):
            raise LabkitValueError(f"name={name!r}: has an empty label (two dots in a row)")
        return plain
    labels: list[bytes] = []
    cur = bytearray()
    i, n = 0, len(name)
    while i < n:
        ch = name[i]
        if ch == "\\":
            if i + 3 < n and name[i + 1:i + 4].isdigit():  # \DDD: a byte by its decimal value
                v = int(name[i + 1:i + 4])
                if v > 255:
                    raise LabkitValueError(f"name={name!r}: escape \\{v} is not a byte")
                cur.append(v)
                i += 4
                continue
            if i + 1 >= n:
                raise LabkitValueError(f"name={name!r}: ends in a lone backslash")
            ch = name[i + 1]  # \X: the character X itself, even a dot
            i += 1
        elif ch == ".":
            if not cur:
                raise LabkitValueError(f"name={name!r}: has an empty label (two dots in a row)")
            labels.append(bytes(cur))
            cur = bytearray()
            i += 1
            continue
        try:
            cur.extend(ch.encode("ascii"))
        except UnicodeEncodeError:
            raise LabkitValueError(f"name={name!r}: not ASCII") from None
        i += 1
    if cur:
        labels.append(bytes(cur))
    return labels


def _check_labels(name: object, labels: list[bytes]) -> None:
    total = 1
    for lab in labels:
        if len(lab) > MAX_LABEL_LENGTH:
            raise LabkitValueError(
                f"name={name!r}: label {lab[:20]!r}... is {len(lab)} bytes, more than 63")
        total += len(lab) + 1
    if total > MAX_NAME_LENGTH:
        raise LabkitValueError(f"name={name!r}: {total} bytes on the wire, more than 255")


_normal_cache: dict[str, str] = {}


def normalize_name(name: object) -> str:
    """A name in labkit's form: absolute, ending in a dot, escaped as dnspython writes it."""
    if type(name) is str:
        hit = _normal_cache.get(name)
        if hit is not None:
            return hit
    if not isinstance(name, str):
        raise LabkitValueError(f"name={name!r}: expected a domain name as text")
    labels = _text_labels(name)
    _check_labels(name, labels)
    text = ".".join(_label_text(lab) for lab in labels) + "."
    if len(_normal_cache) < 4096:
        _normal_cache[name] = text
    return text


def name_labels(name: str) -> list[bytes]:
    """The labels of a name as bytes (``"www.example.com."`` -> [b"www", b"example", b"com"])."""
    return _text_labels(normalize_name(name))


def name_to_wire(name: str) -> bytes:
    """A name as uncompressed wire bytes: length-prefixed labels and the final zero."""
    return b"".join(bytes((len(lab),)) + lab for lab in name_labels(name)) + b"\x00"


def is_subdomain(name: str, zone: str) -> bool:
    """Whether ``name`` is ``zone`` or below it (case-insensitive, as DNS compares names)."""
    n, z = normalize_name(name).lower(), normalize_name(zone).lower()
    return z == "." or n == z or n.endswith("." + z)


# --------------------------------------------------------------------------- records


class MX(NamedTuple):
    """An MX record's data: the mail server ``exchange`` and its ``preference`` (lower first)."""

    preference: int
    exchange: str


class SOA(NamedTuple):
    """A zone's start of authority: its primary server, its admin's mailbox, and its timers.

    ``minimum`` is, since RFC 2308, the TTL of a negative answer (NXDOMAIN, NODATA).
    """

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


RData = Union[IPv4Address, IPv6Address, str, MX, SOA, "tuple[bytes, ...]",
              "tuple[tuple[int, bytes], ...]", bytes]


class Question(NamedTuple):
    """One entry of the question section: a name, a type and a class (``IN`` = 1)."""

    name: str
    qtype: int = A
    qclass: int = 1

    @classmethod
    def make(cls, name: str, qtype: int | str = "A", qclass: int | str = "IN") -> Question:
        """A question from text: ``Question.make("example.com", "MX")``."""
        return cls(normalize_name(name), type_code(qtype), class_code(qclass))

    def summary(self) -> str:
        return f"{self.name} {_CLASS_NAMES.get(self.qclass, self.qclass)} {type_name(self.qtype)}?"


class ResourceRecord(NamedTuple):
    """A resource record: owner name, type, class, time to live (seconds), typed data.

    For an OPT record, ``rclass`` is the UDP payload size and ``ttl`` the
    extended rcode, version and flags (see :class:`EDNS`).
    """

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: Any

    @classmethod
    def make(cls, name: str, rtype: int | str, data: Any, ttl: int = 3600,
             rclass: int | str = "IN") -> ResourceRecord:
        """A record from text and plain values, checked and converted.

        ``ResourceRecord.make("www.example.com", "A", "192.0.2.1", ttl=300)``;
        MX takes ``(preference, exchange)``, SOA seven values, TXT a string or
        a sequence of strings or bytes.
        """
        t = type_code(rtype)
        if type(ttl) is not int or not 0 <= ttl <= 0xFFFFFFFF:
            raise LabkitValueError(f"ttl={ttl!r}: expected an int 0..4294967295 (seconds)")
        return cls(normalize_name(name), t, class_code(rclass), ttl, _check_rdata(t, data))

    def summary(self) -> str:
        return (f"{self.name} {self.ttl} {_CLASS_NAMES.get(self.rclass, self.rclass)} "
                f"{type_name(self.rtype)} {rdata_text(self.rtype, self.data)}")


def rdata_text(rtype: int, data: Any) -> str:
    """Record data in zone-file form (``10 mail.example.com.``)."""
    if rtype == TXT:
        return " ".join('"' + s.decode("latin-1").replace('"', '\\"') + '"' for s in data)
    if rtype == MX_TYPE:
        return f"{data.preference} {data.exchange}"
    if rtype == SOA_TYPE:
        return " ".join(str(x) for x in data)
    if isinstance(data, bytes):
        return f"\\# {len(data)} {data.hex()}"
    return str(data)


def _check_rdata(t: int, data: Any) -> Any:
    try:
        if t == A:
            return IPv4Address(data)
        if t == AAAA:
            return IPv6Address(data)
    except ValueError as e:
        raise LabkitValueError(f"data={data!r}: not an address for a {type_name(t)} record ({e})") from None
    if t in _NAME_TYPES:
        return normalize_name(data)
    if t == MX_TYPE:
        pref, exch = data
        if type(pref) is not int or not 0 <= pref <= 0xFFFF:
            raise LabkitValueError(f"preference={pref!r}: expected an int 0..65535")
        return MX(pref, normalize_name(exch))
    if t == SOA_TYPE:
        mname, rname, *nums = data
        if len(nums) != 5 or any(type(x) is not int or not 0 <= x <= 0xFFFFFFFF for x in nums):
            raise LabkitValueError(f"data={data!r}: SOA takes two names and five 32-bit numbers")
        return SOA(normalize_name(mname), normalize_name(rname), *nums)
    if t == TXT:
        items = (data,) if isinstance(data, (str, bytes)) else tuple(data)
        out = tuple(s.encode() if isinstance(s, str) else bytes(s) for s in items)
        if not out or any(len(s) > 255 for s in out):
            raise LabkitValueError(f"data={data!r}: TXT takes one or more strings of at most 255 bytes")
        return out
    if t == OPT:
        return tuple((int(c), bytes(v)) for c, v in data)
    if not isinstance(data, (bytes, bytearray)):
        raise LabkitValueError(f"data={data!r}: a {type_name(t)} record's data is given as bytes")
    return bytes(data)


class EDNS(NamedTuple):
    """EDNS0 (RFC 6891), as read from the OPT record: what the sender can take and its flags."""

    udp_size: int = 1232
    ext_rcode: int = 0
    version: int = 0
    do: bool = False
    flags: int = 0  # the 16 flag bits of the TTL, DO being the top one
    options: tuple[tuple[int, bytes], ...] = ()

    def record(self) -> ResourceRecord:
        ttl = (self.ext_rcode << 24) | (self.version << 16) | (self.flags | (0x8000 if self.do else 0))
        return ResourceRecord(".", OPT, self.udp_size, ttl, tuple(self.options))


# --------------------------------------------------------------------------- the message

_QR, _AA, _TC, _RD, _RA, _AD, _CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0020, 0x0010


@dataclass(frozen=True, slots=True)
class Message:
    """A DNS message: the header's fields and the four sections.

    ``Message.query("example.com", "MX")`` makes a query;
    :meth:`reply` starts the answer to one. ``parse(pack(m)) == m``.
    """

    id: int = 0
    qr: bool = False
    opcode: int = 0
    aa: bool = False
    tc: bool = False
    rd: bool = True
    ra: bool = False
    z: bool = False
    ad: bool = False
    cd: bool = False
    rcode: int = 0
    questions: tuple[Question, ...] = ()
    answers: tuple[ResourceRecord, ...] = ()
    authority: tuple[ResourceRecord, ...] = ()
    additional: tuple[ResourceRecord, ...] = ()

    def __post_init__(self) -> None:
        for name, bits in (("id", 16), ("opcode", 4), ("rcode", 4)):
            v = getattr(self, name)
            if type(v) is not int or not 0 <= v < (1 << bits):
                raise LabkitValueError(f"{name}={v!r}: expected an int 0..{(1 << bits) - 1}")
        for name in ("questions", "answers", "authority", "additional"):
            v = getattr(self, name)
            if type(v) is not tuple:
                object.__setattr__(self, name, tuple(v))

    # ------------------------------------------------------------------ making

    @classmethod
    def query(cls, name: str, qtype: int | str = "A", *, id: int = 0, rd: bool = True,
              edns: EDNS | None = None) -> Message:
        """A query for one name and type; with ``edns`` an OPT record says what we can take."""
        add = (edns.record(),) if edns is not None else ()
        return cls(id=id, rd=rd, questions=(Question.make(name, qtype),), additional=add)

    def reply(self, *, rcode: int | str = 0, aa: bool = False, ra: bool = False,
              answers: tuple[ResourceRecord, ...] = (), authority: tuple[ResourceRecord, ...] = (),
              additional: tuple[ResourceRecord, ...] = (), tc: bool = False) -> Message:
        """The response to this query: same id, question and RD, QR set."""
        rc = rcode if type(rcode) is int else RCODES[str(rcode).upper()]
        return Message(id=self.id, qr=True, opcode=self.opcode, aa=aa, tc=tc, rd=self.rd, ra=ra,
                       cd=self.cd, rcode=rc, questions=self.questions, answers=tuple(answers),
                       authority=tuple(authority), additional=tuple(additional))

    # ------------------------------------------------------------------ reading

    @property
    def flags(self) -> int:
        """The header's 16-bit flags word."""
        return ((_QR if self.qr else 0) | (self.opcode << 11) | (_AA if self.aa else 0)
                | (_TC if self.tc else 0) | (_RD if self.rd else 0) | (_RA if self.ra else 0)
                | (0x40 if self.z else 0) | (_AD if self.ad else 0) | (_CD if self.cd else 0)
                | self.rcode)

    @property
    def edns(self) -> EDNS | None:
        """The OPT record's contents, or None when the message has none."""
        for rr in self.additional:
            if rr.rtype == OPT:
                return EDNS(rr.rclass, rr.ttl >> 24, (rr.ttl >> 16) & 0xFF, bool(rr.ttl & 0x8000),
                            rr.ttl & 0x7FFF, rr.data)
        return None

    @property
    def full_rcode(self) -> int:
        """The rcode with EDNS's upper 8 bits, as RFC 6891 defines it."""
        e = self.edns
        return self.rcode | ((e.ext_rcode << 4) if e is not None else 0)

    def summary(self) -> str:
        kind = "response" if self.qr else "query"
        q = ", ".join(q.summary() for q in self.questions)
        flags = " ".join(n for n, on in (("aa", self.aa), ("tc", self.tc), ("rd", self.rd),
                                          ("ra", self.ra)) if on)
        extra = ""
        if self.qr:
            extra = (f" {rcode_name(self.rcode)} an={len(self.answers)} ns={len(self.authority)} "
                     f"ar={len(self.additional)}")
        return f"DNS {kind} id={self.id} [{flags}] {q}{extra}"

    def text(self) -> str:
        """The message as dig prints it: one line per record, by section."""
        lines = [self.summary()]
        for title, sec in (("QUESTION", self.questions), ("ANSWER", self.answers),
                           ("AUTHORITY", self.authority), ("ADDITIONAL", self.additional)):
            if sec:
                lines.append(f";; {title}")
                lines.extend("  " + r.summary() for r in sec)
        return "\n".join(lines)

    # ------------------------------------------------------------------ the wire

    def pack(self, *, compress: bool = True, max_size: int | None = None) -> bytes:
        """The message's bytes, names compressed.

        With ``max_size`` (a UDP reply's limit: 512, or EDNS's payload size) a
        message that would be longer is cut to its question with TC set, as
        a server does before the client retries over TCP (RFC 7766).
        """
        w = _Writer(compress)
        for q in self.questions:
            w.name(q.name)
            w.buf += _HH(q.qtype, q.qclass)
        for sec in (self.answers, self.authority, self.additional):
            for rr in sec:
                w.record(rr)
        body = bytes(w.buf)
        if max_size is not None and 12 + len(body) > max_size:
            cut = Message(id=self.id, qr=self.qr, opcode=self.opcode, aa=self.aa, tc=True,
                          rd=self.rd, ra=self.ra, cd=self.cd, rcode=self.rcode,
                          questions=self.questions,
                          additional=tuple(r for r in self.additional if r.rtype == OPT))
            return cut.pack(compress=compress)
        return _HEADER_PACK(self.id, self.flags, len(self.questions), len(self.answers),
                            len(self.authority), len(self.additional)) + body

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Message:
        """A message from its bytes; a :class:`~labkit.errors.ParseError` names what is wrong."""
        raw = data if type(data) is bytes else _as_bytes(data)
        n = len(raw)
        if n < 12:
            raise ParseError(_LAYER, "length", n, "shorter than the 12-byte header")
        ident, flags, qd, an, ns, ar = _HEADER_UNPACK(raw)
        r = _Reader(raw)
        qs = []
        for _ in range(qd):
            name = r.name()
            p = r.pos
            if p + 4 > n:
                raise ParseError(_LAYER, "question", name, "ends before its type and class")
            qtype, qclass = _HH_UNPACK(raw, p)
            r.pos = p + 4
            qs.append(Question(name, qtype, qclass))
        answers = r.records(an, "answer")
        authority = r.records(ns, "authority")
        additional = r.records(ar, "additional")
        m: Any = _Twin()
        m.id = ident
        m.qr = bool(flags & _QR)
        m.opcode = (flags >> 11) & 0xF
        m.aa = bool(flags & _AA)
        m.tc = bool(flags & _TC)
        m.rd = bool(flags & _RD)
        m.ra = bool(flags & _RA)
        m.z = bool(flags & 0x40)
        m.ad = bool(flags & _AD)
        m.cd = bool(flags & _CD)
        m.rcode = flags & 0xF
        m.questions = tuple(qs)
        m.answers = answers
        m.authority = authority
        m.additional = additional
        m.__class__ = cls
        return m

    def _repr_html_(self) -> str:
        from html import escape
        return "<pre>" + escape(self.text()) + "</pre>"


_HEADER_PACK = HEADER.struct.pack
_HEADER_UNPACK = HEADER.struct.unpack_from
_HH = struct.Struct("!HH").pack
_HH_UNPACK = struct.Struct("!HH").unpack_from
_RR_FIXED = struct.Struct("!HHIH")
_RR_PACK = _RR_FIXED.pack
_RR_UNPACK = _RR_FIXED.unpack_from
_SOA_NUMS = struct.Struct("!IIIII")
_H = struct.Struct("!H")


def _as_bytes(data: object) -> bytes:
    if not isinstance(data, (bytearray, memoryview)):
        raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
    return bytes(data)


class _Writer:
    __slots__ = ("buf", "offsets", "compress")

    def __init__(self, compress: bool) -> None:
        self.buf = bytearray()
        self.offsets: dict[str, int] = {}
        self.compress = compress

    def name(self, name: str, compress: bool = True) -> None:
        """Write a name, pointing at an earlier copy of its longest known suffix."""
        if name == ".":
            self.buf.append(0)
            return
        labels = _wire_labels(name)
        buf, offsets = self.buf, self.offsets
        compress = compress and self.compress
        # the suffixes of the name, as text keys ("www.example.com.", "example.com.", "com.")
        rest = name
        for lab in labels:
            if compress:
                ptr = offsets.get(rest)
                if ptr is not None:
                    buf += _H.pack(0xC000 | ptr)
                    return
            pos = 12 + len(buf)
            if pos < 0x4000:
                offsets.setdefault(rest, pos)
            buf.append(len(lab))
            buf += lab
            rest = _next_suffix(rest, lab)
        buf.append(0)

    def record(self, rr: ResourceRecord) -> None:
        self.name(rr.name)
        t = rr.rtype
        buf = self.buf
        start = len(buf)
        buf += b"\0" * 10  # type, class, ttl, rdlength: filled once the data is written
        d = rr.data
        if t == A or t == AAAA:
            buf += d.packed
        elif t in _NAME_TYPES:
            self.name(d)
        elif t == MX_TYPE:
            buf += _H.pack(d.preference)
            self.name(d.exchange)
        elif t == SOA_TYPE:
            self.name(d.mname)
            self.name(d.rname)
            buf += _SOA_NUMS.pack(d.serial, d.refresh, d.retry, d.expire, d.minimum)
        elif t == TXT:
            for s in d:
                buf.append(len(s))
                buf += s
        elif t == OPT:
            for code, value in d:
                buf += _HH(code, len(value))
                buf += value
        else:
            buf += d
        rdlength = len(buf) - start - 10
        if rdlength > 0xFFFF:
            raise LabkitValueError(f"data: {rdlength} bytes does not fit rdlength (65535)")
        buf[start:start + 10] = _RR_PACK(t, rr.rclass, rr.ttl, rdlength)


_wire_labels_cache: dict[str, list[bytes]] = {}


def _wire_labels(name: str) -> list[bytes]:
    labels = _wire_labels_cache.get(name)
    if labels is None:
        labels = _text_labels(name)
        if len(_wire_labels_cache) < 4096:
            _wire_labels_cache[name] = labels
    return labels


def _next_suffix(text: str, label: bytes) -> str:
    """The name's text after its first label (which is ``label``, maybe escaped)."""
    k = len(label) if _PLAIN.match(label) else len(_label_text(label))
    return text[k + 1:] or "."


class _Reader:
    __slots__ = ("raw", "pos", "n", "names")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pos = 12
        self.n = len(raw)
        self.names: dict[int, tuple[str, int]] = {}  # offset -> (the name from there, wire length)

    def name(self) -> str:
        """Read a name at pos (following pointers), moving pos past its own bytes."""
        raw, n, names = self.raw, self.n, self.names
        p = self.pos
        labels: list[str] = []
        starts: list[int] = []
        end = -1  # where pos goes once the name is read (after the first pointer)
        wire = 1
        lowest = p  # pointers must go strictly backward: below every place already read
        suffix = None
        suffix_wire = 1
        sizes: list[int] = []
        while True:
            if p >= n:
                raise ParseError(_LAYER, "name", p, f"runs past the end of the message ({n} bytes)")
            length = raw[p]
            if length == 0:
                p += 1
                break
            if length >= 0xC0:
                if p + 1 >= n:
                    raise ParseError(_LAYER, "name", p, "compression pointer cut off by the end")
                target = ((length & 0x3F) << 8) | raw[p + 1]
                if end < 0:
                    end = p + 2
                if target >= n:
                    raise ParseError(_LAYER, "compression pointer", target,
                                     f"points past the end of the message ({n} bytes)")
                if target >= lowest:
                    raise ParseError(_LAYER, "compression pointer", target,
                                     f"at offset {p} points forward or back into the same name "
                                     "(a loop)")
                lowest = target
                known = names.get(target)
                if known is not None:
                    suffix, suffix_wire = known
                    break
                p = target
                continue
            if length > MAX_LABEL_LENGTH:
                raise ParseError(_LAYER, "label length", length,
                                 f"at offset {p}: neither a label (<= 63) nor a pointer (0xC0)")
            if p + 1 + length > n:
                raise ParseError(_LAYER, "name", p, "label runs past the end of the message")
            wire += length + 1
            if wire > MAX_NAME_LENGTH:
                raise ParseError(_LAYER, "name", wire, "longer than 255 bytes on the wire")
            starts.append(p)
            sizes.append(length)
            labels.append(_label_text(raw[p + 1:p + 1 + length]))
            p += 1 + length
        self.pos = end if end >= 0 else p
        if suffix is not None:
            wire += suffix_wire - 1
            tail = "" if suffix == "." else suffix
        else:
            tail = ""
        if wire > MAX_NAME_LENGTH:
            raise ParseError(_LAYER, "name", wire, "longer than 255 bytes on the wire")
        if not labels:
            return suffix if suffix is not None else "."
        # remember the name from each label on, for later pointers to it
        text = ".".join(labels) + "." + tail
        k = 0
        for s, lab, size in zip(starts, labels, sizes):
            if s not in names:
                names[s] = (text[k:], wire)
            k += len(lab) + 1
            wire -= size + 1
        return text

    def records(self, count: int, section: str) -> tuple[ResourceRecord, ...]:
        out = []
        raw, n = self.raw, self.n
        for _ in range(count):
            name = self.name()
            p = self.pos
            if p + 10 > n:
                raise ParseError(_LAYER, section, name, "record ends before its type, class, ttl "
                                 "and rdlength")
            t, cls, ttl, rdlength = _RR_UNPACK(raw, p)
            p += 10
            end = p + rdlength
            if end > n:
                raise ParseError(_LAYER, "rdlength", rdlength,
                                 f"{type_name(t)} record's data runs past the end ({n - p} left)")
            data: Any
            if t == A:
                if rdlength != 4:
                    raise ParseError(_LAYER, "rdlength", rdlength, "an A record's data is 4 bytes")
                data = IPv4Address(raw[p:end])
            elif t == AAAA:
                if rdlength != 16:
                    raise ParseError(_LAYER, "rdlength", rdlength, "an AAAA record's data is 16 bytes")
                data = IPv6Address(raw[p:end])
            elif t in _NAME_TYPES:
                self.pos = p
                data = self.name()
                self._ends(end, t)
            elif t == MX_TYPE:
                if rdlength < 3:
                    raise ParseError(_LAYER, "rdlength", rdlength, "too short for an MX record")
                self.pos = p + 2
                data = MX(_H.unpack_from(raw, p)[0], self.name())
                self._ends(end, t)
            elif t == SOA_TYPE:
                self.pos = p
                mname = self.name()
                rname = self.name()
                q = self.pos
                if q + 20 != end:
                    raise ParseError(_LAYER, "rdlength", rdlength,
                                     "an SOA record is two names and 20 bytes of numbers")
                data = SOA(mname, rname, *_SOA_NUMS.unpack_from(raw, q))
            elif t == TXT:
                strings = []
                q = p
                while q < end:
                    k = raw[q]
                    if q + 1 + k > end:
                        raise ParseError(_LAYER, "TXT string length", k,
                                         f"runs past the record's data ({end - q - 1} left)")
                    strings.append(raw[q + 1:q + 1 + k])
                    q += 1 + k
                if not strings:
                    raise ParseError(_LAYER, "rdlength", 0, "a TXT record has at least one string")
                data = tuple(strings)
            elif t == OPT:
                if name != ".":
                    raise ParseError(_LAYER, "OPT owner name", name, "must be the root")
                opts = []
                q = p
                while q < end:
                    if q + 4 > end:
                        raise ParseError(_LAYER, "EDNS option", q, "option header cut off")
                    code, olen = _HH_UNPACK(raw, q)
                    if q + 4 + olen > end:
                        raise ParseError(_LAYER, "EDNS option length", olen,
                                         f"runs past the OPT record's data ({end - q - 4} left)")
                    opts.append((code, raw[q + 4:q + 4 + olen]))
                    q += 4 + olen
                data = tuple(opts)
            else:
                data = raw[p:end]
            self.pos = end
            out.append(ResourceRecord(name, t, cls, ttl, data))
        return tuple(out)

    def _ends(self, end: int, t: int) -> None:
        if self.pos != end:
            raise ParseError(_LAYER, "rdlength", end - self.pos,
                             f"disagrees with the {type_name(t)} record's name")


_Twin = unfrozen_twin(Message)
