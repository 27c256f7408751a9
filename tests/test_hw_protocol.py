"""labkit.hw.protocol: frames, CRC, payloads and the firmware's timer arithmetic."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitValueError, ParseError
from labkit.hw import protocol as P

FIRMWARE = Path(__file__).resolve().parent.parent / "hardware/firmware/labkit_hw/firmware.c"


def test_crc_is_ccitt_false_check_value():
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc16(b"") == 0xFFFF


def test_hello_frame_bytes_as_in_protocol_md():
    # PROTOCOL.md's first example: HELLO with seq 1; CRC over 01 01 00 00 is 0xC544.
    assert P.Frame(P.HELLO, 1).pack() == bytes.fromhex("a5 01 01 00 00 44 c5")
    assert P.crc16(bytes.fromhex("01 01 00 00")) == 0xC544


def test_protocol_md_examples_match_the_codec():
    text = (Path(__file__).resolve().parent.parent / "hardware/PROTOCOL.md").read_text()
    examples = re.findall(r"^    ((?:[0-9a-f]{2} )+[0-9a-f]{2})(?: {2,}.*)?$", text, re.M)
    assert len(examples) >= 4, "PROTOCOL.md should show example frames as hex lines"
    for line in examples:
        raw = bytes.fromhex(line)
        (frame,) = P.FrameParser().feed(raw)
        assert isinstance(frame, P.Frame), line
        assert frame.pack() == raw


def test_parser_skips_garbage_and_finds_frames():
    a = P.Frame(P.PING, 7, b"\xa5\x00abc").pack()
    b = P.Frame(P.PONG, 8, b"").pack()
    parser = P.FrameParser()
    out = parser.feed(b"noise" + a[:3]) + parser.feed(a[3:] + b"\x00\x01" + b)
    assert out == [P.Frame(P.PING, 7, b"\xa5\x00abc"), P.Frame(P.PONG, 8, b"")]
    assert bytes(parser.skipped) == b"noise\x00\x01"


def test_parser_reports_crc_and_length_errors_then_resyncs():
    good = P.Frame(P.PING, 3, b"hi").pack()
    bad = bytearray(good)
    bad[6] ^= 0x01
    parser = P.FrameParser(max_payload=P.MAX_CMD_PAYLOAD)
    assert parser.feed(bytes(bad)) == [("crc", P.PING, 3)]
    too_long = bytes([P.SYNC, P.TRANSMIT, 9]) + (P.MAX_CMD_PAYLOAD + 1).to_bytes(2, "little")
    assert parser.feed(too_long) == [("too_long", P.TRANSMIT, 9)]
    assert parser.feed(good) == [P.Frame(P.PING, 3, b"hi")]


@pytest.mark.parametrize(
    ("hz", "cycles"),
    [
        (1000, 16000),  # prescaler 1, OCR1A = 15999
        (10, 1_600_000),  # prescaler 64: 25000 counts
        (200_000, 80),
        (66_666, 240),  # 33333 bit/s: two half-bits; 16e6/66666 = 240.002
        (244, 65576),  # 16e6/244 > 65536 counts: prescaler 8, 8197 counts
        (19_200 * 4, 208),  # bridge at 19200 bit/s: 4 ticks per bit
    ],
)
def test_timer_arithmetic(hz, cycles):
    assert P.timer_tick_cycles(hz) == cycles


def test_timer_rate_is_close_for_every_allowed_rate():
    for hz in [10, 11, 99, 123, 1234, 9999, 12345, 65432, 100_000, 200_000]:
        cycles = P.timer_tick_cycles(hz)
        assert abs(P.F_CPU / cycles - hz) / hz < 0.005


def test_trigger_wait_does_not_overflow_32_bits():
    worst = P.trigger_wait_ticks(P.MAX_TIMEOUT_MS, P.DIGITAL_MAX_RATE)
    assert worst == 60_000 * 200_000 // 1000 + 1 < 2**32
    assert P.trigger_wait_ticks(1, 10) == 1  # 1 ms at 10 Hz: less than one tick


def test_payload_round_trips():
    tx = P.Transmit.from_bits(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1]), 1000, "manchester", 1)
    assert tx.packed == bytes([0b10110000, 0b10000000])
    assert P.Transmit.parse(tx.pack()) == tx
    assert list(P.Transmit.parse(tx.pack()).bits()) == [1, 0, 1, 1, 0, 0, 0, 0, 1]
    s = P.Samples(0, 1, 160, 10, bytes([0b00000101, 0b10]))
    assert list(s.values) == [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert s.rate == 100_000
    assert P.Samples.parse(s.pack()) == s
    a = P.Samples(1, 0, 400, 3, bytes([0, 128, 255]))
    assert np.allclose(a.volts, [0, 2.5, 255 * 5 / 256])
    for obj in (P.banner(), P.TxDone(9, 8000), P.Armed(2000, 5), P.BridgeAck(3, 252),
                P.BridgeStats(1, 2, 3, 4, 5), P.ErrorReply.make(P.E_RANGE, P.SAMPLE, 2)):
        assert type(obj).parse(obj.pack()) == obj
    assert P.ErrorReply.make(P.E_RANGE, P.SAMPLE, 2).field_name == "rate"


@pytest.mark.parametrize(
    ("cls", "payload", "field"),
    [
        (P.Banner, b"\x01\x00", "BANNER.length"),
        (P.TxDone, b"\x01", "TX_DONE.length"),
        (P.Samples, bytes([0, 0, 160, 0, 0, 0, 10, 0, 1]), "SAMPLES.data"),
        (P.Samples, bytes([2, 0, 160, 0, 0, 0, 1, 0, 1]), "SAMPLES.mode"),
        (P.Samples, bytes([1, 0, 0, 0, 0, 0, 1, 0, 1]), "SAMPLES.tick_cycles"),
        (P.ErrorReply, b"\x05", "ERROR.length"),
    ],
)
def test_bad_payloads_raise_parse_error_naming_the_field(cls, payload, field):
    with pytest.raises(ParseError) as info:
        cls.parse(payload)
    assert info.value.field == field


PARSERS = [P.Banner, P.TxDone, P.Sample, P.Armed, P.Samples, P.BridgeAck, P.BridgeStats,
           P.ErrorReply, P.Transmit, P.Receive]


@pytest.mark.parametrize("cls", PARSERS)
@pytest.mark.parametrize("payload", [None, 20, "hello", [1, 2, 3]])
def test_payload_parsers_refuse_what_is_not_bytes_naming_the_field(cls, payload):
    with pytest.raises(ParseError) as info:
        cls.parse(payload)
    name = {P.TxDone: "TX_DONE", P.ErrorReply: "ERROR", P.BridgeAck: "BRIDGE_ACK",
            P.BridgeStats: "BRIDGE_STATS"}.get(cls, cls.__name__.upper())
    assert info.value.field == f"{name}.payload"
    assert str(info.value) == (
        f"hw: {name}.payload={payload!r}: expected bytes, got {type(payload).__name__}"
    )


@pytest.mark.parametrize("data", [20, None, "a5", [0xA5]])
def test_frame_parser_refuses_what_is_not_bytes(data):
    parser = P.FrameParser()
    with pytest.raises(LabkitValueError, match=f"expected bytes, got {type(data).__name__}"):
        parser.feed(data)
    assert parser.feed(memoryview(P.Frame(P.PONG, 1, b"x").pack())) == [P.Frame(P.PONG, 1, b"x")]


def test_rates_come_from_the_boards_clock():
    """TxDone and Samples compute rates from f_cpu (the banner's), 16 MHz by default."""
    assert P.TxDone(10, 8000).bit_rate == 1000
    assert P.TxDone(10, 4000, f_cpu=8_000_000).bit_rate == 1000
    assert P.Samples(0, 0, 1000, 8, b"\x00", f_cpu=8_000_000).rate == 8000


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.sampled_from(PARSERS), st.binary(max_size=40))
def test_fuzz_payload_parsers_raise_only_parse_error(cls, data):
    try:
        cls.parse(data)
    except ParseError:
        pass


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.binary(max_size=300), st.integers(0, 300))
def test_fuzz_frame_parser_never_crashes_and_resyncs(noise, cut):
    parser = P.FrameParser()
    good = P.Frame(P.PONG, 42, b"payload").pack()
    for item in parser.feed(noise[:cut]):
        assert isinstance(item, (P.Frame, tuple))
    parser.reset()
    assert parser.feed(good) == [P.Frame(P.PONG, 42, b"payload")]


