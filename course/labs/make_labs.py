"""Write the lab notebooks L1-L5 (teacher's edition) from solutions/*.py and the tables here.

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

SOLUTION_FILE = {"L1-receiver": "L1.py", "L2-switch": "L2.py", "L3-router": "L3.py", "L4-tcp": "L4.py",
                 "L5-app": "L5.py"}


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
    if "parts" in spec:
        return build_parts(name)
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
        cells += graded_cells(test, points, is_hidden, hint, f"grader.check_{test}({component})")
    nb.cells = cells
    return nb


def graded_cells(test: str, points: int, is_hidden: bool, hint: str, call: str) -> list:
    """A test's two cells: its title, points and hint; then the graded call (hidden or not)."""
    title = test.replace("_", " ")
    label = "hidden test, run by your teacher" if is_hidden else "visible test"
    about = nbformat.v4.new_markdown_cell(
        f"**{title}** ({points} point{'s' if points > 1 else ''}, {label}). Hint: {hint}",
        metadata=meta(f"about_{test}"),
    )
    if is_hidden:
        body = f"# the hidden test of '{title}'\n### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS"
    else:
        body = call
    return [about, nbformat.v4.new_code_cell(body, metadata=meta(f"test_{test}", points=points))]


def build_parts(name: str) -> nbformat.NotebookNode:
    """A lab in parts (L4): per part, its text, the learner's code, things to look at, its tests."""
    from labkit.labs.pipeline import solution_parts
    from labkit.labs.wrong import L4_ARGS

    spec = LABS[name]
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    tests = [t for part in spec["parts"] for t in part["tests"]]
    total = sum(p for _, p, _, _ in tests)
    hidden = sum(p for _, p, h, _ in tests if h)
    code = solution_parts((HERE / "solutions" / SOLUTION_FILE[name]).read_text())
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {spec['title']}\n\n{spec['intro']}\n\n"
            f"**Points:** {total} in all, {hidden} of them from hidden tests your teacher runs after "
            "you hand in. The visible tests print a step log when they fail: what was done, what "
            "was expected, what happened, and a hint. Passing them is necessary, not sufficient.\n\n"
            "Write your code where it says `YOUR CODE HERE` (remove the `raise NotImplementedError()`); "
            "do not rename the functions or classes, and do not edit the test cells.",
            metadata=meta("intro"),
        ),
        nbformat.v4.new_code_cell(spec["imports"], metadata=meta("imports")),
    ]
    for part in spec["parts"]:
        cells.append(nbformat.v4.new_markdown_cell(part["text"], metadata=meta(f"part_{part['code']}")))
        cells.append(
            nbformat.v4.new_code_cell(
                mark_solution(code[part["code"]]).rstrip("\n"),
                metadata=meta(f"solution_{part['code']}", solution=True),
            )
        )
        for k, (text, source) in enumerate(part.get("explore", ())):
            cells.append(nbformat.v4.new_markdown_cell(text, metadata=meta(f"look_{part['code']}_{k}_text")))
            cells.append(nbformat.v4.new_code_cell(source, metadata=meta(f"look_{part['code']}_{k}")))
        for test, points, is_hidden, hint in part["tests"]:
            call = f"grader.check_{test}({', '.join(L4_ARGS[test])})"
            cells += graded_cells(test, points, is_hidden, hint, call)
    nb.cells = cells
    return nb


def main(names: list[str]) -> None:
    for name in names or list(LABS):
        path = HERE / f"{name}.ipynb"
        nbformat.write(build(name), path)
        print(f"wrote {path}")



