"""labkit.viz.routing and labkit.exercises.routing: the figures draw, the panels' callbacks redraw
without a browser, and the checkers accept right answers and hint at wrong ones."""

from __future__ import annotations

import heapq

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from labkit.exercises import evaluate  # noqa: E402
from labkit.exercises.routing import dijkstra_reference, dv_reference, nat_allows  # noqa: E402
from labkit.sim.routing import install_nat  # noqa: E402
from labkit.viz import routing as vr  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_the_convergence_figure_shows_the_loss_and_the_new_path():
    net, run = vr.converge("linkstate", until=250.0)
    ax = vr.plot_tables_over_time(run, net=net, routers=["R1", "R2", "R3", "R4", "R5"])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["R1", "R2", "R3", "R4", "R5", f"lost ({run.lost})"] and run.lost > 20
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "via 10.0.13.3 (R3)" in legend and "via 10.0.12.2 (R2)" in legend
    during = [p for t, p in run.complete_paths() if 100e9 < t < 200e9][-1]
    ax2 = vr.draw_path(net, during, src="A", failed=[("R2", "R4")])
    thick = [line for line in ax2.lines if line.get_linewidth() == 7]
    assert len(thick) == 5  # A-R1-R3-R5-R4-B


def test_the_metric_history_climbs_without_split_horizon():
    rips, t = vr.count_to_infinity("off", 0)
    ax = vr.plot_metric_history(rips, "10.0.3.0/24", routers=["R1", "R2"], since=t)
    top = max(max(line.get_ydata()) for line in ax.lines[:2])
    assert top == 16
    ys = [y for line in ax.lines[:2] for y in line.get_ydata()]
    assert 10 in ys  # on the way up
    rips, t = vr.count_to_infinity("poisoned", 0)
    ax = vr.plot_metric_history(rips, "10.0.3.0/24", routers=["R1", "R2"], since=t)
    ys = [y for line in ax.lines[:2] for y in line.get_ydata()]
    assert max(y for y in ys if y < 16) <= 3


def test_the_nat_table_figure_lists_the_mappings():
    from test_net_nat import home, udp_server

    from labkit.sim.stacks import socket
    from labkit.transport.sockets import SOCK_DGRAM

    net = home(forwards={("tcp", 8080): ("192.168.1.20", 80)})
    install_nat(net)
    udp_server(net, "W", 5000, [])
    c = socket(net["PC1"], SOCK_DGRAM)
    c.sendto(b"x", ("198.51.100.80", 5000))
    c.recvfrom(10)
    ax = vr.plot_nat_table(net["NAT"].forwarding)
    texts = [t.get_text() for t in ax.texts]
    assert "192.168.1.20:80" in texts and "203.0.113.2:8080" in texts and "forever" in texts
    assert any(t.startswith("192.168.1.10:") for t in texts)


def test_the_panels_redraw_when_a_control_moves():
    panel = vr.convergence_panel()
    first = panel.out.outputs[0]["data"]["image/png"]
    panel.protocol.value = "rip"
    second = panel.out.outputs[0]["data"]["image/png"]
    assert first != second and "rip" in repr(panel)
    panel.link.value = "R1-R3"  # a link off the path: nothing is lost
    assert panel.out.outputs[0]["data"]["image/png"] != second
    sh = vr.split_horizon_panel()
    before = sh.out.outputs[0]["data"]["image/png"]
    sh.rule.value = "poisoned"
    assert sh.out.outputs[0]["data"]["image/png"] != before and "poisoned" in repr(sh)


# -- exercises ----------------------------------------------------------------------------------
def test_dv_update_accepts_rips_rule_and_hints_at_the_usual_mistakes():
    assert evaluate("routing.dv_update", dv_reference).ok

    def only_better(table, nbr, vector):
        out = dict(table)
        for net, m in vector.items():
            if net not in out or m + 1 < out[net][0]:
                out[net] = (min(m + 1, 16), nbr)
        return out

    r = evaluate("routing.dv_update", only_better)
    assert not r.ok and "must believe it" in r.message

    def no_plus_one(table, nbr, vector):
        out = dict(table)
        for net, m in vector.items():
            have = out.get(net)
            if have is None or (have[1] is not None and (have[1] == nbr or m < have[0])):
                out[net] = (m, nbr)
        return out

    r = evaluate("routing.dv_update", no_plus_one)
    assert not r.ok and "one link further" in r.message


def test_dijkstra_accepts_a_right_answer_and_catches_the_previous_node_mistake():
    assert evaluate("routing.dijkstra", dijkstra_reference).ok

    def previous_node(graph, source):
        best, heap = {}, [(0, source, None)]
        while heap:
            d, node, prev = heapq.heappop(heap)
            if node in best:
                continue
            best[node] = (d, prev)
            for nbr, c in graph[node].items():
                heapq.heappush(heap, (d + c, nbr, node))
        return best

    r = evaluate("routing.dijkstra", previous_node)
    assert not r.ok and ("not a neighbour" in r.message or "inherited" in r.message)
    r = evaluate("routing.dijkstra", lambda g, s: {n: (0, None) for n in g})
    assert not r.ok and "cost" in r.message


def test_nat_filter_is_checked_against_the_real_nat():
    def right(filtering, contacted, remote):
        if not contacted:
            return False
        if filtering == "endpoint-independent":
            return True
        if filtering == "address-dependent":
            return any(a == remote[0] for a, _ in contacted)
        return tuple(remote) in {tuple(c) for c in contacted}

    assert evaluate("routing.nat_filter", right).ok
    r = evaluate("routing.nat_filter", lambda f, c, r: True)
    assert not r.ok and "nothing to filter" in r.message
    r = evaluate("routing.nat_filter", lambda f, c, r: bool(c) and f != "address-and-port-dependent")
    assert not r.ok and r.message.startswith("address-dependent, 'a stranger': the NAT says no")
    assert nat_allows("address-dependent", [("198.51.100.80", 1)], ("198.51.100.80", 2)) is True