# ---------------------------------------------------------------- firmware agrees


def _c_defines(text: str) -> dict[str, int]:
    out = {}
    define = r"^#define (\w+) \(?(0x[0-9A-F]+|\d+)U?L?\)?\s*(?:/\*.*)?$"
    for name, value in re.findall(define, text, re.M):
        out[name] = int(value, 0)
    for name, value in re.findall(r"\b([A-Z][A-Z0-9_]+) = (0x[0-9A-F]+|\d+)", text):
        out[name] = int(value, 0)
    return out


def test_firmware_constants_match_protocol_module():
    text = FIRMWARE.read_text()
    d = _c_defines(text)
    same = {
        "PROTO_MAJOR": P.PROTO_MAJOR, "PROTO_MINOR": P.PROTO_MINOR, "HOST_BAUD": P.HOST_BAUD,
        "SYNC": P.SYNC, "MAX_CMD_PAYLOAD": P.MAX_CMD_PAYLOAD, "FRAME_TIMEOUT_MS": 100,
        "TX_MIN_RATE": P.TX_MIN_RATE, "TX_MAX_RATE": P.TX_MAX_RATE, "TX_MAX_BITS": P.TX_MAX_BITS,
        "RX_MIN_RATE": P.RX_MIN_RATE, "RX_QUIET_UNITS": P.RX_QUIET_UNITS, "UART_RING": P.UART_RING,
        "SAMPLE_MIN_RATE": P.SAMPLE_MIN_RATE, "DIGITAL_MAX_RATE": P.DIGITAL_MAX_RATE,
        "ANALOG_MAX_RATE": P.ANALOG_MAX_RATE, "SAMPLE_BUF_BYTES": P.SAMPLE_BUF_BYTES,
        "MAX_TIMEOUT_MS": P.MAX_TIMEOUT_MS, "BRIDGE_MIN_RATE": P.BRIDGE_MIN_RATE,
        "BRIDGE_MAX_RATE": P.BRIDGE_MAX_RATE, "BRIDGE_QUEUE": P.BRIDGE_QUEUE,
        "BRIDGE_MAX_CHUNK": P.BRIDGE_MAX_CHUNK, "BRIDGE_RECV_CHUNK": P.BRIDGE_RECV_CHUNK,
        "BRIDGE_FLUSH_MS": 2,
        "CMD_HELLO": P.HELLO, "CMD_PING": P.PING, "CMD_TRANSMIT": P.TRANSMIT,
        "CMD_SAMPLE": P.SAMPLE, "CMD_BRIDGE": P.BRIDGE, "CMD_BRIDGE_DATA": P.BRIDGE_DATA,
        "CMD_BRIDGE_STOP": P.BRIDGE_STOP, "CMD_SCOPE": P.SCOPE,
        "SCOPE_MIN_DELAY": P.SCOPE_MIN_DELAY, "SCOPE_MIN_PERIOD": P.SCOPE_MIN_PERIOD,
        "FW_MAJOR": P.FIRMWARE_VERSION[0], "FW_MINOR": P.FIRMWARE_VERSION[1],
        "FW_PATCH": P.FIRMWARE_VERSION[2], "REP_BANNER": P.BANNER, "REP_PONG": P.PONG,
        "REP_TX_DONE": P.TX_DONE, "REP_ARMED": P.ARMED, "REP_SAMPLES": P.SAMPLES,
        "REP_BRIDGE_ON": P.BRIDGE_ON, "REP_BRIDGE_ACK": P.BRIDGE_ACK,
        "REP_BRIDGE_RECV": P.BRIDGE_RECV, "REP_BRIDGE_STATS": P.BRIDGE_STATS,
        "REP_ERROR": P.ERROR, "E_CRC": P.E_CRC, "E_TOO_LONG": P.E_TOO_LONG,
        "E_UNKNOWN": P.E_UNKNOWN, "E_PAYLOAD": P.E_PAYLOAD, "E_RANGE": P.E_RANGE,
        "E_TRIGGER_TIMEOUT": P.E_TRIGGER_TIMEOUT, "E_BUSY": P.E_BUSY, "E_STATE": P.E_STATE,
        "E_FRAME_TIMEOUT": P.E_FRAME_TIMEOUT,
    }
    mismatched = {k: (d.get(k), v) for k, v in same.items() if d.get(k) != v}
    assert not mismatched, f"firmware.c and protocol.py disagree (C, Python): {mismatched}"


