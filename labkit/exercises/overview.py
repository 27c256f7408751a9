"""Exercise checks for course/00-overview.ipynb (the ``overview.*`` names); see :mod:`labkit.exercises`.

- ``overview.layer_of``: a dict naming the TCP/IP 5-layer model's layer of each item of
  :data:`LAYER_TASK`;
- ``overview.port_kind``: a function telling well-known, registered and dynamic (ephemeral)
  ports apart, by the ranges of RFC 6335;
- ``overview.echo_upper``: a server function that reads a whole message from a real TCP
  connection on 127.0.0.1 (until the client closes its side) and sends it back upper-cased.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from labkit.exercises import ExerciseResult, exercise

__all__ = ["LAYERS", "LAYER_TASK", "PORT_RANGES", "ECHO_PIECES"]

#: The TCP/IP 5-layer model, bottom up, as notebook 00's table names it.
LAYERS = ("physical", "data link", "network", "transport", "application")

#: Exercise 1: the things to place, and (for the checker) where each belongs, with a hint.
_LAYER_ANSWERS: dict[str, tuple[str, str]] = {
    "a voltage on the wire means 1": ("physical", "it is about signals on the medium itself"),
    "a MAC address": ("data link", "it names a network card on one link (a LAN)"),
    "an Ethernet frame's FCS (CRC-32)": ("data link", "it protects one frame on one link"),
    "an IP address": ("network", "it names a host wherever it is, across networks"),
    "a router choosing the next hop": ("network", "it moves packets from host to host across networks"),
    "a TCP port number": ("transport", "it names a program on a host: program to program"),
    "retransmitting a lost segment": ("transport", "TCP, program to program, makes delivery reliable"),
    "an HTTP GET request": ("application", "it is what the programs themselves say"),
}
#: Exercise 1: the items, in the order the notebook prints them.
LAYER_TASK = tuple(_LAYER_ANSWERS)

#: Exercise 2: RFC 6335 section 6: system (well-known), user (registered), dynamic (ephemeral).
PORT_RANGES = {"well-known": (0, 1023), "registered": (1024, 49151), "dynamic": (49152, 65535)}

#: Exercise 3: what the test client sends, piece by piece, before it closes its side.
ECHO_PIECES = (b"hello, ", b"server: ", b"one message in three pieces")


def _norm(value: object) -> str:
    return " ".join(str(value).strip().lower().replace("-", " ").replace("_", " ").split())


@exercise("overview.layer_of")
def _check_layer_of(answer: Any) -> ExerciseResult:
    if not isinstance(answer, dict):
        return ExerciseResult(False, "expected a dict: {item: layer name} for every item of LAYER_TASK")
    missing = [item for item in LAYER_TASK if item not in answer]
    if missing:
        return ExerciseResult(False, f"{len(missing)} item(s) have no layer yet, the first: {missing[0]!r}")
    names = {_norm(n): n for n in LAYERS}
    for item, (want, why) in _LAYER_ANSWERS.items():
        got = _norm(answer[item])
        if got not in names:
            return ExerciseResult(False, f"{item!r}: {answer[item]!r} is not a layer of the 5-layer "
                                         f"model; use one of {', '.join(LAYERS)}")
        if got != want:
            return ExerciseResult(False, f"{item!r} is not at the {got} layer: {why}")
    return ExerciseResult(True, f"all {len(LAYER_TASK)} items placed: each layer serves the one above")


@exercise("overview.port_kind")
def _check_port_kind(answer: Any) -> ExerciseResult:
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., port_kind)")
    cases = [0, 22, 80, 443, 1023, 1024, 8080, 49151, 49152, 50000, 65535]
    for port in cases:
        want = next(k for k, (lo, hi) in PORT_RANGES.items() if lo <= port <= hi)
        got = answer(port)
        if _norm(got) != want.replace("-", " "):
            lo, hi = PORT_RANGES[want]
            edge = " (a range's edge: is it in or out?)" if port in (lo, hi) else ""
            return ExerciseResult(False, f"port_kind({port}) returned {got!r}, expected {want!r}: "
                                         f"{want} ports run from {lo} to {hi}{edge}")
    for bad in (-1, 65536):
        try:
            got = answer(bad)
        except ValueError:
            continue
        return ExerciseResult(False, f"port_kind({bad}) returned {got!r}: a port is a 16-bit number, "
                                     "so raise ValueError outside 0..65535")
    return ExerciseResult(True, f"port_kind is right on {len(cases)} ports and refuses -1 and 65536")


def _run_echo(server_fn: Any) -> tuple[bytes, str | None]:
    """Run ``server_fn(conn)`` on one accepted connection; return (the reply, an error or None)."""
    errors: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(3)
                    server_fn(conn)
            except TimeoutError:
                errors.append("timeout")
            except Exception as exc:  # noqa: BLE001  (the student's error is the hint)
                errors.append(f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        received: list[bytes] = []
        problems: list[str] = []
        with socket.create_connection(listener.getsockname(), timeout=5) as client:

            def read() -> None:  # read the reply as it comes, even while we still send
                try:
                    while chunk := client.recv(4096):
                        received.append(chunk)
                except TimeoutError:
                    problems.append("the client waited 5 s for the end of your reply")
                except OSError:
                    pass  # the server closed early (a reset): what came before is the reply

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            try:
                for piece in ECHO_PIECES:
                    client.sendall(piece)
                    time.sleep(0.05)  # the pieces arrive apart, as on a real network
                client.shutdown(socket.SHUT_WR)  # "that was all": the server's recv() returns b""
            except OSError:
                pass  # the server stopped reading and closed: the reply tells what happened
            reader.join(timeout=6)
        reply = b"".join(received)
        if problems:
            return reply, problems[0]
        thread.join(timeout=5)
        if thread.is_alive():
            return reply, "your function did not return"
    return reply, errors[0] if errors else None


@exercise("overview.echo_upper")
def _check_echo_upper(answer: Any) -> ExerciseResult:
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., echo_upper)")
    message = b"".join(ECHO_PIECES)
    reply, error = _run_echo(answer)
    if error == "timeout":
        return ExerciseResult(False, "your server waited 3 s for data that never came: stop "
                                     "receiving when recv() returns b'' (the client closed its side)")
    if error is not None and not reply:
        return ExerciseResult(False, f"your server raised {error}" if ":" in error else error)
    if reply == message.upper():
        return ExerciseResult(True, f"the whole {len(message)}-byte message came back upper-cased, "
                                    f"though it arrived in {len(ECHO_PIECES)} pieces")
    if reply == message:
        return ExerciseResult(False, "the message came back unchanged: send it upper-cased")
    if reply and message.upper().startswith(reply):
        return ExerciseResult(False, f"only {len(reply)} of {len(message)} bytes came back: one "
                                     "recv() returns what has arrived so far, and TCP is a stream: "
                                     "keep receiving until recv() returns b''")
    return ExerciseResult(False, f"the client got {reply[:40]!r}, expected {message.upper()[:40]!r}...")
