"""DNS message parse and build speed: labkit.app.dns against dnspython, as ratios in one run.

The same three messages for both libraries:

- ``query``: a query for ``www.example.com. A`` with an EDNS0 OPT record (40 bytes);
- ``referral``: a root server's answer sending the resolver to ``com.``'s servers: four NS
  records in the authority section and their A and AAAA addresses in the additional one,
  names compressed (as in the lesson's recursive resolution);
- ``answer``: an authoritative MX answer with an SOA in the authority section and TXT,
  A and AAAA records in the additional section.

``parse`` turns the bytes into a message with every record's data decoded
(``Message.parse`` / ``dns.message.from_wire``); ``build`` turns the message
object into compressed bytes (``Message.pack`` / ``dns.message.Message.to_wire``).

Run: ``python benchmarks/bench_dns.py`` (about 10 s).
"""

from __future__ import annotations

import time

import dns.message
import dns.rrset

from labkit.app.dns import EDNS, Message, ResourceRecord

N = 2_000


def _messages() -> dict[str, bytes]:
    q = Message.query("www.example.com", "A", id=0x1234, edns=EDNS(1232))
    tlds = [f"{c}.gtld-servers.net." for c in "abcd"]
    referral = q.reply(
        authority=tuple(ResourceRecord.make("com.", "NS", ns, ttl=172800) for ns in tlds),
        additional=tuple(ResourceRecord.make(ns, "A", f"192.0.2.{i + 1}", ttl=172800)
                         for i, ns in enumerate(tlds))
        + tuple(ResourceRecord.make(ns, "AAAA", f"2001:db8::{i + 1}", ttl=172800)
                for i, ns in enumerate(tlds)),
    )
    mq = Message.query("example.com", "MX", id=7)
    answer = mq.reply(
        aa=True,
        answers=(ResourceRecord.make("example.com", "MX", (10, "mail.example.com"), ttl=300),
                 ResourceRecord.make("example.com", "MX", (20, "mx2.example.com"), ttl=300)),
        authority=(ResourceRecord.make("example.com", "SOA", (
            "ns1.example.com", "hostmaster.example.com", 2026120201, 7200, 3600, 1209600, 300)),),
        additional=(ResourceRecord.make("example.com", "TXT", "v=spf1 mx -all"),
                    ResourceRecord.make("mail.example.com", "A", "192.0.2.25"),
                    ResourceRecord.make("mail.example.com", "AAAA", "2001:db8::25"),
                    ResourceRecord.make("mx2.example.com", "A", "192.0.2.26")),
    )
    return {"query": q.pack(), "referral": referral.pack(), "answer": answer.pack()}


def _rate(fn: object, arg: object) -> float:
    f = fn  # type: ignore[assignment]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(N):
            f(arg)  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return N / best


def main() -> None:
    rows = []
    for name, wire in _messages().items():
        lk, dp = Message.parse(wire), dns.message.from_wire(wire)
        again = Message.parse(dp.to_wire())  # the same message for both (an rrset is a set,
        for sec in ("questions", "answers", "authority", "additional"):  # so order may differ)
            assert sorted(map(repr, getattr(again, sec))) == sorted(map(repr, getattr(lk, sec)))
        p_lk = _rate(Message.parse, wire)
        p_dp = _rate(dns.message.from_wire, wire)
        b_lk = _rate(Message.pack, lk)
        b_dp = _rate(lambda m: m.to_wire(), dp)
        rows.append((name, len(wire), p_lk, p_dp, b_lk, b_dp))
    print("| message | bytes | parse labkit /s | parse dnspython /s | ratio | "
          "build labkit /s | build dnspython /s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, p_lk, p_dp, b_lk, b_dp in rows:
        print(f"| {name} | {n} | {p_lk:,.0f} | {p_dp:,.0f} | {p_lk / p_dp:.1f}x | "
              f"{b_lk:,.0f} | {b_dp:,.0f} | {b_lk / b_dp:.1f}x |")


if __name__ == "__main__":
    main()
