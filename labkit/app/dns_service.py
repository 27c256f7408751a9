"""DNS as a service: zones and an authoritative server, a stub resolver, a caching recursive one.

Everything here speaks through sockets made by a *transport*: anything with a
``socket(family, type)`` method. Python's own :mod:`socket` module is one (real
sockets: ``StubResolver(("127.0.0.1", port), transport=socket)``); a simulated
host's ``host.transport`` is another, so the same classes run on labkit's
simulator, where time is virtual.

- :class:`Zone`: the records a server is the authority for, and the answer to a
  question about them: the records, a CNAME chain, a referral to a child zone's
  servers (NS in the authority section, their addresses as glue), NXDOMAIN or
  NODATA with the zone's SOA (whose ``minimum`` is the negative TTL, RFC 2308).
- :class:`AuthoritativeServer`: answers from its zones over UDP (cut to 512
  bytes, or to EDNS's size, with TC set) and over TCP (two-byte length in
  front, RFC 1035 4.2.2). :meth:`~AuthoritativeServer.serve` puts it on a
  simulated host; :class:`RealServer` on 127.0.0.1 in a thread.
- :class:`StubResolver`: what a host's ``getaddrinfo`` does: one question to
  one resolver, retried after a timeout, and again over TCP when the answer
  came back truncated.
- :class:`RecursiveResolver`: starts at the root servers and follows referrals
  down to the authoritative answer, caching every record for its TTL and every
  negative answer for the SOA's minimum; :attr:`~RecursiveResolver.trace` keeps
  the steps of the last resolution (for the lesson's figure).
"""

from __future__ import annotations

import selectors
import socket as _socket
import struct
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from labkit.app.dns import (
    EDNS,
    PORT,
    RCODES,
    TYPES,
    Message,
    Question,
    ResourceRecord,
    is_subdomain,
    normalize_name,
    type_code,
)
from labkit.errors import LabkitError, LabkitValueError, ParseError

__all__ = ["Zone", "AuthoritativeServer", "RealServer", "StubResolver", "RecursiveResolver",
           "Step", "Resolution", "exchange"]

AF_INET, SOCK_DGRAM, SOCK_STREAM = _socket.AF_INET, _socket.SOCK_DGRAM, _socket.SOCK_STREAM
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
_A, _NS, _CNAME, _SOA, _AAAA, _ANY = 1, 2, 5, 6, 28, 255
_LEN = struct.Struct("!H")


# --------------------------------------------------------------------------- zones


