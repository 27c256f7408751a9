"""The Board driver suite, run on both back-ends: the Python simulated pair and the twin.

The twin is the real firmware (hardware/firmware) on two simavr-emulated boards
(hardware/twin); the simulated pair is labkit/hw/sim.py. Every test here runs
against both and expects the same: every PROTOCOL.md command, every error
reply, the lab's transfers (NRZ-L, NRZ-I, Manchester at several bit rates), and
a corrupted wire. Where they disagree the firmware is the truth and the
simulation gets fixed.

Without the toolchain the twin's half is skipped, naming the missing packages;
with LABKIT_REQUIRE_TWIN set (CI) a missing toolchain fails the run instead.
Time on both back-ends is simulated time (Board.clock()), so the clock
assertions hold however fast the computer is.
"""

from __future__ import annotations

import itertools
import os
import signal

import numpy as np
import pytest

import labkit.hw  # noqa: F401  (registers labkit-sim:// and labkit-twin://)
from labkit.errors import LabkitValueError, ParseError
from labkit.hw import Board
from labkit.hw import protocol as P
from labkit.hw.board import default_idle, open_serial
from labkit.hw.errors import BoardError, BoardGoneError, LinkSilentError, PortBusyError
from labkit.hw.lab import PREAMBLE, bit_error_test, decode, sim_url, transfer
from labkit.hw.protocol_labkit_sim import UNPLUGGED
from labkit.hw.twin import APT_PACKAGES, missing_tools, twin_url
from labkit.link import EthernetFrame
from labkit.link.framing import StreamDecoder
from labkit.link.framing import frame as cobs_frame
from labkit.phy import levels_from_bits, receive

MISSING = missing_tools()
REASON = f"the twin needs {', '.join(MISSING)} (apt-get install --no-install-recommends " \
         f"{APT_PACKAGES})"
if MISSING and os.environ.get("LABKIT_REQUIRE_TWIN"):
    # CI sets LABKIT_REQUIRE_TWIN: there a missing toolchain is a failure, never a skip.
    raise RuntimeError(f"LABKIT_REQUIRE_TWIN is set but the twin cannot run: {REASON}")
needs_twin = pytest.mark.skipif(bool(MISSING), reason=REASON)

BACKENDS = ["sim", pytest.param("twin", marks=needs_twin)]
_names = itertools.count()


@pytest.fixture(scope="module")
def twin_ports():
    """One twin for each test file that uses it (both ports held open); each test resets its
    boards. Not one for the whole session: an emulated board runs its firmware in real time,
    idle or not, so a twin kept open until the end took more than a core from every test
    after the hardware ones (two simavr processes at 65% CPU each)."""
    url = f"labkit-twin://suite{os.getpid()}x{next(_names)}/{{}}"
    ports = [open_serial(url.format(i)) for i in (0, 1)]
    yield ports
    for p in ports:
        p.close()


class Pairs:
    """Opens board pairs on one back-end; closes what it opened at the end of the test."""

    def __init__(self, backend: str, request: pytest.FixtureRequest) -> None:
        self.backend = backend
        self.request = request
        self.opened: list[Board] = []

    def __call__(self, **wire: object) -> tuple[Board, Board]:
        name = f"b{os.getpid()}x{next(_names)}"
        if self.backend == "sim":
            boards = tuple(Board.open(sim_url(name, i, **wire)) for i in (0, 1))
            self.opened += boards
        elif not wire:
            # the shared twin: a reset gives both boards a fresh firmware, as a new open would
            ports = self.request.getfixturevalue("twin_ports")
            boards = []
            for i, port in enumerate(ports):
                port.labkit_twin.reset(i)
                boards.append(Board(port, name=port.name))
            boards = tuple(boards)
        else:
            boards = tuple(Board.open(twin_url(name, i, **wire)) for i in (0, 1))
            self.opened += boards
        return boards

    def close(self) -> None:
        for b in self.opened:
            b.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    pairs = Pairs(request.param, request)
    yield pairs
    pairs.close()


@pytest.fixture
def boards(backend):
    return backend()


def _tx(code=2, idle=0, rate=1000, nbits=8, data=b"\xaa"):
    return P.Transmit(code, idle, rate, nbits, data).pack()


def _sample(mode=0, trig=0, rate=1000, count=10, timeout=100):
    return P.Sample(mode, trig, rate, count, timeout).pack()


