"""The twin itself, and where the firmware and the Python simulation must agree exactly.

The driver suite shared by both back-ends is tests/test_hw_backends.py; here are
the twin's own life (building, starting, options, two at once, stopping) and
comparisons that need both back-ends side by side (the same waveform, the same
answers to garbage). Where they disagree, the firmware is right.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import serial
from test_hw_backends import MISSING, REASON, _sample, _tx, twin_ports  # noqa: F401, F811

import labkit.hw  # noqa: F401
from labkit.errors import LabkitValueError
from labkit.hw import Board
from labkit.hw import protocol as P
from labkit.hw.board import open_serial
from labkit.hw.errors import BaudMismatchError, BoardError, LinkSilentError, PortError
from labkit.hw.lab import PREAMBLE, decode, open_pair, sim_url, transfer
from labkit.hw.twin import Twin, TwinError, TwinWire, build, running_twins

pytestmark = pytest.mark.skipif(bool(MISSING), reason=REASON)


@pytest.fixture
def twin(twin_ports):  # noqa: F811
    """The shared twin's two boards, freshly reset."""
    boards = []
    for i, port in enumerate(twin_ports):
        port.labkit_twin.reset(i)
        boards.append(Board(port, name=port.name))
    return tuple(boards)


_count = itertools.count()