# Lab 4 is in parts: each has its text, the part of solutions/L4.py it is written in (between
# "# %% part NAME" lines), cells to look at what the code does (figures), and its tests.
_ARQ_LOOK = '''\
# Goodput against loss, and against the window: your three protocols beside the theory.
L, RATE, DELAY, TIMEOUT = 1000, 2e6, 0.020, 0.120      # bytes, bit/s, s, s
T_f = (L + 9) * 8 / RATE                  # one data frame (9 bytes of header) onto the link
cycle = T_f + 2 * DELAY + 9 * 8 / RATE    # a frame out, and its ACK back
C = L * 8 / T_f                           # the payload rate of a link that is always busy


def protocols(window):
    t = int(TIMEOUT * 1e9)
    return {
        "stop-and-wait": (lambda e: StopAndWaitSender(e, t), GoBackNReceiver),
        "go-back-N": (lambda e: GoBackNSender(e, window, t), GoBackNReceiver),
        "selective repeat": (lambda e: SelectiveRepeatSender(e, window, t),
                             lambda e: SelectiveRepeatReceiver(e, window)),
    }


def goodput(name, window, loss, n=200):
    sender, receiver = protocols(window)[name]
    run = grader.run_arq(sender, receiver, grader.messages(n, L), delay="20ms",
                         bandwidth="2Mbit", loss=loss, seed=1)
    assert run.complete, name
    return run.goodput


W, p = 16, np.linspace(0, 0.3, 31)
P = 1 - (1 - p) ** 2                      # a frame or its ACK is lost
theory = {
    # each failed try costs a timeout; a good one a round trip
    "stop-and-wait": L * 8 / (cycle + P / (1 - P) * TIMEOUT),
    # a lost data frame (a lost ACK is covered by the next one) costs its timeout and a round trip
    "go-back-N": L * 8 / (T_f + p / (1 - p) * (TIMEOUT + cycle)),
    # every loss costs one more frame time, and the window stalls until the timer resends it
    "selective repeat": L * 8 / (T_f / (1 - P) + P * max(0, TIMEOUT + cycle - W * T_f)),
}
losses = [0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for (name, colour) in zip(theory, ("C0", "C1", "C2")):
    ax1.plot(losses, [goodput(name, W, x) / 1e3 for x in losses], "o", color=colour,
             label=f"{name}, measured")
    ax1.plot(p, theory[name] / 1e3, "--", color=colour, label=f"{name}, model")
ax1.set(xlabel="loss rate (each direction)", ylabel="goodput (kbit/s)",
        title=f"2 Mbit/s, 20 ms each way, window {W}, timeout 120 ms")
ax1.legend(fontsize=8)
windows = np.arange(1, 19)
for name, colour in (("go-back-N", "C1"), ("selective repeat", "C2")):
    ax2.plot(windows, [goodput(name, w, 0.0) / 1e3 for w in windows], "o", color=colour,
             label=f"{name}, measured", alpha=0.6)
ax2.plot(windows, C * np.minimum(1, windows * T_f / cycle) / 1e3, "k--",
         label="min(W L / RTT, C)")
ax2.axvline(cycle / T_f, color="grey", lw=1)
ax2.text(cycle / T_f + 0.3, 1000, f"W = 1 + 2a = {cycle / T_f:.1f}:\\nthe pipe is full", fontsize=8)
ax2.set(xlabel="window (frames)", ylabel="goodput (kbit/s)", title="no loss", ylim=(0, None))
ax2.legend(fontsize=8, loc="lower right")
fig.tight_layout()
print(f"stop-and-wait utilisation, no loss: T_f / (T_f + RTT) = {T_f / cycle:.3f}")
'''

