"""Write the lab notebooks L1, L2, L3, L5 (teacher's edition) from solutions/*.py and the tables here.

    python course/labs/make_labs.py          # then execute them (see docs/teachers.md)

Each notebook: an introduction, one solution cell (every function's body, after its
docstring, between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, so nbgrader's student
edition keeps the signatures and docstrings and raises NotImplementedError), then one
graded test cell per test (nbgrader metadata with points; hidden ones inside
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``), each with a hint above it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).parent

# (name, points, hidden, hint) per lab; the check function is labkit.labs.<mod>.check_<name>
LABS = {
    "L1-receiver": dict(
        module="receiver",
        component="decode",
        extra={"threshold": "find_threshold"},
        title="Lab 1: a receiver, from samples to bits",
        intro=(
            "You write the decoder of a receiver: samples from an ADC in, the frame's bits out, "
            "for NRZ-L and Manchester. It must find the **threshold** between the two levels, "
            "**recover the clock** (the transmitter's bit period, which is not quite yours), and "
            "find the **preamble** (7 bytes `10101010` and `10101011`, as Ethernet sends) to know "
            "where the payload starts.\n\n"
            "The door: `decode(samples, code, samples_per_bit, preamble) -> bits after the preamble` "
            "(`labkit.phy.receiver.Decoder`). It is graded on its bit error rate against labkit's "
            "own receiver on the same waveforms, at several SNRs and with the receiver's clock 1% "
            "fast or slow. labkit's receiver functions are out of reach in the tests: write your own."
        ),
        tests=[
            ("threshold", 1, False, "Where does the signal spend its time? Two clusters of values."),
            (
                "clean",
                1,
                False,
                "On a clean line every bit must come out right. Print the first "
                "bits you decode next to the preamble.",
            ),
            (
                "noise",
                2,
                True,
                "One sample per bit is at the mercy of noise; so is an edge found in one sample.",
            ),
            (
                "clock_error",
                3,
                True,
                "Decode a long frame with `clock_skew(..., drift=0.01)` and "
                "plot where your errors are: if they start late and never stop, your clock drifts.",
            ),
            ("preamble", 2, True, "Try a frame with a long idle line in front of it."),
        ],
    ),
    "L2-switch": dict(
        module="switch",
        component="Switch",
        extra={},
        title="Lab 2: a learning switch",
        intro=(
            "You write the logic of an Ethernet switch (IEEE 802.1D): check each frame's **FCS**, "
            "**learn** which port each source is behind, **forward** to a known destination, "
            "**filter** a frame for the port it came from, **flood** broadcast, multicast and "
            "unknown unicast, and **age** entries not refreshed for `ageing_time_ns`.\n\n"
            "The door is `labkit.link.bridge.SwitchLogic`: `add_port(name)` and "
            "`forward(in_port, frame, now_ns)` returning the ports a copy leaves by; the "
            'simulator runs yours with `net.add_switch("S1", logic=Switch(...))`. Frames are '
            "bytes with their 4-byte FCS (CRC-32, little-endian) unless `check_fcs=False` (the "
            "simulator's frames carry none). Graded on exactly which frames leave which ports."
        ),
        tests=[
            ("parse", 1, False, "What in a frame may you trust before its FCS is checked?"),
            ("learn_forward", 2, False, "Learn first, then decide."),
            ("flood", 1, False, "Which bit of a destination address says 'group'?"),
            ("filter", 1, True, "Two stations behind one port (a hub) hear each other directly."),
            ("host_moves", 2, True, "A laptop unplugged and plugged in elsewhere."),
            ("ageing", 2, True, "An entry's age is measured from the last frame the station sent."),
            ("network", 1, True, "Two of your switches in a row, in labkit's simulator."),
        ],
    ),
    "L3-router": dict(
        module="router",
        component="Router",
        extra={},
        title="Lab 3: an IPv4 router",
        intro=(
            "You write a whole router node, from Ethernet frames: answer **ARP** for your "
            "addresses, keep an **ARP cache** with a timeout, **queue** packets while you ask and "
            "give up after `arp_tries` with ICMP host unreachable; **longest-prefix match** on "
            "your own routes; **TTL** decrement with the **header checksum** updated; ICMP **time "
            "exceeded** and **destination unreachable**.\n\n"
            "It has the shape of labkit's `IPStack`: `Router(interfaces, clock, *, arp_timeout_ns, "
            "arp_retry_ns, arp_tries)`, `add_route(prefix, next_hop, interface)`, and "
            "`receive(iface, frame, now)`. You may use labkit's codecs (`EthernetFrame`, "
            "`ARPPacket`, `IPv4Packet`, `ICMPMessage`); labkit's stack, routing table and ARP "
            "resolver are out of reach. Graded by pings and traceroutes from labkit hosts through "
            "two of your routers, and by the bytes on the wire."
        ),
        tests=[
            ("own_address", 1, False, "Before A can send anything to you it must know your MAC."),
            ("ping_through", 2, False, "Follow one echo request: which MAC does it need at each hop?"),
            ("traceroute", 2, False, "Which address must a time exceeded come from?"),
            ("ttl_checksum", 2, True, "If you change a header's bytes yourself, what else changes?"),
            ("longest_prefix", 2, True, "The order routes were added in says nothing."),
            ("net_unreachable", 1, True, "No route at all is an answer too."),
            ("arp_cache", 2, True, "Count your ARP requests on the wire with `net.capture`."),
            ("arp_pending", 1, True, "Four packets arrive before the first ARP reply."),
            ("host_unreachable", 1, True, "Nobody answers: how many times do you ask, and then?"),
        ],
    ),
    "L5-app": dict(
        module="app",
        component=None,
        extra={},
        title="Lab 5: a chat server and an HTTP server",
        intro=(
            "You write two servers on real sockets on 127.0.0.1: one for the course's framed chat "
            "protocol (its specification is the docstring of `labkit/app/chat.py`: run "
            "`help(labkit.app.chat)`), and a small HTTP/1.1 server for GET. Both bind to port 0 "
            "(the system picks a free port), have `start()`, `stop()` and `address`, and must "
            "serve many clients at once.\n\n"
            "Graded by a client harness: ordinary clients, a slow one (a byte at a time, or half "
            "a frame and a pause), one that half-closes, and malformed ones. You may use "
            "`ChatMessage` to parse and pack messages; labkit's chat room and servers are out of "
            "reach."
        ),
        tests=[
            ("chat_basic", 2, False, "Who gets which message, with which request id?"),
            ("chat_errors", 1, True, "An error about one request does not end the connection."),
            (
                "chat_slow_client",
                2,
                True,
                "What are your other clients doing while one is half-way through a message?",
            ),
            ("chat_malformed", 1, True, "Never trust a length a peer announces."),
            ("http_get", 2, False, "Status line, headers, empty line, body."),
            ("http_persistent", 1, True, "HTTP/1.1 keeps connections open; TCP is a byte stream."),
            ("http_malformed", 1, True, "A request you cannot read deserves a 400."),
        ],
    ),
}

SOLUTION_FILE = {"L1-receiver": "L1.py", "L2-switch": "L2.py", "L3-router": "L3.py", "L5-app": "L5.py"}


def mark_solution(source: str) -> str:
    """Put every function's body (after its docstring) between nbgrader's solution markers."""
    tree = ast.parse(source)
    lines = source.splitlines()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            if not body:
                continue
            spans.append((body[0].lineno - 1, node.end_lineno, body[0].col_offset))
    # module-level statements other than imports, defs and classes stay as they are
    for start, end, col in sorted(spans, reverse=True):
        pad = " " * col
        lines[start:end] = [pad + "### BEGIN SOLUTION"] + lines[start:end] + [pad + "### END SOLUTION"]
    return "\n".join(lines) + "\n"


def meta(grade_id: str, *, solution: bool = False, points: int | None = None, locked: bool = True) -> dict:
    m: dict = {
        "nbgrader": {
            "schema_version": 3,
            "grade_id": grade_id,
            "solution": solution,
            "grade": points is not None,
            "locked": locked and not solution,
        }
    }
    if points is not None:
        m["nbgrader"]["points"] = points
    return m


def build(name: str) -> nbformat.NotebookNode:
    spec = LABS[name]
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    total = sum(p for _, p, _, _ in spec["tests"])
    hidden = sum(p for _, p, h, _ in spec["tests"] if h)
    cells = []
    cells.append(
        nbformat.v4.new_markdown_cell(
            f"# {spec['title']}\n\n{spec['intro']}\n\n"
            f"**Points:** {total} in all, {hidden} of them from hidden tests your teacher runs after you "
            "hand in. The visible tests below print a step log when they fail: what was done, what "
            "was expected, what happened, and a hint. Passing them is necessary, not sufficient.\n\n"
            "Write your code where it says `YOUR CODE HERE` (remove the `raise NotImplementedError()`); "
            "do not rename the functions or classes, and do not edit the test cells.",
            metadata=meta("intro"),
        )
    )
    cells.append(
        nbformat.v4.new_code_cell(
            "import numpy as np\n\nimport labkit.labs." + spec["module"] + " as grader",
            metadata=meta("imports"),
        )
    )
    source = (HERE / "solutions" / SOLUTION_FILE[name]).read_text()
    cells.append(nbformat.v4.new_markdown_cell("## Your code", metadata=meta("your_code_title")))
    cells.append(
        nbformat.v4.new_code_cell(
            mark_solution(source).rstrip("\n"), metadata=meta("solution", solution=True)
        )
    )
    cells.append(nbformat.v4.new_markdown_cell("## Tests", metadata=meta("tests_title")))
    for test, points, is_hidden, hint in spec["tests"]:
        if spec["component"] is None:
            component = "ChatServer" if test.startswith("chat") else "HTTPServer"
        else:
            component = spec["extra"].get(test, spec["component"])
        call = f"grader.check_{test}({component})"
        title = test.replace("_", " ")
        label = "hidden test, run by your teacher" if is_hidden else "visible test"
        cells.append(
            nbformat.v4.new_markdown_cell(
                f"**{title}** ({points} point{'s' if points > 1 else ''}, {label}). Hint: {hint}",
                metadata=meta(f"about_{test}"),
            )
        )
        if is_hidden:
            body = f"# the hidden test of '{title}'\n### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS"
        else:
            body = call
        cells.append(nbformat.v4.new_code_cell(body, metadata=meta(f"test_{test}", points=points)))
    nb.cells = cells
    return nb


def main(names: list[str]) -> None:
    for name in names or list(LABS):
        path = HERE / f"{name}.ipynb"
        nbformat.write(build(name), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