def wait_until(condition, what: str, deadline: float = 60.0) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` did not happen in ``deadline`` s.

    The deadline is generous on purpose: it only has to be finite, so that a broken twin fails
    the test instead of hanging it.
    """
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"waited {deadline:g} s (wall clock) for {what}; it did not happen")
        time.sleep(0.01)


@pytest.fixture
def sim():
    name = f"twin-compare-{next(_count)}"
    a = Board.open(sim_url(name, 0))
    b = Board.open(sim_url(name, 1))
    yield a, b
    a.close()
    b.close()


# ---------------------------------------------------------------- the twin's life


def test_two_twins_run_at_once_and_stop_on_sigterm():
    with Twin() as one, Twin(noise_mv=0) as two:
        assert len(set(one.ports + two.ports)) == 4  # four ptys of their own
        # a pty opened directly does not reset its board: ask for the banner soon
        boards = [Board.open(p, reset_wait=0.2) for p in (*one.ports, *two.ports)]
        try:
            assert [b.ping(bytes([i])) for i, b in enumerate(boards)] == [b"\0", b"\1",
                                                                          b"\2", b"\3"]
        finally:
            for b in boards:
                b.close()
        # SIGTERM (what stop() sends first) makes the twin exit by itself. Waited for, not
        # timed: a loaded machine may be slow, but a twin that ignores the signal never exits.
        os.kill(one.pid, signal.SIGTERM)
        wait_until(lambda: not one.running, "the twin to exit on SIGTERM")
        assert one.stop() == 0  # a clean exit: status 0, not killed
        assert not one.running and two.running
        with pytest.raises(TwinError):
            one.sim_time()


def test_a_twin_stops_when_its_parent_goes():
    out = build()
    proc = subprocess.Popen([str(out / "twin"), str(out / "labkit_hw.elf"), "--control"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline()  # running
    proc.stdin.close()  # what happens when the Python process that started it dies
    assert proc.wait(timeout=5) == 0
    proc.stdout.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--noise-mv", "loud"], "--noise-mv loud"), (["--ppm0", "60000"], "--ppm0 60000"),
     (["--rc-us"], "needs a value"), (["--colour", "1"], "unknown option --colour")],
)
def test_bad_options_are_named(args, words):
    out = build()
    proc = subprocess.run([str(out / "twin"), str(out / "labkit_hw.elf"), *args],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2 and words in proc.stderr


def test_wire_options_are_checked_in_python():
    with pytest.raises(LabkitValueError, match="noise_mv"):
        TwinWire(noise_mv=-1)
    with pytest.raises(LabkitValueError, match="ppm1"):
        TwinWire(ppm1=float("nan"))
    assert TwinWire(delay_us=3).args()[4:6] == ["--delay-us", "3"]


def test_twin_url_opens_resets_and_stops():
    url = "labkit-twin://urltest/{}?noise_mv=0"
    a = Board.open(url.format(0))
    try:
        assert a._seq == 0  # opening reset the board, which sent its banner
        assert "urltest" in running_twins()
        with pytest.raises(PortError):
            Board.open(url.format(0))  # a port opens once
        with pytest.raises(PortError, match="already running"):
            Board.open("labkit-twin://urltest/1?noise_mv=5")  # another wire
        b = Board.open(url.format(1) + "&reset=0", reset_wait=0.2)
        assert b._seq == 1  # no reset: no banner, so the driver asked with HELLO
        pid = a.serial.labkit_twin.pid
        b.close()
    finally:
        a.close()
    assert "urltest" not in running_twins()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the process has gone
    with pytest.raises(PortError, match="colour"):
        open_serial("labkit-twin://urltest/0?colour=blue")
    with pytest.raises(serial.SerialException, match="boards 0 and 1"):
        serial.serial_for_url("labkit-twin://urltest/2")


def test_a_wrong_baud_rate_is_named_a_baud_mismatch():
    """A firmware built for 115200 baud, opened at PROTOCOL.md's 500000: garbage both ways
    on the twin, as on a board, and the driver finds the rate the board answers at."""
    url = f"labkit-twin://baud{os.getpid()}/0?host_baud=115200"
    with pytest.raises(BaudMismatchError) as info:
        Board.open(url)
    assert str(info.value) == (
        f"{url}: baud mismatch: the board answers at 115200 baud, this port was opened at "
        "500000. Its labkit firmware was built for 115200 baud (make HOST_BAUD=115200); flash "
        f"the firmware from this labkit (labkit hw flash {url}), which speaks "
        f"500000, or open it at its rate: Board.open({url!r}, baudrate=115200)"
    )
    assert (info.value.host_baud, info.value.board_baud) == (500_000, 115_200)
    assert info.value.seen and P.Frame(P.BANNER, 0, P.banner().pack()).pack() not in info.value.seen
    with Board.open(url, baudrate=115_200) as board:  # at its own rate it just works
        assert board.banner == P.banner()
        assert board.ping(b"at 115200") == b"at 115200"
    with pytest.raises(PortError, match="host_baud='9'"):
        open_serial("labkit-twin://baudx/0?host_baud=9")


def test_simulated_time_is_the_boards_clock(twin):
    a, _ = twin
    t0 = a.clock()
    a.transmit(np.ones(500, np.uint8), 1000, "nrz-l")
    assert 0.5 <= a.clock() - t0 < 0.52  # simulated seconds, whatever the wall clock did


def test_propagation_delay_moves_the_edges():
    """delay_us on the wire: the receiver sees each edge that much later, on both back-ends.

    On the simulated pair the edge moves by exactly the delay. On the twin the
    host's own lateness (between ARMED and TRANSMIT, simulated time that depends on
    how busy the computer is) blurs an exact count, so the twin is bracketed with
    trigger timeouts instead: lateness can only make an edge later, never earlier.
    """
    def first_edge(tx, rx):
        rx.arm(20_000, 2000, trigger="now")  # 100 ms
        armed = rx.clock()
        t_send = tx.clock()
        tx.transmit([1, 1], 10_000, "nrz-l", idle=0)
        return int(np.flatnonzero(rx.fetch().values)[0]) - (t_send - armed) * 20_000

    def arrives_within(kind, delay_us, timeout_ms):
        tx, rx = open_pair(kind, kind, pair=f"delay{kind}{delay_us}",
                           wire={"delay_us": delay_us, "noise_mv": 0})
        try:
            rx.arm(20_000, 10, trigger="rising", timeout_ms=timeout_ms)
            tx.transmit([1, 1], 10_000, "nrz-l", idle=0)
            try:
                rx.fetch()
            except LinkSilentError:
                return False
            return True
        finally:
            tx.close()
            rx.close()

    edges = []
    for delay in (0, 50_000):
        tx, rx = open_pair("sim", "sim", pair=f"delaysim{delay}",
                           wire={"delay_us": delay, "noise_mv": 0})
        try:
            edges.append(first_edge(tx, rx))
        finally:
            tx.close()
            rx.close()
    # 50 ms at 20 000 samples/s of the receiver's clock, which runs ppm1 (-0.5 %) slow
    from labkit.hw.sim import WireModel

    assert edges[1] - edges[0] == pytest.approx(1000 * (1 + WireModel().ppm1 * 1e-6), abs=1)
    for kind in ("sim", "twin"):
        assert arrives_within(kind, 0, 30), kind
        assert arrives_within(kind, 20_000, 200), kind
        assert not arrives_within(kind, 50_000, 30), kind  # still on its way at the timeout


def test_selftest_on_the_twin_from_the_command_line(capsys):
    from labkit.hw import cli

    status = cli.main(["hw", "selftest", "--tx", "twin", "--rx", "twin", "--rates",
                       "5000,50000", "--codes", "nrz-l,manchester"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "labkit-twin://cli/0" in out and "PASS" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:8].strip().isdigit()}
    assert rows["5000"].count(" 0/256") == 2  # no errors at the documented rate
    assert "past the documented rate" in rows["50000"] and rows["50000"].count(" 0/256") < 2


# ---------------------------------------------------------------- side by side


def test_banner_and_ping_are_identical(twin, sim):
    assert twin[0].hello() == sim[0].hello() == P.banner()
    assert twin[0].ping(bytes(range(64))) == bytes(range(64))


def _refusal(board, typ, payload):
    with pytest.raises(BoardError) as info:
        board.request(typ, payload)
    e = info.value
    return e.code, e.field, e.command, e.text


def test_crc_too_long_and_frame_timeout_are_identical(twin, sim):
    def errors(board):
        out = []
        frame = bytearray(P.Frame(P.PING, 77, b"abc").pack())
        frame[-1] ^= 0xFF
        board.serial.write(bytes(frame))
        with pytest.raises(BoardError) as info:
            board.wait_reply(77, P.PING, 3.0)
        out.append(info.value.code)
        board.serial.write(bytes([P.SYNC, P.TRANSMIT, 78]) + (265).to_bytes(2, "little"))
        with pytest.raises(BoardError) as info:
            board.wait_reply(78, P.TRANSMIT, 3.0)
        out.append(info.value.code)
        board.serial.write(P.Frame(P.PING, 79, b"abcdef").pack()[:7])
        with pytest.raises(BoardError) as info:
            board.wait_reply(79, P.PING, 3.0)
        out.append(info.value.code)
        return out

    assert errors(twin[0]) == errors(sim[0]) == [P.E_CRC, P.E_TOO_LONG, P.E_FRAME_TIMEOUT]


@pytest.mark.parametrize("code", ["nrz-l", "nrz-i", "manchester"])
def test_captures_agree(twin, sim, code):
    rng = np.random.default_rng(11)
    data = rng.integers(0, 2, 48).astype(np.uint8)
    frame = np.concatenate([PREAMBLE, data])
    results = {}
    for name, (a, b) in (("twin", twin), ("sim", sim)):
        digital = transfer(a, b, frame, 2000, code, samples_per_bit=10, mode="digital")
        analog = transfer(a, b, frame, 2000, code, samples_per_bit=10, mode="analog")
        assert np.array_equal(decode(digital)[:48], data), name
        assert np.array_equal(decode(analog)[:48], data), name
        results[name] = (digital, analog)
    (td, ta), (sd, sa) = results["twin"], results["sim"]
    assert (td.samples.tick_cycles, td.samples.count) == (sd.samples.tick_cycles, sd.samples.count)
    # The same waveform: the same runs of equal samples, give or take the one sample
    # that an edge falls on (the boards' timers start at another phase on every run).
    runs_t = np.diff(np.flatnonzero(np.diff(td.samples.values.astype(int))))
    runs_s = np.diff(np.flatnonzero(np.diff(sd.samples.values.astype(int))))
    assert runs_t.size == runs_s.size
    assert np.max(np.abs(runs_t - runs_s)) <= 1
    # The analog samples fall at another phase of the edges on each run (the boards'
    # timers start when the commands arrive), so compare the levels and the edges' share.
    tv, sv = ta.samples.values.astype(int), sa.samples.values.astype(int)
    for pick in (lambda v: v > 200, lambda v: v < 50):
        assert abs(np.median(tv[pick(tv)]) - np.median(sv[pick(sv)])) <= 3
    assert abs(ta.volts.mean() - sa.volts.mean()) < 0.1  # the same share of time high


def test_trigger_timeout_is_identical(twin, sim):
    for _, b in (twin, sim):
        b.arm(10_000, 10, trigger="any", timeout_ms=20)
        with pytest.raises(LinkSilentError):
            b.fetch()


def test_bridge_agrees(twin, sim):
    for a, b in (twin, sim):
        a.bridge_start(19_200)
        b.bridge_start(19_200)
        a.bridge_send(bytes(range(200)), timeout=5)
        assert b.bridge_recv(200, timeout=5) == bytes(range(200))
        sa = a.bridge_stop()
        sb = b.bridge_stop()
        # a left bridge mode first: its line fell, and b (still bridging) saw a start
        # bit without a stop bit.
        assert (sa.sent, sb.received, sb.framing_errors) == (200, 200, 1)


def test_bridge_mode_refusals_agree(twin, sim):
    def codes(board):
        out = []
        board.bridge_start(300)
        for typ, payload in [(P.TRANSMIT, _tx()), (P.SAMPLE, _sample()), (P.BRIDGE, bytes(4)),
                             (P.BRIDGE_DATA, b""), (P.BRIDGE_DATA, bytes(65))]:
            out.append(_refusal(board, typ, payload)[0])
        for _ in range(3):
            board.request(P.BRIDGE_DATA, bytes(64))
        ack = P.BridgeAck.parse(board.request(P.BRIDGE_DATA, bytes(63)).payload)
        out.append(ack.queued + ack.free)
        out.append(_refusal(board, P.BRIDGE_DATA, bytes(64))[0])
        stats = board.bridge_stop()
        out.append(stats.sent + stats.not_sent)
        return out

    want = [P.E_BUSY, P.E_BUSY, P.E_BUSY, P.E_PAYLOAD, P.E_PAYLOAD, 255, P.E_BUSY, 255]
    assert codes(twin[0]) == codes(sim[0]) == want


def test_sample_now_on_the_idle_line_agrees(twin, sim):
    got = [b.sample(200_000, 8192).data for _, b in (twin, sim)]
    assert got[0] == got[1] == bytes(1024)


def _random_streams(count: int, seed: int) -> list[bytes]:
    """Byte streams of garbage and damaged frames, the same on every run."""
    rng = np.random.default_rng(seed)
    kinds = [P.HELLO, P.PING, P.TRANSMIT, P.SAMPLE, P.BRIDGE_DATA, P.BRIDGE_STOP, 0x00, 0x42]
    streams = []
    for _ in range(count):
        parts = []
        for _ in range(int(rng.integers(1, 5))):
            if rng.random() < 0.4:
                parts.append(rng.integers(0, 256, int(rng.integers(1, 12)), dtype=np.uint8)
                             .tobytes())
            else:
                payload = rng.integers(0, 256, int(rng.integers(0, 12)), dtype=np.uint8).tobytes()
                raw = bytearray(P.Frame(int(rng.choice(kinds)), int(rng.integers(0, 256)),
                                        payload).pack())
                if rng.random() < 0.3:  # damage one byte
                    raw[int(rng.integers(1, len(raw)))] ^= 1 << int(rng.integers(0, 8))
                parts.append(bytes(raw))
        streams.append(b"".join(parts))
    return streams


def _answers(board: Board, stream: bytes, quiet: float) -> list:
    board.serial.reset_input_buffer()
    board.serial.write(stream)
    frames = []
    while (f := board.read_frame(timeout=quiet)) is not None:
        frames.append(f)
    return frames


def test_garbage_gets_the_same_answers(twin, sim):
    """Random bytes and damaged frames: the simulation answers exactly as the firmware."""
    seen = set()
    for i, stream in enumerate(_random_streams(16, seed=4)):
        got_twin = _answers(twin[0], stream, quiet=0.15)
        got_sim = _answers(sim[0], stream, quiet=0.15)
        assert got_twin == got_sim, f"stream {i}: {stream.hex(' ')}"
        assert twin[0].ping(b"alive") == b"alive"
        seen |= {f.payload[0] if f.type == P.ERROR else f.type for f in got_twin}
    # not a vacuous comparison: many kinds of answer came back
    assert {P.E_CRC, P.E_UNKNOWN, P.E_PAYLOAD, P.E_STATE, P.E_FRAME_TIMEOUT} <= seen


# --------------------------------------------------------------------------- RECEIVE

@pytest.mark.parametrize("code, rate", [("manchester", 20_000), ("nrz-l", 40_000), ("nrz-i", 40_000)])
def test_the_boards_own_receiver_decodes_a_frame(twin, code, rate):
    """RECEIVE: input capture on D8 and the firmware's decoder, error-free where the wire is clean."""
    from labkit.hw.lab import board_bit_error_test

    tx, rx = twin
    result = board_bit_error_test(tx, rx, rate, code, np.random.default_rng(5), payload_bits=500)
    assert result.errors == 0, result


def test_the_boards_receiver_fails_where_the_wire_smears_the_bits(twin):
    """Past the wire's limit the same receiver makes errors (the test can fail both ways)."""
    from labkit.hw.lab import board_bit_error_test

    tx, rx = twin
    result = board_bit_error_test(tx, rx, 100_000, "nrz-l", np.random.default_rng(5), payload_bits=500)
    assert result.errors > 25, result


def test_receive_refusals_name_the_field(twin):
    tx, rx = twin
    for payload, field in [
        (P.Receive(3, 0, 20_000, 100, 100).pack(), "code"),
        (P.Receive(0, 2, 20_000, 100, 100).pack(), "idle"),
        (P.Receive(0, 0, 999, 100, 100).pack(), "bit_rate"),
        (P.Receive(0, 0, 100_001, 100, 100).pack(), "bit_rate"),
        (P.Receive(0, 0, 20_000, 0, 100).pack(), "nbits"),
        (P.Receive(0, 0, 20_000, 2049, 100).pack(), "nbits"),
        (P.Receive(0, 0, 20_000, 100, 0).pack(), "timeout_ms"),
    ]:
        with pytest.raises(BoardError) as info:
            rx.request(P.RECEIVE, payload)
        assert info.value.code == P.E_RANGE and field in str(info.value), (field, info.value)
    with pytest.raises(BoardError) as info:
        rx.request(P.RECEIVE, b"\x00" * 9)
    assert info.value.code == P.E_PAYLOAD


def test_receive_times_out_on_a_quiet_wire(twin):
    tx, rx = twin
    rx.receive_arm(20_000, 64, "nrz-l", idle=0, timeout_ms=5)
    with pytest.raises(LinkSilentError, match="trigger timeout"):
        rx.receive_fetch()


# --------------------------------------------------------------------------- SCOPE


def test_step_responses_agree(twin, sim):
    """The same equivalent-time step on the firmware and on the simulation, 1 µs apart."""
    from labkit.hw.scope import fit_tau, step_response

    traces = [step_response(a, b) for a, b in (twin, sim)]
    assert np.array_equal(traces[0].times, traces[1].times)
    assert np.max(np.abs(traces[0].volts - traces[1].volts)) < 0.35  # noise, ADC steps, trigger
    (tau_t, start_t), (tau_s, start_s) = (fit_tau(t) for t in traces)
    assert tau_t == pytest.approx(tau_s, rel=0.02)
    assert start_t == pytest.approx(start_s, abs=1e-6)


def test_ber_against_clock_mismatch_and_noise_on_the_twin():
    """BER sweeps on the twin: errors appear only where the clocks or the noise are too far off."""
    from labkit.hw.scope import ber_sweep

    # ±0.99 %: 2 % apart, and each board still within the twin's 1 % of the host link's rate
    by_ppm = ber_sweep("twin", [{"ppm0": 0, "ppm1": 0}, {"ppm0": 9900, "ppm1": -9900}],
                       10_000, "manchester", bits=1000, pair=f"ppm{os.getpid()}")
    assert by_ppm[0] == 0 and by_ppm[1] > 50, by_ppm
    by_noise = ber_sweep("twin", [{"noise_mv": 15}, {"noise_mv": 1500}], 10_000, "nrz-l",
                         bits=1000, pair=f"noise{os.getpid()}")
    assert by_noise[0] == 0 and by_noise[1] > 10, by_noise


def test_twin_models_input_hysteresis_and_output_resistance():
    """hyst_mv: D8 falls only below 2.5 V - hyst/2, so SCOPE's falling trigger comes later and
    the next step sooner after it; rout_ohm: the sender's pin adds to the 10 kΩ, and tau grows."""
    from labkit.hw.scope import fit_tau, step_response

    fits = {}
    for name, wire in (("plain", {}), ("hyst", {"hyst_mv": 1000}), ("rout", {"rout_ohm": 1000})):
        tx, rx = open_pair("twin", "twin", pair=f"pin{name}{os.getpid()}", wire=wire)
        try:
            fits[name] = fit_tau(step_response(tx, rx))
        finally:
            tx.close()
            rx.close()
    tau, start = fits["plain"]
    # the falling edge crosses 2.0 V instead of 2.5 V: tau * ln(2.425 / 1.95) later
    later = 22e-6 * np.log((4.9 - 0.05) / (2.0 - 0.05)) - 22e-6 * np.log((4.9 - 0.05) / 2.45)
    assert start - fits["hyst"][1] == pytest.approx(later * 0.995, abs=0.7e-6)
    assert fits["hyst"][0] == pytest.approx(tau, rel=0.02)  # the wire itself is the same
    assert fits["rout"][0] == pytest.approx(tau * 1.1, rel=0.02)  # 11 kΩ instead of 10


def test_twin_refuses_a_hysteresis_past_the_datasheets_thresholds():
    with pytest.raises(LabkitValueError, match="hyst_mv"):
        TwinWire(hyst_mv=1200)