_RACE_LOOK = '''\
# Your controller, Reno and CUBIC share one bottleneck (2 Mbit/s, 20 ms each way, a queue of
# one bandwidth-delay product) for 10 s of virtual time.
from labkit.bottleneck import bottleneck

race = bottleneck([MyController, "reno", "cubic"], rate="2Mbit", delay="20ms", duration="10s")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
for flow in race.flows:
    t, cwnd = np.array([(h[0], h[1]) for h in flow.cwnd_history], dtype=float).T
    ax1.step(t / 1e9, cwnd / 1e3, where="post", label=flow.controller)
    d = np.array(flow.delivered, dtype=float)
    edges = np.arange(0, 10.5, 0.5)
    got = np.interp(edges, d[:, 0] / 1e9, d[:, 1], left=0)
    ax2.step(edges[1:], np.diff(got) * 8 / 0.5 / 1e3, where="pre", label=flow.controller)
ax1.set(xlabel="time (s)", ylabel="cwnd (kB)", title="congestion windows")
ax2.set(xlabel="time (s)", ylabel="goodput (kbit/s, per 0.5 s)", title="who gets the link")
ax1.legend(); ax2.legend(fontsize=8)
fig.tight_layout()
for flow, rate in zip(race.flows, race.throughputs()):
    print(f"{flow.controller:>13}: {rate / 1e3:6.0f} kbit/s in the last 5 s")
print(f"utilisation {race.utilisation():.2f}, Jain's fairness index {race.fairness():.2f}")
'''

_CONNECTION_LOOK = '''\
data = np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
mine = grader.parts_config(TCPReceiver, TCPSender, Reassembler, ByteStream, graded=False)
got, fin, net = grader.transfer(mine, None, data, delay="5ms", bandwidth="10Mbit", loss=0.05,
                                corrupt=0.02, duplicate=0.02, reorder=0.05)
print(f"{len(got):,} bytes arrived, byte for byte: {got == data}; B saw the FIN at {fin / 1e9:.3f} s")
'''