class Zone:
    """The records of one zone (``origin`` and the names below it, down to its delegations).

    The records must include the zone's SOA at the origin. A name below the
    origin that has NS records is a delegation (a *zone cut*): questions at or
    below it get a referral, not an answer.
    """

    def __init__(self, origin: str, records: Iterable[ResourceRecord]) -> None:
        self.origin = normalize_name(origin)
        self._key = self.origin.lower()
        self.records: dict[str, list[ResourceRecord]] = {}
        self.names: set[str] = {self._key}  # every name that exists, empty non-terminals too
        for rr in records:
            self.add(rr)
        soa = [r for r in self.records.get(self._key, []) if r.rtype == _SOA]
        if not soa:
            raise LabkitValueError(f"zone {self.origin}: has no SOA record at its origin")
        self.soa = soa[0]

    def add(self, rr: ResourceRecord) -> None:
        """Add one record to the zone."""
        if not isinstance(rr, ResourceRecord):
            raise LabkitValueError(f"records: expected ResourceRecord, got {rr!r}")
        key = rr.name.lower()
        if not is_subdomain(key, self._key):
            raise LabkitValueError(f"record {rr.name}: not in zone {self.origin}")
        self.records.setdefault(key, []).append(rr)
        while key != self._key:
            self.names.add(key)
            key = key.split(".", 1)[1] or "."

    def replace(self, name: str, rtype: int | str, records: Iterable[ResourceRecord]) -> None:
        """Put ``records`` in place of the zone's ``rtype`` records at ``name`` (a record moves)."""
        key, t = normalize_name(name).lower(), type_code(rtype)
        kept = [r for r in self.records.get(key, []) if r.rtype != t]
        self.records[key] = kept
        for rr in records:
            self.add(rr)

    def negative(self) -> ResourceRecord:
        """The SOA as sent with a negative answer: TTL min(SOA TTL, minimum) (RFC 2308)."""
        return self.soa._replace(ttl=min(self.soa.ttl, self.soa.data.minimum))

    def _cut(self, qname: str) -> str | None:
        """The topmost delegation point at or above ``qname`` inside this zone, if any."""
        rel = qname[: len(qname) - len(self._key)] if self._key != "." else qname
        labels = [p for p in rel.split(".") if p]
        name = self._key
        for lab in reversed(labels):
            name = lab + "." + (name if name != "." else "")
            if any(r.rtype == _NS for r in self.records.get(name, ())):
                return name
        return None

    def _glue(self, names: Iterable[str]) -> list[ResourceRecord]:
        out: list[ResourceRecord] = []
        for n in names:
            out.extend(r for r in self.records.get(n.lower(), ()) if r.rtype in (_A, _AAAA))
        return out

    def answer(self, q: Question) -> tuple[int, bool, list[ResourceRecord], list[ResourceRecord],
                                           list[ResourceRecord]]:
        """(rcode, authoritative, answers, authority, additional) for one question."""
        qname = q.name.lower()
        if not is_subdomain(qname, self._key):
            return REFUSED, False, [], [], []
        answers: list[ResourceRecord] = []
        name = qname
        for _ in range(8):  # a CNAME chain inside the zone, at most this long
            cut = self._cut(name)
            if cut is not None:
                ns = [r for r in self.records[cut] if r.rtype == _NS]
                if answers:  # the chain left for a child zone: what we have, and the referral
                    return NOERROR, True, answers, ns, self._glue(r.data for r in ns)
                return NOERROR, False, [], ns, self._glue(r.data for r in ns)
            rrs = self.records.get(name)
            if rrs is None:
                if name in self.names:  # an empty non-terminal: it exists, with no data
                    return NOERROR, True, answers, [self.negative()], []
                return NXDOMAIN, True, answers, [self.negative()], []
            match = [r for r in rrs if r.rtype == q.qtype or q.qtype == _ANY]
            if match:
                answers += match
                extra = [r.data for r in match if r.rtype == _NS]
                extra += [r.data.exchange for r in match if r.rtype == 15]
                return NOERROR, True, answers, [], self._glue(extra)
            cname = [r for r in rrs if r.rtype == _CNAME]
            if not cname:
                return NOERROR, True, answers, [self.negative()], []
            answers += cname
            name = cname[0].data.lower()
            if not is_subdomain(name, self._key):  # the resolver follows it from here
                return NOERROR, True, answers, [], []
        return SERVFAIL, True, answers, [], []


# --------------------------------------------------------------------------- the server


