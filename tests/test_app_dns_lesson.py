"""Lesson 11's figures, widget, exercises and capture (labkit.viz.dhcpdns, labkit.exercises.dhcpdns)."""

from __future__ import annotations

import shutil
import subprocess

import matplotlib
import pytest

matplotlib.use("Agg")

from labkit.app.dns import name_to_wire  # noqa: E402
from labkit.app.dns_service import StubResolver  # noqa: E402
from labkit.exercises import evaluate  # noqa: E402
from labkit.viz.dhcpdns import (  # noqa: E402
    CacheTTLExplorer,
    dhcp_lan,
    dns_world,
    draw_lease_timeline,
    draw_sequence,
    exchanges,
    ttl_run,
)

TSHARK = shutil.which("tshark")


def test_dora_figure_has_the_four_messages_in_order() -> None:
    net, server, client, cap = dhcp_lan()
    net.at(0, client.start)
    net.run(until="3s")
    ev = exchanges(cap, kinds=("dhcp",))
    assert [e.label.split()[1] for e in ev] == ["DISCOVER", "OFFER", "REQUEST", "ACK"]
    assert [(e.src, e.dst) for e in ev] == [("client", "server"), ("server", "client")] * 2
    ax = draw_sequence(ev, ["client", "server"], numbered=True)
    texts = [t.get_text() for t in ax.texts]
    assert "1. DHCP DISCOVER" in texts and any(t.startswith("4. DHCP ACK") for t in texts)


def test_resolution_figure_walks_root_tld_auth() -> None:
    net, resolver, zones, cap = dns_world()
    stub = StubResolver(("10.0.0.53", 53), transport=net["client"].transport)
    assert stub.addresses("www.example.com") == ["10.0.0.80"]
    ev = exchanges(cap, kinds=("dns",))
    assert [(e.src, e.dst) for e in ev] == [
        ("client", "resolver"), ("resolver", "root"), ("root", "resolver"), ("resolver", "tld"),
        ("tld", "resolver"), ("resolver", "auth"), ("auth", "resolver"), ("resolver", "client")]
    assert ev[2].label.startswith("referral: com.") and ev[-1].label == "answer 10.0.0.80"


def test_lease_timeline_marks_t1_t2_expiry() -> None:
    net, server, client, cap = dhcp_lan(lease_time=120)
    net.at(0, client.start)
    net.at("70s", setattr, server, "enabled", False)
    net.run(until="200s")
    ax = draw_lease_timeline(client, until=200)
    labels = " ".join(t.get_text() for t in ax.texts)
    assert "RENEWING" in labels and "REBINDING" in labels and "SELECTING" in labels
    assert "T1\n122 s" in labels and "T2\n167 s" in labels and "expiry\n182 s" in labels


def test_ttl_widget_trades_questions_for_staleness() -> None:
    short, long = ttl_run(30), ttl_run(1800)
    assert short["queries"] > long["queries"]  # a short TTL asks more often ...
    assert short["stale_answers"] <= 1 < long["stale_answers"]  # ... and notices the move sooner
    assert ttl_run(0)["stale_answers"] == 0
    w = CacheTTLExplorer(ttl=300)
    png = w.out.outputs[0]["data"]["image/png"]
    w.ttl.value = 1800  # the callback redraws without a browser
    assert w.out.outputs[0]["data"]["image/png"] != png
    assert "TTL 1800 s" in w.out.outputs[0]["data"]["text/plain"]
    assert f"{long['queries']} questions" in w.summary()


def _read_name(m: bytes, o: int) -> tuple[str, int]:
    labels, end = [], None
    while m[o]:
        if m[o] >= 0xC0:
            target = ((m[o] & 0x3F) << 8) | m[o + 1]
            if target >= o:
                raise ValueError("pointer loop")
            end = o + 2 if end is None else end
            o = target
            continue
        labels.append(m[o + 1:o + 1 + m[o]].decode())
        o += 1 + m[o]
    return ".".join(labels) + ".", (o + 1 if end is None else end)


@pytest.mark.parametrize("name, right, wrongs", [
    ("dhcp.timers", lambda lease: (lease / 2, lease * 7 / 8),
     [lambda lease: (lease * 7 / 8, lease / 2), lambda lease: (lease / 2, lease * 3 / 4), 5]),
    ("dns.name_to_wire", name_to_wire,
     [lambda n: n.encode(), lambda n: name_to_wire(n)[:-1], "x"]),
    ("dns.read_name", _read_name,
     [lambda m, o: ("x.", o), lambda m, o: (_read_name(m, o)[0], o + 1)]),
    ("dns.queries", 4, [6, 2, 3, "4"]),
])
def test_exercises_accept_the_answer_and_hint_at_slips(name, right, wrongs) -> None:
    assert evaluate(name, right).ok
    for wrong in wrongs:
        r = evaluate(name, wrong)
        assert not r.ok and r.message


def test_dns_queries_exercise_matches_the_simulation() -> None:
    net, resolver, zones, cap = dns_world()
    resolver.resolve("www.example.com")
    resolver.resolve("mail.example.com")
    assert evaluate("dns.queries", resolver.queries_sent).ok


@pytest.mark.skipif(TSHARK is None, reason="tshark (Wireshark) is not installed")
def test_the_lessons_capture_dissects_cleanly_in_tshark(tmp_path) -> None:
    path = tmp_path / "lesson11.pcap"
    net, server, client, cap = dhcp_lan(pcap=str(path))
    net.at(0, client.start)
    net.run(until="3s")
    cap.close()
    dns_path = tmp_path / "dns.pcap"
    net2, resolver, zones, cap2 = dns_world(pcap=str(dns_path))
    stub = StubResolver(("10.0.0.53", 53), transport=net2["client"].transport)
    stub.query("www.example.com")
    stub.query("nope.example.com")
    stub.query("example.com", "MX")
    cap2.close()
    for p, proto, expect in ((path, "dhcp", 4), (dns_path, "dns", 12)):
        out = subprocess.run([TSHARK, "-n", "-r", str(p), "-Y", proto, "-T", "fields",
                              "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        lines = out.splitlines()
        assert len(lines) >= expect
        bad = subprocess.run([TSHARK, "-n", "-r", str(p), "-Y",
                              "_ws.malformed || _ws.expert.severity >= error"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        assert bad == ""