def test_firmware_error_texts_match():
    text = FIRMWARE.read_text()
    c_texts = re.findall(r'static const char msg_\w+\[\] PROGMEM = "([^"]*)";', text)
    assert c_texts == [P.ERROR_TEXT[code] for code in sorted(P.ERROR_TEXT)]
    assert 'name[] PROGMEM = "labkit-hw"' in text


def test_receive_and_received_round_trip_and_bad_replies_are_named():
    from labkit.errors import ParseError as _PE

    cmd = P.Receive(2, 1, 50_000, 300, 2000)
    assert P.Receive.parse(cmd.pack()) == cmd
    bits = np.random.default_rng(1).integers(0, 2, 300, dtype=np.uint8)
    rep = P.Received(2, 410, 290, 300, np.packbits(bits).tobytes())
    back = P.Received.parse(rep.pack(), 300)
    assert back == rep and np.array_equal(back.bits(), bits)
    with pytest.raises(_PE, match="RECEIVED.data"):
        P.Received.parse(rep.pack()[:-1], 300)
    with pytest.raises(_PE, match="RECEIVED.decoded"):
        P.Received.parse(P.Received(2, 1, 301, 300, rep.packed).pack(), 300)
    with pytest.raises(_PE, match="RECEIVED.code"):
        P.Received.parse(P.Received(3, 1, 1, 300, rep.packed).pack(), 300)
    with pytest.raises(_PE, match="RECEIVED.length"):
        P.Received.parse(b"\x00\x00", 300)


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.binary(max_size=80), st.integers(0, 2048))
def test_fuzz_received_parser_raises_only_parse_error(data, nbits):
    try:
        r = P.Received.parse(data, nbits)
    except ParseError:
        return
    assert r.bits().size == nbits and r.decoded <= nbits


def test_scope_round_trips_and_a_short_payload_is_named():
    from labkit.errors import ParseError as _PE

    cmd = P.Scope(2, 16_000, 256, 100, 500)
    assert P.Scope.parse(cmd.pack()) == cmd
    # PROTOCOL.md 4.5's example frame
    assert P.Frame(P.SCOPE, 9, cmd.pack()).pack().hex(" ") == "a5 09 09 09 00 02 80 3e 00 01 64 00 f4 01 9a a2"
    with pytest.raises(_PE, match="SCOPE.length"):
        P.Scope.parse(cmd.pack()[:-1])
    assert P.FIELD_NAMES[P.SCOPE][1] == "delay_cycles"