def _refused(board: Board, typ: int, payload: bytes) -> BoardError:
    with pytest.raises(BoardError) as info:
        board.request(typ, payload)
    return info.value


# ---------------------------------------------------------------- handshake and PING


def test_banner_on_open_and_on_hello(boards):
    tx, rx = boards
    assert tx.banner == rx.banner == P.banner()
    assert tx._seq == 0  # the banner came by itself after the reset: no HELLO needed
    assert tx.hello() == P.banner()


def test_ping_echoes(boards):
    tx, _ = boards
    assert tx.ping(b"") == b""
    assert tx.ping(bytes(range(64))) == bytes(range(64))


# ---------------------------------------------------------------- TRANSMIT and SAMPLE


@pytest.mark.parametrize("code", ["nrz-l", "nrz-i", "manchester"])
def test_transmitted_waveform_is_the_line_code(backend, code):
    tx, rx = backend(rc_us=0.05, noise_mv=0)  # a fast, quiet wire: the waveform comes out exact
    rng = np.random.default_rng(5)
    bits = np.concatenate([[1], rng.integers(0, 2, 63)]).astype(np.uint8)
    spb = 8
    idle = default_idle(bits, code)
    rx.arm(1000 * spb, (bits.size + 1) * spb, trigger="falling" if idle else "rising")
    done = tx.transmit(bits, 1000, code)
    assert done == P.TxDone(64, 8000) and done.bit_rate == 1000
    s = rx.fetch()
    assert s.rate == 8000 and s.count == 65 * spb
    # The receiver's clock runs ppm1 (-0.5 %) slow and the sender's ppm0 (+0.5 %) fast, so the
    # receiver's sample k falls at the sender's sample k * ratio: the frame is 1 % shorter in
    # the receiver's samples.
    from labkit.hw.sim import WireModel

    m = WireModel()
    ratio = (1 + m.ppm0 * 1e-6) / (1 + m.ppm1 * 1e-6)
    n = int(bits.size * spb / ratio)
    got = s.values[:n]
    sent = levels_from_bits(bits, code, spb)  # NRZ-I: labkit.phy starts low, like idle here
    want = sent[np.minimum((np.arange(n) * ratio).astype(int), sent.size - 1)]
    # The receiver samples up to one tick after an edge, so a sample right at an edge may
    # read either level; no other may differ.
    edge = np.zeros(want.size, dtype=bool)
    edge[1:] |= want[1:] != want[:-1]
    edge[:-1] |= want[:-1] != want[1:]
    edge[-1] |= want[-1] != idle
    wrong = np.flatnonzero(got != want)
    assert np.all(edge[wrong]), f"samples {wrong[~edge[wrong]]} differ away from any edge"
    assert np.array_equal(receive(s.volts, code, spb).bits[: bits.size], bits)
    assert np.all(s.values[-spb // 2 :] == idle)  # back to idle after the frame


def test_transmit_takes_its_time(boards):
    tx, _ = boards
    t0 = tx.clock()
    tx.transmit(np.ones(100, np.uint8), 1000, "nrz-l")
    assert 0.1005 <= tx.clock() - t0 < 0.11  # (2*100 + 1) half-bits of 0.5 ms, plus the link


def test_sample_now_reads_the_idle_line(boards):
    _, rx = boards
    s = rx.sample(1000, 100, mode="analog")
    assert s.mode == 1 and s.count == 100 and s.trigger == 0
    assert np.all(s.volts < 0.2)
    d = rx.sample(200_000, 8192)
    assert d.count == 8192 and d.rate == 200_000 and not d.values.any()


def test_analog_capture_shows_the_rc_edges(boards):
    tx, rx = boards  # default wire: tau = 22 us
    rx.arm(40_000, 200, mode="analog", trigger="rising")  # 20 samples per bit
    tx.transmit([1, 1, 1, 1, 0, 0, 0, 0], 2000, "nrz-l")
    v = rx.fetch().volts
    assert 4.6 < v[15] < 5.0  # settled high (4.9 V)
    assert v[0] < v[1] < v[2]  # still rising: the capacitor charges
    assert 0.0 <= v[150] < 0.3  # bit 7: low


def test_trigger_timeout_is_a_silent_link(boards):
    _, rx = boards
    t0 = rx.clock()
    rx.arm(10_000, 10, trigger="any", timeout_ms=250)
    with pytest.raises(LinkSilentError) as info:
        rx.fetch()
    assert "D7" in str(info.value)
    assert 0.25 <= rx.clock() - t0 < 0.3


def test_sample_without_trigger_ignores_timeout(boards):
    _, rx = boards
    assert rx.request(P.SAMPLE, _sample(trig=0, timeout=0)).type == P.ARMED
    assert rx.read_frame(timeout=0.5).type == P.SAMPLES


# ---------------------------------------------------------------- the lab's transfers


@pytest.mark.parametrize("code", ["nrz-l", "nrz-i", "manchester"])
@pytest.mark.parametrize("rate", [1000, 5000, 20_000])
def test_lab_transfer_decodes_at_several_rates(boards, code, rate):
    tx, rx = boards
    rng = np.random.default_rng(rate)
    data = rng.integers(0, 2, 96).astype(np.uint8)
    frame = np.concatenate([PREAMBLE, data])
    spb = min(10, 200_000 // rate)
    digital = transfer(tx, rx, frame, rate, code, samples_per_bit=spb, mode="digital")
    assert np.array_equal(decode(digital)[: data.size], data)
    if rate * 8 <= P.ANALOG_MAX_RATE:
        analog = transfer(tx, rx, frame, rate, code, samples_per_bit=8, mode="analog")
        assert np.array_equal(decode(analog)[: data.size], data)


def test_noisy_wire_gives_bit_errors(backend):
    """Noise set high: the lab's decode reports bit errors (and a clean wire none)."""
    clean_tx, clean_rx = backend()
    rng = np.random.default_rng(1)
    clean = bit_error_test(clean_tx, clean_rx, 10_000, "nrz-l", rng)
    assert clean.errors == 0
    tx, rx = backend(noise_mv=1500)
    for code in ("nrz-l", "manchester"):
        # 768 bits, not 256 (the most the receiver holds at 10 samples a bit is about 800): on the
        # twin, where the noise a sample meets depends on when the host's commands arrive, 256
        # bits of NRZ-L came through clean in about 1 run of 8
        noisy = bit_error_test(tx, rx, 10_000, code, rng, payload_bits=768)
        assert noisy.errors > 0, code


# ---------------------------------------------------------------- BRIDGE


def test_bridge_carries_bytes_both_ways(boards):
    a, b = boards
    assert a.bridge_start(19_200) == pytest.approx(19_231, abs=1)
    b.bridge_start(19_200)
    data = bytes(range(256)) * 2
    a.bridge_send(data, timeout=2)
    b.bridge_send(b"and back")
    assert b.bridge_recv(len(data), timeout=1) == data
    assert a.bridge_recv(8, timeout=1) == b"and back"
    sb, sa = b.bridge_stop(), a.bridge_stop()
    # b left bridge mode first: its line fell, which a took for a start bit without a stop bit.
    assert (sa.sent, sa.received, sa.framing_errors, sa.not_sent) == (512, 8, 1, 0)
    assert (sb.sent, sb.received, sb.framing_errors) == (8, 512, 0)


def test_bridge_loses_nothing_when_both_boards_send_at_once(boards):
    """2,048 bytes each way in 64-byte pieces, the two hosts feeding their boards in turn.

    Both queues fill, so each bridge_send waits on E_BUSY while the other board's bytes
    keep arriving; every one of them must reach bridge_recv (before the fix, board A got
    1,120 of 2,048 on the simulated pair and 849 on the twin).
    """
    a, b = boards
    rng = np.random.default_rng(5)
    to_b, to_a = rng.bytes(2048), rng.bytes(2048)
    a.bridge_start(19_200)
    b.bridge_start(19_200)
    for i in range(0, 2048, 64):
        a.bridge_send(to_b[i : i + 64], timeout=5)
        b.bridge_send(to_a[i : i + 64], timeout=5)
    got_a = a.bridge_recv(2048, timeout=2)
    got_b = b.bridge_recv(2048, timeout=2)
    assert (len(got_a), len(got_b)) == (2048, 2048)
    assert got_a == to_a and got_b == to_b
    sa, sb = a.bridge_stop(), b.bridge_stop()
    assert (sa.sent, sa.received, sb.sent, sb.received) == (2048, 2048, 2048, 2048)


def test_bridge_waits_while_the_queue_is_full(boards):
    a, b = boards
    a.bridge_start(9600)
    b.bridge_start(9600)
    a.bridge_send(b"x" * 600, timeout=5)  # 255 fit; the rest waits for room
    assert b.bridge_recv(600, timeout=2) == b"x" * 600


def test_bridge_rate_mismatch_garbles_bytes(boards):
    a, b = boards
    a.bridge_start(9600)
    b.bridge_start(4800)
    a.bridge_send(b"hello world" * 4)
    got = b.bridge_recv(44, timeout=0.5)
    stats = b.bridge_stop()
    assert got != b"hello world" * 4
    # a receiver at half the rate reads about one byte per two, some without a stop bit
    assert stats.received + stats.framing_errors < 44
    assert stats.framing_errors > 0 or stats.received < 30


def test_bridge_stop_drops_unsent_bytes(boards):
    a, _ = boards
    a.bridge_start(300)
    a.bridge_send(b"z" * 100)
    stats = a.bridge_stop()
    assert stats.sent == 0 and stats.not_sent == 100


def test_bridge_drain_waits_until_the_queue_is_on_the_wire(boards):
    a, b = boards
    a.bridge_start(2400)
    b.bridge_start(2400)
    t0 = a.clock()
    a.bridge_send(b"q" * 100)
    a.bridge_drain()
    assert a.clock() - t0 >= 100 * 10 / 2400  # 100 bytes of 10 bits at 2400 bit/s
    stats = a.bridge_stop()
    assert (stats.sent, stats.not_sent) == (100, 0)
    assert b.bridge_recv(100, timeout=0.5) == b"q" * 100


def test_bridge_recv_on_a_silent_link_returns_nothing(boards):
    _, b = boards
    b.bridge_start(9600)
    t0 = b.clock()
    assert b.bridge_recv(10, timeout=0.3) == b""
    assert b.clock() - t0 == pytest.approx(0.3, abs=0.01)


def test_corrupted_bridge_is_caught_by_the_higher_layers(backend):
    """Noise set high: bytes arrive damaged or not at all, and COBS framing plus the
    Ethernet FCS catch every damaged frame: nothing corrupted is delivered as good."""
    a, b = backend(noise_mv=700)
    a.bridge_start(19_200)
    b.bridge_start(19_200)
    sent = [
        EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 0x88B5,
                      f"frame {i:02d} ".encode() * 3).pack()
        for i in range(12)
    ]
    stream = b"".join(b"\x00" + cobs_frame(f) for f in sent)
    a.bridge_send(stream, timeout=5)
    a.bridge_drain()
    got = b.bridge_recv(len(stream), timeout=0.2)
    stats = b.bridge_stop()
    a.bridge_stop()
    assert got != stream  # the wire did damage the bytes...
    decoder = StreamDecoder()
    good, rejected = [], decoder.dropped
    for raw in decoder.feed(got + b"\x00"):
        try:
            EthernetFrame.parse(raw)
            good.append(raw)
        except ParseError:
            rejected += 1
    rejected += decoder.dropped
    assert set(good) <= set(sent)  # ...and no damaged frame passed as good
    assert rejected + (len(sent) - len(good)) > 0
    assert stats.framing_errors > 0 or len(got) != len(stream) or rejected > 0


# ---------------------------------------------------------------- every error reply

REFUSALS = [
    (P.HELLO, b"x", P.E_PAYLOAD, None),
    (P.PING, bytes(65), P.E_PAYLOAD, None),
    (P.TRANSMIT, b"\x00" * 7, P.E_PAYLOAD, None),
    (P.TRANSMIT, _tx(code=3), P.E_RANGE, "code"),
    (P.TRANSMIT, _tx(idle=2), P.E_RANGE, "idle"),
    (P.TRANSMIT, _tx(rate=9), P.E_RANGE, "bit_rate"),
    (P.TRANSMIT, _tx(rate=100_001), P.E_RANGE, "bit_rate"),
    (P.TRANSMIT, _tx(nbits=0, data=b""), P.E_RANGE, "nbits"),
    (P.TRANSMIT, _tx(nbits=2049, data=bytes(256)), P.E_RANGE, "nbits"),
    (P.TRANSMIT, _tx(nbits=9), P.E_PAYLOAD, None),
    (P.SAMPLE, b"\x00" * 9, P.E_PAYLOAD, None),
    (P.SAMPLE, _sample(mode=2), P.E_RANGE, "mode"),
    (P.SAMPLE, _sample(trig=4), P.E_RANGE, "trigger"),
    (P.SAMPLE, _sample(rate=9), P.E_RANGE, "rate"),
    (P.SAMPLE, _sample(rate=200_001), P.E_RANGE, "rate"),
    (P.SAMPLE, _sample(mode=1, rate=40_001), P.E_RANGE, "rate"),
    (P.SAMPLE, _sample(count=0), P.E_RANGE, "count"),
    (P.SAMPLE, _sample(count=8193), P.E_RANGE, "count"),
    (P.SAMPLE, _sample(mode=1, count=1025), P.E_RANGE, "count"),
    (P.SAMPLE, _sample(trig=1, timeout=0), P.E_RANGE, "timeout_ms"),
    (P.SAMPLE, _sample(trig=2, timeout=60_001), P.E_RANGE, "timeout_ms"),
    (P.BRIDGE, b"\x00" * 3, P.E_PAYLOAD, None),
    (P.BRIDGE, (299).to_bytes(4, "little"), P.E_RANGE, "bit_rate"),
    (P.BRIDGE, (19_201).to_bytes(4, "little"), P.E_RANGE, "bit_rate"),
    (P.BRIDGE_DATA, b"x", P.E_STATE, None),
    (P.BRIDGE_STOP, b"", P.E_STATE, None),
    (0x55, b"", P.E_UNKNOWN, None),
]


def test_every_refusal(boards):
    tx, _ = boards
    for typ, payload, code, field in REFUSALS:
        err = _refused(tx, typ, payload)
        assert (err.code, err.field, err.text) == (code, field, P.ERROR_TEXT[code]), (typ, payload)
        assert err.command == P.TYPE_NAMES.get(typ, err.command)
    assert tx.ping(b"still fine") == b"still fine"  # a refusal changes nothing


def test_refusals_in_bridge_mode(boards):
    tx, _ = boards
    tx.bridge_start(300)
    for typ, payload in [(P.TRANSMIT, _tx()), (P.SAMPLE, _sample()), (P.BRIDGE, bytes(4))]:
        assert _refused(tx, typ, payload).code == P.E_BUSY
    assert _refused(tx, P.BRIDGE_DATA, b"").code == P.E_PAYLOAD
    assert _refused(tx, P.BRIDGE_DATA, bytes(65)).code == P.E_PAYLOAD
    assert _refused(tx, P.BRIDGE_STOP, b"x").code == P.E_PAYLOAD
    for _ in range(3):
        tx.request(P.BRIDGE_DATA, bytes(64))
    ack = P.BridgeAck.parse(tx.request(P.BRIDGE_DATA, bytes(63)).payload)
    assert ack.queued + ack.free == 255 and ack.free <= 1  # at 300 bit/s hardly any left
    assert _refused(tx, P.BRIDGE_DATA, bytes(64)).code == P.E_BUSY
    stats = tx.bridge_stop()
    assert stats.sent + stats.not_sent == 255


def test_crc_and_length_errors_from_the_board(boards):
    tx, _ = boards
    frame = bytearray(P.Frame(P.PING, 77, b"abc").pack())
    frame[-1] ^= 0xFF
    tx.serial.write(bytes(frame))
    with pytest.raises(BoardError) as info:
        tx.wait_reply(77, P.PING, 1.0)
    assert info.value.code == P.E_CRC and info.value.command == "PING"
    tx.serial.write(bytes([P.SYNC, P.TRANSMIT, 78]) + (265).to_bytes(2, "little"))
    with pytest.raises(BoardError) as info:
        tx.wait_reply(78, P.TRANSMIT, 1.0)
    assert info.value.code == P.E_TOO_LONG


def test_incomplete_frame_times_out_on_the_board(boards):
    tx, _ = boards
    tx.serial.write(P.Frame(P.PING, 90, b"abcdef").pack()[:7])
    t0 = tx.clock()
    with pytest.raises(BoardError) as info:
        tx.wait_reply(90, P.PING, 1.0)
    assert info.value.code == P.E_FRAME_TIMEOUT
    assert 0.09 < tx.clock() - t0 < 0.12
    assert tx.ping(b"ok") == b"ok"


# ---------------------------------------------------------------- the command line


def test_cli_selftest_takes_the_wire(backend, capsys):
    from labkit.hw import cli

    kind = backend.backend
    argv = ["hw", "selftest", "--tx", kind, "--rx", kind, "--rates", "10000", "--codes", "nrz-l"]
    assert cli.main(argv) == 0
    # A wire noisy enough to fail every time: on the twin the noise a capture meets depends on
    # when the host's commands arrive (the boards run free in between), so at 1,500 mV a run
    # of 256 bits saw 0 to 36 errors; at 4,000 mV it sees well over a hundred.
    assert cli.main([*argv, "--wire", "noise_mv=4000,seed=2"]) == 1
    out = capsys.readouterr().out
    assert out.count("PASS") == 1 and out.count("FAIL") == 1
    with pytest.raises(SystemExit):
        cli.main([*argv, "--wire", "noise"])
    assert "KEY=NUMBER" in capsys.readouterr().err


def test_cli_send_through_the_bridge(backend, capsys):
    from labkit.hw import cli

    kind = backend.backend
    assert cli.main(["hw", "send", "--tx", kind, "--rate", "19200", "bits on a wire"]) == 0
    out = capsys.readouterr().out
    assert "sent 14 bytes at 19231 bit/s" in out and "received 14 bytes: bits on a wire" in out
    assert cli.main(["hw", "recv", "--rx", kind, "--seconds", "0.2"]) == 1  # nobody sends
    assert "nothing arrived in 0.2 s" in capsys.readouterr().out


# ---------------------------------------------------------------- a lab room's faults


def _url(backend: Pairs, index: int, **options: object) -> str:
    name = f"f{os.getpid()}x{next(_names)}"
    return (sim_url if backend.backend == "sim" else twin_url)(name, index, **options)


def test_a_board_unplugged_mid_transfer_is_named(backend):
    """The USB cable pulled out (the twin killed): a labkit error naming the port."""
    a, b = backend(seed=1)  # a pair of its own, whatever the back-end
    a.bridge_start(9600)
    b.bridge_start(9600)
    a.bridge_send(b"x" * 200)
    assert b.bridge_recv(10, timeout=1) == b"x" * 10
    if backend.backend == "sim":
        b.serial.labkit_pair.boards[1].unplug()
        reason = UNPLUGGED
    else:
        twin = b.serial.labkit_twin
        os.kill(twin.pid, signal.SIGKILL)  # the twin this test started
        twin.stop()
        reason = "the twin is not running: stopped"
    with pytest.raises(BoardGoneError) as info:
        b.bridge_recv(190, timeout=1)
    assert str(info.value) == (
        f"{b.name}: the port went away while in use ({reason}). Was the USB cable pulled out, "
        "or the board's power lost? Plug it back in, then open the board again."
    )
    assert info.value.port == b.name
    with pytest.raises(BoardGoneError):
        b.ping()


def test_a_stray_sync_byte_before_hello_is_resynchronised(backend):
    """``a5 02 00 20 00`` opens a 32-byte PING that swallows the HELLO; the board answers
    E_FRAME_TIMEOUT 100 ms later, and the host asks again instead of giving up."""
    url = _url(backend, 0, reset=0)
    port = open_serial(url)
    try:
        port.timeout = 0.2
        port.read(4096)  # whatever the board said at power-on
        port.write(bytes.fromhex("a5 02 00 20 00"))
        board = Board(port, name=url, reset_wait=0)
        assert board.banner == P.banner()
        assert list(board.unasked_errors) == [
            P.ErrorReply(P.E_FRAME_TIMEOUT, P.NO_FIELD, P.PING, "incomplete frame")
        ]
        assert board.ping(b"ok") == b"ok"
    finally:
        port.close()


def test_a_port_opened_twice_in_one_process_says_so(backend):
    url = _url(backend, 0)
    with Board.open(url):
        with pytest.raises(PortBusyError) as info:
            Board.open(url)
    assert str(info.value) == (
        f"{url}: already open in this Python process; close the Board that holds it "
        "(board.close()) first"
    )


def test_bit_error_test_refuses_a_bit_rate_that_is_not_one(backend):
    tx, rx = backend()
    for bad in (0, -5, 0.5, "fast", True):
        with pytest.raises(LabkitValueError, match="bit_rate="):
            bit_error_test(tx, rx, bad, "nrz-l", np.random.default_rng(0))


# ---------------------------------------------------------------- SCOPE (equivalent time)


def test_scope_refusals_name_the_field(boards):
    _, rx = boards
    for cmd, field in [
        (P.Scope(0, 1000, 256, 10, 100), "trigger"),
        (P.Scope(4, 1000, 256, 10, 100), "trigger"),
        (P.Scope(2, 63, 256, 10, 100), "delay_cycles"),
        (P.Scope(2, 1000, 255, 10, 100), "period_cycles"),
        (P.Scope(2, 1000, 256, 0, 100), "count"),
        (P.Scope(2, 1000, 256, 1025, 100), "count"),
        (P.Scope(2, 1000, 256, 10, 0), "timeout_ms"),
    ]:
        with pytest.raises(BoardError) as info:
            rx.request(P.SCOPE, cmd.pack())
        assert info.value.code == P.E_RANGE and field in str(info.value), (field, info.value)
    with pytest.raises(BoardError) as info:
        rx.request(P.SCOPE, bytes(8))
    assert info.value.code == P.E_PAYLOAD


def test_scope_times_out_on_a_quiet_wire(boards):
    _, rx = boards
    t0 = rx.clock()
    rx.scope_arm(1000, 256, 10, trigger="rising", timeout_ms=20)
    with pytest.raises(LinkSilentError, match="trigger timeout"):
        rx.scope_fetch()
    assert 0.02 <= rx.clock() - t0 < 0.05


@pytest.mark.parametrize("rc_us", [22, 50])
def test_scope_step_response_measures_the_wires_tau(backend, rc_us):
    """SCOPE in equivalent time: 1 µs steps on a step that one ADC conversion (13 µs) would
    blur; the fitted time constant is the wire's (22 µs is the wiring diagram's, 50 µs another),
    as the receiver's clock (0.5 % slow) measures it, within the 8-bit ADC's rounding."""
    from labkit.hw.scope import fit_tau, step_response
    from labkit.hw.sim import WireModel

    tx, rx = backend(rc_us=rc_us) if rc_us != 22 else backend()
    trace = step_response(tx, rx, after_us=10 * rc_us)
    assert trace.step == pytest.approx(1e-6, rel=1e-6)
    tau, start = fit_tau(trace)
    assert tau == pytest.approx(rc_us * 1e-6 * (1 + WireModel().ppm1 * 1e-6), rel=0.03)
    assert 0.45e-3 < start < 0.5e-3  # 500 µs low, less the falling edge's crossing delay
    assert trace.volts[0] < 0.2 and trace.volts[-1] > 4.6


def test_scope_eye_is_open_slowly_and_nearly_shut_at_50k(boards):
    """An eye diagram from the board's own ADC samples, in equivalent time."""
    from labkit.hw.scope import equivalent_time, eye

    tx, rx = boards
    rng = np.random.default_rng(4)
    bits = np.concatenate([PREAMBLE, rng.integers(0, 2, 200)]).astype(np.uint8)
    openings = []
    for rate in (10_000, 50_000):
        count = min(1024, int(bits.size / rate * 16e6 / 256) + 2)
        trace = equivalent_time(tx, rx, bits, rate, "nrz-l", delay_cycles=64, period_cycles=256,
                                count=count, shifts=8)
        e = eye(trace, rate)
        assert e.bit_period * rate == pytest.approx(0.99, abs=0.002)  # the clocks 1 % apart
        openings.append(e.opening())
    assert openings[0] > 4.0 and openings[1] < 1.5, openings


def test_scope_helpers_refuse_what_they_cannot_use():
    from labkit.hw.scope import Trace, equivalent_time, fit_tau

    flat = Trace(np.arange(50) * 1e-6, np.full(50, 4.9))
    with pytest.raises(LabkitValueError, match="no rising step"):
        fit_tau(flat)
    with pytest.raises(LabkitValueError, match="too few"):
        fit_tau(Trace(np.arange(5) * 1e-6, np.zeros(5)))
    tx, rx = open_pair_sim()
    try:
        with pytest.raises(LabkitValueError, match="shifts=0"):
            equivalent_time(tx, rx, [1, 0], 1000, delay_cycles=64, period_cycles=256, count=4,
                            shifts=0)
        with pytest.raises(LabkitValueError, match="past SCOPE's 65535"):
            equivalent_time(tx, rx, [1, 0], 1000, delay_cycles=65_500, period_cycles=256,
                            count=4, shifts=4)
        with pytest.raises(LabkitValueError, match="trigger='now'"):
            rx.scope_arm(1000, 256, 4, trigger="now")
    finally:
        tx.close()
        rx.close()


def open_pair_sim():
    name = f"scopeargs{os.getpid()}x{next(_names)}"
    return Board.open(sim_url(name, 0)), Board.open(sim_url(name, 1))