LABS["L4-tcp"] = dict(
    title="Lab 4: reliable delivery and TCP, by parts",
    intro=(
        "The heart of a networking course: you build reliable delivery over a network that "
        "loses, duplicates, reorders and corrupts, first from scratch and then as TCP.\n\n"
        "1. **Reliable delivery from scratch**: stop-and-wait, go-back-N and selective repeat "
        "over labkit's lossy simulator, and their goodput beside the theory.\n"
        "2. **TCP by parts**, as in Stanford's CS144: a byte stream with a capacity, a "
        "reassembler, a TCP receiver and a TCP sender, behind labkit's interfaces "
        "(`labkit.transport.bytestream`, `reassembler`, `tcp_receiver`, `tcp_sender`; the "
        "messages and `Wrap32` are in `labkit.transport.tcp_messages`).\n"
        "3. **A congestion controller of your own** through the door of "
        "`labkit.transport.congestion`, raced against Reno and CUBIC.\n\n"
        "Every test runs on a virtual clock: the times and sequence numbers it expects are "
        "exact. labkit's own byte stream, reassembler, receiver, sender and controllers are out "
        "of reach of your code in the tests: write your own."
    ),
    imports="import matplotlib.pyplot as plt\nimport numpy as np\n\nimport labkit.labs.tcp as grader",
    parts=[
        dict(
            code="arq",
            text=(
                "## Part 1: reliable delivery from scratch\n\n"
                "Two hosts, A and B, joined by a link of `labkit.sim`. Each end of your protocol "
                "is given an `end`: `end.now` (ns), `end.send(frame)` and `end.timer(delay_ns, fn)` "
                "(it returns a timer with `cancel()`). Frames are made and read with "
                "`data_frame(seq, data)`, `ack_frame(ackno)` and `parse_frame(frame)`, which "
                "returns `None` for a corrupted frame (`help(grader.parse_frame)`). Sequence "
                "numbers count messages from 0.\n\n"
                "- A sender has `send(messages)` (a list of bytes, given at t = 0) and "
                "`on_frame(frame)` for what comes back.\n"
                "- A receiver has `on_frame(frame)` and a list `delivered`: the messages, in "
                "order, each once.\n"
                "- **Stop-and-wait** uses the go-back-N receiver: it acknowledges cumulatively "
                "with the next seq it expects (so the ACK of seq `n` is `n + 1`).\n"
                "- **Go-back-N**: one timer, for the oldest unacknowledged frame. It is started "
                "when a frame goes and none runs, and restarted whenever an ACK moves the base. "
                "When it expires, every frame in flight goes again.\n"
                "- **Selective repeat**: a timer per frame; only the one that expired goes again. "
                "The receiver keeps frames inside its window and acknowledges each by its own "
                "seq, including one below the window that it has already delivered."
            ),
            explore=[(
                "### Goodput against loss and window\n\nStop-and-wait keeps the link busy for "
                "one frame time in every round trip: its utilisation is $T_f / (T_f + RTT)$. A "
                "window of $W$ frames fills the pipe once $W \\ge 1 + 2a$, $a$ being the one-way "
                "delay in frame times. Under loss each protocol pays differently, and the dashed "
                "models say how: stop-and-wait a timeout per failed try; go-back-N a timeout and "
                "a round trip per lost data frame (a lost ACK is covered by the next, cumulative "
                "one); selective repeat one more frame time per loss, plus the time its window "
                "stalls waiting for the lost frame's timer (pessimistic: losses close together "
                "share one stall). The timer is fixed (120 ms): try "
                "100 ms with a window of 20 and watch the frames at the back of the first burst "
                "time out while their ACKs are still on the way. That is why TCP measures the "
                "round trip.",
                _ARQ_LOOK,
            )],
            tests=[
                ("stop_and_wait", 1, False, "Print `end.now` in `on_frame` and in your timer."),
                ("go_back_n", 1, False, "When exactly is your one timer started, and restarted?"),
                ("selective_repeat", 2, True, "An ACK can be lost too."),
                ("arq_robust", 1, True, "A duplicate or reordered frame must not be delivered twice."),
            ],
        ),
        dict(
            code="stream",
            text=(
                "## Part 2: TCP by parts\n\n"
                "### The byte stream\n\n"
                "`ByteStream(capacity=None)`: `push(data)` takes what fits (at most `capacity` "
                "bytes waiting; `None` is no limit) and returns how many it took; `pop(n)`; "
                "`clear()`; `close()`; `buffered`, `available_capacity`, `finished` (closed *and* "
                "read to the end), `bytes_pushed`, `bytes_popped`. A push after close takes nothing."
            ),
            tests=[("byte_stream", 1, False, "What does `push` return when the stream is full?")],
        ),
        dict(
            code="reassembler",
            text=(
                "### The reassembler\n\n"
                "`Reassembler(capacity=65535)`: `insert(seq, data)` keeps a piece whose first "
                "byte is number `seq`; `pop(next_seq)` returns the bytes from `next_seq` on that "
                "are contiguous, and forgets older ones; `pending` counts the bytes held, each "
                "byte once however many pieces brought it. **Bounded memory**: keep only bytes in "
                "`[first unpopped, first unpopped + capacity)`. `blocks(limit)` lists held ranges "
                "(for SACK; not graded)."
            ),
            tests=[
                ("reassembler", 1, False, "Draw the pieces on a line before you merge them."),
                ("reassembler_capacity", 1, True, "A peer may send a segment a gigabyte ahead."),
            ],
        ),
        dict(
            code="receiver",
            text=(
                "### The TCP receiver\n\n"
                "`TCPReceiver(reassembler, stream, capacity)`, labkit's `TCPReceiverLike`: "
                "`receive(message)` takes a `TCPSenderMessage` (seqno, SYN, payload, FIN, RST); "
                "`send()` returns a `TCPReceiverMessage(ackno, window_size)`. Before the SYN the "
                "ackno is `None`. Sequence numbers on the wire are 32 bits from the ISN "
                "(`Wrap32.wrap(n, isn)`, `w.unwrap(isn, checkpoint)`); the SYN takes number 0, "
                "so a byte's stream index is its absolute number minus 1. The window is the "
                "stream's free room, `capacity - stream.buffered` (at most 65,535); bytes outside "
                "it are not kept. The FIN counts one once every byte before it is in."
            ),
            tests=[
                ("receiver", 1, False, "Unwrap near the next byte you expect: that is your checkpoint."),
                ("receiver_out_of_order", 2, True, "The ackno is the first byte you do not have."),
            ],
        ),
        dict(
            code="sender",
            text=(
                "### The TCP sender\n\n"
                "`TCPSender(stream, isn, config)`, labkit's `TCPSenderLike` (read its docstring: "
                "`help(labkit.transport.tcp_sender)`). `push(transmit)` sends what the windows "
                "allow (the SYN first, data cut at `config.mss`, the FIN when the stream is "
                "finished and there is room); `receive(message)` takes the peer's ackno and "
                "window; `tick(ms, transmit)` tells it time has passed, in whole milliseconds. "
                "The tests call `push` after every `receive`.\n\n"
                "- One timer, for the oldest segment; RTO per RFC 6298 (first sample R: SRTT = R, "
                "RTTVAR = R/2, RTO = SRTT + 4 RTTVAR, at least `config.rto_min`, 1 s before any "
                "sample), doubled on each expiry, never sampled from a retransmission (Karn).\n"
                "- Three duplicate ACKs (same ackno and window, data in flight) resend the oldest "
                "segment at once.\n"
                "- A zero window is probed with one byte; the probe backs off but does not count "
                "as a consecutive retransmission.\n"
                "- `config.congestion()` is your congestion controller's door: call its "
                "`start`, `on_ack`, `on_loss`, `on_recovery_ack`, `on_recovery_end` and "
                "`on_timeout`, and keep in flight at most `min(cwnd, window)`."
            ),
            tests=[
                ("sender", 1, False, "Which numbers do the SYN and FIN take?"),
                ("sender_window", 1, True, "The window counts from the ackno, not from what you sent."),
                ("sender_timer", 2, True, "Write down the time each segment left, and which were resent."),
                ("fast_retransmit", 1, True, "Count duplicates of the last ACK, not all ACKs."),
                ("zero_window", 1, True, "Nothing in flight and a window of 0: what then?"),
                ("connection", 2, True, "Run the transfer below with your parts and a capture."),
            ],
            explore=[(
                "### Your TCP, in labkit's connection, against labkit's TCP\n\n"
                "`grader.parts_config(...)` is `TCPConfig.basic(receiver=TCPReceiver, "
                "sender=TCPSender, reassembler=..., bytestream=...)`: labkit's connection keeps the "
                "states and the segments, your parts do the rest. Here they send 100 kB to labkit's "
                "full TCP through 5% loss, corruption, duplication and reordering.\n\n"
                "**Optional, on Linux as root:** put the host behind a TAP device "
                "(`labkit.tap.TapBridge`) and your parts serve a web page to the kernel's own "
                "`curl`; tests/test_labs_tcp_tap.py does it in a network namespace of its own.",
                _CONNECTION_LOOK,
            )],
        ),
        dict(
            code="congestion",
            text=(
                "## Part 3: a congestion controller of your own\n\n"
                "`MyController()` goes through the door of `labkit.transport.congestion` "
                "(`help(labkit.transport.congestion)`): `start(smss, now, sack)`, `on_ack(ack)`, "
                "`on_loss(flight, now)`, `on_recovery_ack(ack)`, `on_recovery_end(ack)`, "
                "`on_timeout(flight, now)`, with `cwnd` and `ssthresh` in bytes. Its rules: start "
                "with 1 to 10 segments; grow in slow start by at most what was acknowledged, and "
                "not at all when `ack.cwnd_limited` is False (RFC 7661); on a loss, cut below the "
                "flight (at least 2 SMSS of ssthresh); on a timeout, one segment. The rest is "
                "yours: how fast to grow, how deep to cut. It must hold its own against Reno "
                "without starving it."
            ),
            explore=[(
                "### The race\n\nThe rates are scaled down (2 Mbit/s) so the race runs in a few "
                "seconds; the shape is what matters.",
                _RACE_LOOK,
            )],
            tests=[
                ("controller", 1, False, "Read `help(labkit.transport.congestion.Ack)`."),
                ("race", 2, True, "Plot your cwnd beside Reno's."),
            ],
        ),
    ],
)


if __name__ == "__main__":
    main(sys.argv[1:])
