"""The sockets lesson's plots and exercise checks."""

from __future__ import annotations

import struct

import matplotlib.pyplot as plt
import pytest

from labkit import LabkitValueError
from labkit.exercises import evaluate
from labkit.exercises.app import TrickleSocket
from labkit.viz.app import plot_frames, plot_recv_sizes, plot_server_threads, plot_stream_boundaries


def test_stream_boundaries_draw_both_rows():
    ax = plot_stream_boundaries([5, 5, 5], [15])
    assert len(ax.patches) == 4 and ax.get_title() == "3 sends arrived in 1 recv() calls"
    with pytest.raises(LabkitValueError, match="same stream"):
        plot_stream_boundaries([5], [4])
    with pytest.raises(LabkitValueError, match="byte counts"):
        plot_recv_sizes([3, -1])
    plt.close("all")


def test_other_plots():
    assert len(plot_recv_sizes([10, 20, 5], bufsize=20).patches) == 3
    assert len(plot_frames([b"ab", b"", b"xyz"]).patches) == 5  # 3 headers, 2 bodies
    assert plot_server_threads({"selectors": 1, "threads": 51}, 50).get_title().endswith("50 clients at once")
    plt.close("all")


def _recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def _split_frames(buffer):
    messages = []
    while len(buffer) >= 4:
        (n,) = struct.unpack("!I", buffer[:4])
        if len(buffer) < 4 + n:
            break
        messages.append(buffer[4 : 4 + n])
        buffer = buffer[4 + n :]
    return messages, buffer


def test_correct_answers_pass():
    assert evaluate("app.recv_exactly", _recv_exactly)
    assert evaluate("app.frame", lambda m: struct.pack("!I", len(m)) + m)
    assert evaluate("app.split_frames", _split_frames)
    assert evaluate("app.http_get",
                    lambda t, h: f"GET {t} HTTP/1.1\r\nHost: {h}\r\n\r\n".encode())
    assert evaluate("app.lcp_say",
                    lambda text, rid: struct.pack("!BBH", 1, 3, rid) + text.encode("utf-8"))


def test_wrong_answers_get_hints():
    def one_recv(sock, n):
        return sock.recv(n)

    def short_ok(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return data
            data += chunk
        return data

    assert "in a loop" in evaluate("app.recv_exactly", one_recv).message
    assert "stream ended" in evaluate("app.recv_exactly", short_ok).message
    assert "big-endian" in evaluate("app.frame", lambda m: struct.pack("<I", len(m)) + m).message
    dropped = lambda b: (_split_frames(b)[0], b"")  # noqa: E731
    assert "leftover" in evaluate("app.split_frames", dropped).message
    bare_lf = lambda t, h: f"GET {t} HTTP/1.1\nHost: {h}\n".encode()  # noqa: E731
    assert "bare \\n" in evaluate("app.http_get", bare_lf).message
    # labkit's parser accepts a lone LF (RFC 9112 lets a receiver); the exercise must not
    lenient = lambda t, h: f"GET {t} HTTP/1.1\nHost: {h}\n\n".encode()  # noqa: E731
    result = evaluate("app.http_get", lenient)
    assert not result and "line 1 ends with a bare" in result.message
    mixed = lambda t, h: f"GET {t} HTTP/1.1\r\nHost: {h}\r\n\n".encode()  # noqa: E731
    assert "line 3 ends with a bare" in evaluate("app.http_get", mixed).message
    unended = lambda t, h: f"GET {t} HTTP/1.1\r\nHost: {h}\r\n".encode()  # noqa: E731
    assert "empty line" in evaluate("app.http_get", unended).message
    wrong_cmd = lambda text, rid: struct.pack("!BBH", 1, 4, rid) + text.encode()  # noqa: E731
    assert "SAY = 0x03" in evaluate("app.lcp_say", wrong_cmd).message


def test_lcp_say_with_a_right_header_says_what_is_wrong_with_the_body():
    head = lambda rid: struct.pack("!BBH", 1, 3, rid)  # noqa: E731
    answers = {
        "stops after 9 of 13 bytes": lambda t, r: head(r) + t.encode()[: len(t)],
        "is 3 bytes, expected 2": lambda t, r: head(r) + t.encode() + b"\0",
        "differs from byte 0": lambda t, r: head(r) + t.upper().encode(),
    }
    for expected, answer in answers.items():
        result = evaluate("app.lcp_say", answer)
        assert not result and "header is right" in result.message, result.message
        assert expected in result.message, result.message
        assert "expected (1, 3" not in result.message  # the old, self-contradicting hint


def test_trickle_socket():
    sock = TrickleSocket(b"abcdef", 4)
    assert [sock.recv(10), sock.recv(10), sock.recv(10)] == [b"abcd", b"ef", b""]
    assert sock.calls == 3


def test_sticky_receive_glues_without_framing_and_recovers_with_it():
    from labkit.viz.app import sticky_messages, sticky_receive

    messages = sticky_messages(5, 7)
    assert len(set(messages)) == 5 and all(len(m) == 7 for m in messages)
    recvs, got = sticky_receive(messages, 16, framing=False)
    assert recvs == [16, 16, 3] and b"".join(got) == b"".join(messages) and got != messages
    for bufsize in (1, 3, 11, 64):  # whatever recv() returns, framing gives back the messages
        recvs, got = sticky_receive(messages, bufsize, framing=True)
        assert got == messages and sum(recvs) == 5 * (4 + 7)
    assert sticky_receive(sticky_messages(3, 0), 4, framing=True)[1] == [b"", b"", b""]
    assert sticky_receive(sticky_messages(3, 0), 4, framing=False) == ([], [])
    with pytest.raises(LabkitValueError, match="bufsize"):
        sticky_receive(messages, 0, framing=True)


def test_sticky_panel_redraws_on_every_control():
    from labkit.viz.app import StickyPanel

    panel = StickyPanel(count=5, size=7, bufsize=16, framing=False)
    seen = {panel.out.outputs[0]["data"]["image/png"]}
    for control, value in ((panel.framing, True), (panel.bufsize, 3), (panel.size, 0),
                           (panel.count, 8)):
        control.value = value
        seen.add(panel.out.outputs[0]["data"]["image/png"])
    assert len(seen) == 5
    assert repr(panel) == "StickyPanel(count=8, size=0, bufsize=3, framing=True)"
    assert [o for o, _ in panel.framing.options] == ["no framing", "length prefix"]