class AuthoritativeServer:
    """Answers questions from its zones; ``log`` keeps (question, rcode, transport) per query."""

    def __init__(self, zones: Iterable[Zone], *, udp_limit: int = 512) -> None:
        self.zones = sorted(zones, key=lambda z: -len(z.origin))  # the most specific first
        self.udp_limit = udp_limit
        self.log: list[tuple[Question | None, int, str]] = []

    def respond(self, query: Message, *, tcp: bool = False) -> Message:
        """The response to a parsed query (as a :class:`Message`)."""
        if query.qr:
            raise LabkitValueError("query: is a response (QR set)")
        if query.opcode != 0:
            return query.reply(rcode=NOTIMP)
        if len(query.questions) != 1:
            return query.reply(rcode=FORMERR)
        q = query.questions[0]
        zone = next((z for z in self.zones if is_subdomain(q.name, z.origin)), None)
        if zone is None:
            return query.reply(rcode=REFUSED)
        rcode, aa, an, ns, ar = zone.answer(q)
        e = query.edns
        if e is not None:
            ar = [*ar, EDNS(udp_size=1232).record()]
        return query.reply(rcode=rcode, aa=aa, answers=tuple(an), authority=tuple(ns),
                           additional=tuple(ar))

    def handle(self, data: bytes, *, tcp: bool = False) -> bytes | None:
        """The bytes to send back for a query's bytes (None: too broken to answer)."""
        try:
            query = Message.parse(data)
        except ParseError:
            if len(data) < 12:
                self.log.append((None, FORMERR, "tcp" if tcp else "udp"))
                return None
            ident, flags = struct.unpack_from("!HH", data)
            self.log.append((None, FORMERR, "tcp" if tcp else "udp"))
            return Message(id=ident, qr=True, opcode=(flags >> 11) & 0xF, rcode=FORMERR).pack()
        if query.qr:
            return None
        response = self.respond(query, tcp=tcp)
        self.log.append((query.questions[0] if query.questions else None, response.rcode,
                         "tcp" if tcp else "udp"))
        if tcp:
            return response.pack()
        e = query.edns
        limit = max(512, min(e.udp_size, 4096)) if e is not None else self.udp_limit
        return response.pack(max_size=limit)

    def serve(self, transport: Any, port: int = PORT) -> tuple[Any, Any]:
        """Answer on ``port`` over UDP and TCP on a simulated host (``host.transport``).

        Event-driven, as a server in the simulation must be: returns the UDP and
        the listening TCP socket.
        """
        udp = transport.socket(AF_INET, SOCK_DGRAM)
        udp.bind(("0.0.0.0", port))

        def datagram(data: bytes, sender: tuple[str, int]) -> None:
            out = self.handle(data)
            if out is not None:
                udp.sendto(out, sender)

        udp.on_datagram(datagram)
        tcp = transport.socket(AF_INET, SOCK_STREAM)
        tcp.bind(("0.0.0.0", port))
        tcp.listen()

        def connected(conn: Any, _peer: tuple[str, int]) -> None:
            buf = bytearray()

            def data(chunk: bytes) -> None:
                buf.extend(chunk)
                while len(buf) >= 2 and len(buf) >= 2 + _LEN.unpack_from(buf)[0]:
                    n = _LEN.unpack_from(buf)[0]
                    msg = bytes(buf[2:2 + n])
                    del buf[:2 + n]
                    out = self.handle(msg, tcp=True)
                    if out is not None:
                        conn.sendall(_LEN.pack(len(out)) + out)

            conn.on_data(data)
            conn.on_close(conn.close)

        tcp.on_connection(connected)
        return udp, tcp


