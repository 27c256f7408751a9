"""Notebook 00's exercises and picture: the checks tell right from wrong, the text fits its boxes."""

from __future__ import annotations

import socket

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import FancyBboxPatch

from labkit import viz
from labkit.exercises import evaluate
from labkit.exercises.overview import LAYER_TASK, LAYERS

RIGHT_LAYERS = {
    "a voltage on the wire means 1": "physical",
    "a MAC address": "data link",
    "an Ethernet frame's FCS (CRC-32)": "data link",
    "an IP address": "network",
    "a router choosing the next hop": "network",
    "a TCP port number": "transport",
    "retransmitting a lost segment": "transport",
    "an HTTP GET request": "application",
}


def test_layer_of():
    assert set(RIGHT_LAYERS) == set(LAYER_TASK) and len(LAYERS) == 5
    assert evaluate("overview.layer_of", RIGHT_LAYERS)
    assert evaluate("overview.layer_of", {k: v.upper() for k, v in RIGHT_LAYERS.items()})
    wrong = dict(RIGHT_LAYERS, **{"a TCP port number": "network"})
    r = evaluate("overview.layer_of", wrong)
    assert not r and "program to program" in r.message and "transport" not in r.message
    r = evaluate("overview.layer_of", dict(RIGHT_LAYERS, **{"an IP address": "internet"}))
    assert not r and "not a layer of the 5-layer model" in r.message
    r = evaluate("overview.layer_of", {})
    assert not r and "8 item(s) have no layer" in r.message
    assert "expected a dict" in evaluate("overview.layer_of", ["physical"]).message


def _port_kind(port):
    if not 0 <= port <= 65535:
        raise ValueError(port)
    return "well-known" if port < 1024 else "registered" if port < 49152 else "dynamic"


def test_port_kind():
    assert evaluate("overview.port_kind", _port_kind)
    r = evaluate("overview.port_kind", lambda p: "well-known" if p <= 1024 else _port_kind(p))
    assert not r and "port_kind(1024)" in r.message and "edge" in r.message
    r = evaluate("overview.port_kind", lambda p: "well-known" if p < 1024 else "dynamic")
    assert not r and "registered ports run from 1024 to 49151" in r.message
    r = evaluate("overview.port_kind", lambda p: _port_kind(min(max(p, 0), 65535)))
    assert not r and "raise ValueError" in r.message


def _echo_whole(conn):
    data = b""
    while chunk := conn.recv(1024):
        data += chunk
    conn.sendall(data.upper())


def _echo_once(conn):
    conn.sendall(conn.recv(1024).upper())


def _echo_plain(conn):
    data = b""
    while chunk := conn.recv(1024):
        data += chunk
    conn.sendall(data)


def _never_stops(conn):
    while True:
        conn.recv(1024)  # recv returns b"" for ever after the client's shutdown: a busy loop


def test_echo_upper_over_a_real_tcp_connection():
    assert evaluate("overview.echo_upper", _echo_whole)
    r = evaluate("overview.echo_upper", _echo_once)
    assert not r and "keep receiving until recv() returns b''" in r.message
    r = evaluate("overview.echo_upper", _echo_plain)
    assert not r and "unchanged" in r.message
    r = evaluate("overview.echo_upper", lambda conn: 1 / 0)
    assert not r and "ZeroDivisionError" in r.message


def test_echo_upper_waiting_for_ever_is_a_hint_not_a_hang():
    def waits(conn):
        conn.recv(1024)
        conn.recv(1024)
        conn.recv(1024)
        conn.recv(1024)
        conn.settimeout(3)
        conn.recv(1024)  # returns b"" once the client shut down: then it waits for more...
        socket.socket.recv(conn, 1)  # ...and a timeout is what a wrong loop meets
        raise TimeoutError

    r = evaluate("overview.echo_upper", waits)
    assert not r and "stop receiving when recv() returns b''" in r.message


def test_data_path_text_fits_inside_its_boxes():
    ax = viz.plot_data_path()
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_facecolor()[:3] == (1, 1, 1)]
    steps = [t for t in ax.texts if t.get_text()[:2] in {f"{i}." for i in range(1, 6)}]
    assert len(boxes) == len(steps) == 5
    for box, text in zip(boxes, steps, strict=True):
        outer = box.get_window_extent(renderer)
        inner = text.get_window_extent(renderer)
        assert outer.x0 < inner.x0 and inner.x1 < outer.x1, text.get_text()
        assert outer.y0 < inner.y0 and inner.y1 < outer.y1, text.get_text()
    plt.close("all")


@pytest.mark.parametrize("width", [11, 12])
def test_data_path_fits_in_a_narrower_figure_too(width):
    fig, ax = plt.subplots(figsize=(width, 4.2), layout="constrained")
    viz.plot_data_path(ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_facecolor()[:3] == (1, 1, 1)]
    steps = [t for t in ax.texts if t.get_text()[:2] in {f"{i}." for i in range(1, 6)}]
    for box, text in zip(boxes, steps, strict=True):
        outer, inner = box.get_window_extent(renderer), text.get_window_extent(renderer)
        assert outer.x0 < inner.x0 and inner.x1 < outer.x1, (width, text.get_text())
    plt.close("all")