class RealServer:
    """A DNS server on real sockets, UDP and TCP on the same port, in a background thread.

    ``with RealServer(server) as s: s.address`` is ``("127.0.0.1", port)``;
    ``responder`` is anything with ``handle(data, tcp=...)`` (an
    :class:`AuthoritativeServer`, a :class:`RecursiveResolver`).
    """

    def __init__(self, responder: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder = responder
        self._udp = _socket.socket(AF_INET, SOCK_DGRAM)
        self._tcp = _socket.socket(AF_INET, SOCK_STREAM)
        self._tcp.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        for _ in range(20):  # an ephemeral UDP port whose TCP twin is free too
            self._udp.bind((host, port))
            try:
                self._tcp.bind((host, self._udp.getsockname()[1]))
                break
            except OSError:
                if port:
                    raise
                self._udp.close()
                self._udp = _socket.socket(AF_INET, SOCK_DGRAM)
        else:
            raise LabkitError("RealServer: found no port free for both UDP and TCP")
        self._tcp.listen(8)
        self.address: tuple[str, int] = self._udp.getsockname()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def start(self) -> RealServer:
        self._thread = threading.Thread(target=self._run, name="labkit-dns", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "listen")
        conns: dict[Any, bytearray] = {}
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    sock = key.fileobj
                    try:
                        if key.data == "udp":
                            data, sender = self._udp.recvfrom(65535)
                            out = self.responder.handle(data)
                            if out is not None:
                                self._udp.sendto(out, sender)
                        elif key.data == "listen":
                            conn, _ = self._tcp.accept()
                            conn.setblocking(False)
                            conns[conn] = bytearray()
                            sel.register(conn, selectors.EVENT_READ, "conn")
                        elif isinstance(sock, _socket.socket):  # an accepted TCP connection
                            chunk = sock.recv(65535)
                            buf = conns[sock]
                            if not chunk:
                                sel.unregister(sock)
                                sock.close()
                                del conns[sock]
                                continue
                            buf += chunk
                            while len(buf) >= 2 and len(buf) >= 2 + _LEN.unpack_from(buf)[0]:
                                n = _LEN.unpack_from(buf)[0]
                                out = self.responder.handle(bytes(buf[2:2 + n]), tcp=True)
                                del buf[:2 + n]
                                if out is not None:
                                    sock.setblocking(True)
                                    sock.sendall(_LEN.pack(len(out)) + out)
                                    sock.setblocking(False)
                    except OSError:
                        self.errors += 1
        finally:
            for c in conns:
                c.close()
            sel.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> RealServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- asking


def _recv_exactly(sock: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"dns over tcp: connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def exchange(transport: Any, server: tuple[str, int], query: Message, *, timeout: float = 2.0,
             tcp: bool = False) -> Message | None:
    """Send one query and wait for its response (same id, from the server); None on a timeout.

    Over UDP, datagrams with another id or from another address are ignored, as
    a resolver must (they are how a cache poisoning attempt arrives).
    """
    wire = query.pack()
    if tcp:
        s = transport.socket(AF_INET, SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(server)
            s.sendall(_LEN.pack(len(wire)) + wire)
            n = _LEN.unpack(_recv_exactly(s, 2))[0]
            return Message.parse(_recv_exactly(s, n))
        except (TimeoutError, ConnectionError):
            return None
        finally:
            s.close()
    s = transport.socket(AF_INET, SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(wire, server)
        while True:
            try:
                data, sender = s.recvfrom(65535)
            except TimeoutError:
                return None
            if (sender[0], sender[1]) != (server[0], server[1]):
                continue
            try:
                m = Message.parse(data)
            except ParseError:
                continue
            if m.id == query.id and m.qr and m.questions == query.questions:
                return m
    finally:
        s.close()


class _Ids:
    def __init__(self, rng: Any, seed: int) -> None:
        if rng is None:
            import random
            rng = random.Random(seed)
        self.rng = rng

    def next(self) -> int:
        r = self.rng
        if hasattr(r, "integers"):
            return int(r.integers(0, 65536))
        return int(r.randrange(65536))


class StubResolver:
    """One resolver's client: ask ``server``; retry on a timeout; over TCP when truncated.

    ``attempts`` counts what each :meth:`query` did (``"udp"``, ``"timeout"``,
    ``"tc"``, ``"tcp"``), so a test or a lesson can see the fall-back to TCP.
    """

    def __init__(self, server: tuple[str, int], *, transport: Any = _socket, timeout: float = 2.0,
                 retries: int = 2, rng: Any = None, edns: EDNS | None = None) -> None:
        self.server = (str(server[0]), int(server[1]))
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self._ids = _Ids(rng, 53)
        self.edns = edns
        self.attempts: list[str] = []

    def query(self, name: str, qtype: int | str = "A") -> Message:
        """The server's response; a :class:`~labkit.errors.LabkitError` when none came."""
        self.attempts = []
        q = Message.query(name, qtype, id=self._ids.next(), edns=self.edns)
        for _ in range(1 + self.retries):
            self.attempts.append("udp")
            r = exchange(self.transport, self.server, q, timeout=self.timeout)
            if r is None:
                self.attempts.append("timeout")
                continue
            if not r.tc:
                return r
            self.attempts.append("tc")
            self.attempts.append("tcp")
            r = exchange(self.transport, self.server, q, timeout=self.timeout, tcp=True)
            if r is not None:
                return r
        raise LabkitError(f"dns: no answer from {self.server[0]}:{self.server[1]} for {name} "
                          f"after {1 + self.retries} tries")

    def addresses(self, name: str) -> list[str]:
        """The IPv4 addresses of ``name`` (following CNAMEs in the answer), as text."""
        r = self.query(name, "A")
        return [str(rr.data) for rr in r.answers if rr.rtype == _A]


# --------------------------------------------------------------------------- recursion


@dataclass(frozen=True)
class Step:
    """One step of a resolution: who was asked what, and what came back."""

    server: str  # the server's name ("a.root-servers.net.") or "cache"
    address: str
    question: str  # "www.example.com. A"
    outcome: str  # "referral", "answer", "cname", "NXDOMAIN", "NODATA", "timeout", "cache", ...
    detail: str = ""
    time: float = 0.0  # the resolver's clock when the answer came (seconds)


@dataclass
class Resolution:
    """What :meth:`RecursiveResolver.resolve` found: the rcode and the answer's records."""

    rcode: int
    records: list[ResourceRecord] = field(default_factory=list)
    from_cache: bool = False

    @property
    def addresses(self) -> list[str]:
        return [str(r.data) for r in self.records if r.rtype in (_A, _AAAA)]


@dataclass
class _Entry:
    expires: float
    records: list[ResourceRecord]
    rcode: int = NOERROR
    stored: float = 0.0


_Request = tuple[str, str, Message]  # (server name, address, query)
_Gen = Generator[_Request, "Message | None", Resolution]


class RecursiveResolver:
    """A caching resolver that walks from the root: ``resolve("www.example.com")``.

    ``root_hints`` are (name, address) pairs of the root servers; ``clock()``
    gives seconds (the simulator's virtual time for a simulated host, else
    ``time.monotonic``). ``cache`` maps (name, type) to records with their
    expiry; NXDOMAIN is cached per name for any type (RFC 2308).
    """

    def __init__(self, root_hints: Iterable[tuple[str, str]], *, transport: Any = _socket,
                 port: int = PORT, clock: Callable[[], float] | None = None,
                 timeout: float = 2.0, rng: Any = None, max_steps: int = 40,
                 udp_size: int = 1232) -> None:
        self.roots = [(normalize_name(n), str(a)) for n, a in root_hints]
        if not self.roots:
            raise LabkitValueError("root_hints: need at least one root server")
        self.transport = transport
        self.port = port
        if clock is None:
            tclock = getattr(transport, "clock", None)
            clock = (lambda: tclock.now() / 1e9) if tclock is not None else time.monotonic
        self.clock = clock
        self.timeout = timeout
        self._ids = _Ids(rng, 1035)
        self.max_steps = max_steps
        self.udp_size = udp_size
        self.cache: dict[tuple[str, int], _Entry] = {}
        self.trace: list[Step] = []
        self.queries_sent = 0

    # ------------------------------------------------------------------ the cache

    def _store(self, records: Iterable[ResourceRecord]) -> None:
        now = self.clock()
        groups: dict[tuple[str, int], list[ResourceRecord]] = {}
        for r in records:
            if r.rtype == 41:
                continue
            groups.setdefault((r.name.lower(), r.rtype), []).append(r)
        for key, rrs in groups.items():
            ttl = min(r.ttl for r in rrs)
            self.cache[key] = _Entry(now + ttl, rrs, NOERROR, now)

    def _store_negative(self, name: str, qtype: int, rcode: int, authority: Iterable[ResourceRecord]
                        ) -> None:
        soa = [r for r in authority if r.rtype == _SOA]
        if not soa:
            return  # without an SOA a negative answer is not cached (RFC 2308 5)
        ttl = min(soa[0].ttl, soa[0].data.minimum)
        now = self.clock()
        key = (name.lower(), _ANY if rcode == NXDOMAIN else qtype)
        self.cache[key] = _Entry(now + ttl, [], rcode, now)

    def _cached(self, name: str, qtype: int) -> _Entry | None:
        now = self.clock()
        for key in ((name.lower(), qtype), (name.lower(), _ANY)):
            e = self.cache.get(key)
            if e is None:
                continue
            if e.expires <= now:
                del self.cache[key]
                continue
            if key[1] == _ANY and e.rcode != NXDOMAIN and qtype != _ANY:
                continue
            left = int(e.expires - now)
            return _Entry(e.expires, [r._replace(ttl=left) for r in e.records], e.rcode, e.stored)
        return None

    def _closest_servers(self, name: str) -> list[tuple[str, str]]:
        """Servers of the deepest zone above ``name`` whose NS and addresses are cached."""
        n = name.lower()
        while True:
            ns = self._cached(n, _NS)
            if ns is not None and ns.records:
                found = []
                for r in ns.records:
                    a = self._cached(r.data, _A)
                    if a is not None:
                        found += [(r.data, str(x.data)) for x in a.records]
                if found:
                    return found
            if n == ".":
                return list(self.roots)
            n = n.split(".", 1)[1] or "."

    def flush(self) -> None:
        """Forget everything cached."""
        self.cache.clear()

    # ------------------------------------------------------------------ resolving

    def resolve(self, name: str, qtype: int | str = "A") -> Resolution:
        """Resolve ``name``, asking servers from the root down (blocking; see :attr:`trace`)."""
        self.trace = []
        gen = self._resolve(normalize_name(name), type_code(qtype), 0)
        try:
            req = next(gen)
            while True:
                sname, addr, q = req
                self.queries_sent += 1
                r = exchange(self.transport, (addr, self.port), q, timeout=self.timeout)
                if r is not None and r.tc:
                    self.trace.append(Step(sname, addr, _qtext(q), "truncated", "retry over TCP",
                                           self.clock()))
                    self.queries_sent += 1
                    r = exchange(self.transport, (addr, self.port), q, timeout=self.timeout,
                                 tcp=True)
                req = gen.send(r)
        except StopIteration as stop:
            result: Resolution = stop.value
            return result

    def _resolve(self, qname: str, qtype: int, depth: int) -> _Gen:
        if depth > 8:
            return Resolution(SERVFAIL)
        text = f"{qname} {_type_text(qtype)}"
        hit = self._cached(qname, qtype)
        if hit is not None:
            self.trace.append(Step("cache", "", text, "cache",
                                   "NXDOMAIN" if hit.rcode == NXDOMAIN else
                                   (f"{len(hit.records)} records" if hit.records else "NODATA"),
                                   self.clock()))
            return Resolution(hit.rcode, hit.records, True)
        cname = self._cached(qname, _CNAME) if qtype != _CNAME else None
        if cname is not None and cname.records:
            sub = yield from self._resolve(cname.records[0].data, qtype, depth + 1)
            return Resolution(sub.rcode, cname.records + sub.records, True)
        servers = self._closest_servers(qname)
        for _ in range(self.max_steps):
            response = None
            for sname, addr in servers:
                q = Message.query(qname, qtype, id=self._ids.next(), rd=False,
                                  edns=EDNS(self.udp_size))
                response = yield (sname, addr, q)
                if response is None:
                    self.trace.append(Step(sname, addr, text, "timeout", "", self.clock()))
                    continue
                if response.rcode not in (NOERROR, NXDOMAIN):
                    self.trace.append(Step(sname, addr, text, _rcode_text(response.rcode), "",
                                           self.clock()))
                    response = None
                    continue
                break
            if response is None:
                return Resolution(SERVFAIL)
            now = self.clock()
            if response.rcode == NXDOMAIN:
                self._store(response.answers)
                self._store_negative(qname, qtype, NXDOMAIN, response.authority)
                self.trace.append(Step(sname, addr, text, "NXDOMAIN", "", now))
                return Resolution(NXDOMAIN, list(response.answers))
            answers = list(response.answers)
            if answers:
                self._store(answers)
                match = [r for r in answers if r.name.lower() == qname.lower() and r.rtype == qtype]
                if match:
                    self.trace.append(Step(sname, addr, text, "answer",
                                           ", ".join(_data_text(r) for r in match), now))
                    return Resolution(NOERROR, answers)
                chain = [r for r in answers if r.rtype == _CNAME]
                if chain:
                    self.trace.append(Step(sname, addr, text, "cname", chain[-1].data, now))
                    sub = yield from self._resolve(chain[-1].data, qtype, depth + 1)
                    return Resolution(sub.rcode, chain + sub.records)
            ns = [r for r in response.authority if r.rtype == _NS]
            if ns and not response.aa:
                zone = ns[0].name
                self._store(ns)
                glue = [r for r in response.additional if r.rtype in (_A, _AAAA)
                        and any(r.name.lower() == n.data.lower() for n in ns)]
                self._store(glue)
                nxt = [(r.name, str(r.data)) for r in glue if r.rtype == _A]
                self.trace.append(Step(sname, addr, text, "referral",
                                       f"{zone} NS " + ", ".join(r.data for r in ns), now))
                if not nxt:  # no glue: find a server's address first
                    for n in ns:
                        sub = yield from self._resolve(n.data, _A, depth + 1)
                        nxt = [(n.data, a) for a in sub.addresses]
                        if nxt:
                            break
                if not nxt:
                    return Resolution(SERVFAIL)
                servers = nxt
                continue
            self._store_negative(qname, qtype, NOERROR, response.authority)
            self.trace.append(Step(sname, addr, text, "NODATA", "", now))
            return Resolution(NOERROR, [])
        return Resolution(SERVFAIL)

    # ------------------------------------------------------------------ serving

    def handle(self, data: bytes, *, tcp: bool = False) -> bytes | None:
        """Answer a stub's query by resolving it (blocking: for :class:`RealServer`)."""
        try:
            query = Message.parse(data)
        except ParseError:
            return None
        if query.qr or len(query.questions) != 1:
            return None
        q = query.questions[0]
        result = self.resolve(q.name, q.qtype)
        return self._reply(query, result, tcp)

    def _reply(self, query: Message, result: Resolution, tcp: bool) -> bytes:
        r = query.reply(rcode=result.rcode, ra=True, answers=tuple(result.records))
        e = query.edns
        limit = 65535 if tcp else (max(512, min(e.udp_size, 4096)) if e is not None else 512)
        return r.pack(max_size=limit)

    def serve(self, transport: Any | None = None, port: int = PORT) -> Any:
        """Serve stubs on a simulated host over UDP, event-driven (returns the UDP socket).

        Each query starts a resolution; its questions to other servers go out as
        datagrams and its timeouts are timers on the host's clock, so nothing
        blocks inside the simulation. (Over UDP only: upstream answers are asked
        for with EDNS at :attr:`udp_size` bytes; a truncated one counts as lost.)
        """
        t = transport if transport is not None else self.transport
        clock = t.clock
        udp = t.socket(AF_INET, SOCK_DGRAM)
        udp.bind(("0.0.0.0", port))

        def datagram(data: bytes, sender: tuple[str, int]) -> None:
            try:
                query = Message.parse(data)
            except ParseError:
                return
            if query.qr or len(query.questions) != 1:
                return
            q = query.questions[0]
            self.trace = []
            gen = self._resolve(q.name, q.qtype, 0)
            self._drive(t, clock, gen, None,
                        lambda result: udp.sendto(self._reply(query, result, False), sender))

        udp.on_datagram(datagram)
        return udp

    def _drive(self, t: Any, clock: Any, gen: _Gen, value: Message | None,
               done: Callable[[Resolution], Any]) -> None:
        """Start ``gen``: each question it asks goes out as a datagram with a timer."""
        try:
            req = next(gen)
        except StopIteration as stop:
            done(stop.value)
            return
        self._ask(t, clock, gen, req, done)

    def _ask(self, t: Any, clock: Any, gen: _Gen, req: _Request,
             done: Callable[[Resolution], Any]) -> None:
        _sname, addr, q = req
        self.queries_sent += 1
        s = t.socket(AF_INET, SOCK_DGRAM)
        over = [False]

        def finish(response: Message | None) -> None:
            if over[0]:
                return
            over[0] = True
            timer.cancel()
            s.close()
            try:
                nxt = gen.send(response)
            except StopIteration as stop:
                done(stop.value)
                return
            self._ask(t, clock, gen, nxt, done)

        def datagram(data: bytes, sender: tuple[str, int]) -> None:
            try:
                m = Message.parse(data)
            except ParseError:
                return
            if sender[0] == addr and m.id == q.id and m.qr and not m.tc:
                finish(m)

        s.bind(("0.0.0.0", 0))
        s.on_datagram(datagram)
        timer = clock.call_at(clock.now() + int(self.timeout * 1e9), finish, None)
        s.sendto(q.pack(), (addr, self.port))


def _qtext(q: Message) -> str:
    return f"{q.questions[0].name} {_type_text(q.questions[0].qtype)}"


_TYPE_BY_CODE = {v: k for k, v in TYPES.items()}
_RCODE_BY_CODE = {v: k for k, v in RCODES.items()}


def _type_text(t: int) -> str:
    return _TYPE_BY_CODE.get(t, f"TYPE{t}")


def _rcode_text(rc: int) -> str:
    return _RCODE_BY_CODE.get(rc, str(rc))


def _data_text(r: ResourceRecord) -> str:
    return str(r.data)
