"""The host-to-board protocol of ``hardware/PROTOCOL.md`` (version 1.0), as bytes.

Everything here is pure: bytes in, values out. The driver
(:mod:`labkit.hw.board`) and the simulated boards (:mod:`labkit.hw.sim`) both
build and read frames with this module, and the firmware
(``hardware/firmware/labkit_hw/firmware.c``) does the same in C.

A frame (both directions)::

    offset  size  field
    0       1     sync     0xA5
    1       1     type     command (0x01..0x7F) or reply (0x80..0xFF)
    2       1     seq      chosen by the host, echoed in the reply (0: sent by the board unasked)
    3       2     length   payload length N, little-endian
    5       N     payload
    5+N     2     crc      CRC-16/CCITT-FALSE of bytes 1 .. 4+N, little-endian

All multi-byte numbers are little-endian (the AVR's own byte order).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np

from labkit.errors import LabkitValueError, ParseError

# --------------------------------------------------------------------------- versions

PROTO_MAJOR = 1
PROTO_MINOR = 1  # 1.1: SCOPE
FIRMWARE_VERSION = (1, 1, 0)
FIRMWARE_NAME = b"labkit-hw"
F_CPU = 16_000_000
HOST_BAUD = 500_000

# --------------------------------------------------------------------------- framing

SYNC = 0xA5
SYNC_BYTE = bytes([SYNC])
HEADER = struct.Struct("<BBBH")  # sync, type, seq, length
CRC = struct.Struct("<H")
MAX_CMD_PAYLOAD = 264  # the firmware's receive buffer
MAX_REPLY_PAYLOAD = 8 + 1024  # SAMPLES: 8 header bytes + the whole sample buffer
FRAME_TIMEOUT_S = 0.100  # a command frame must be complete 100 ms after its first byte

# --------------------------------------------------------------------------- frame types

HELLO = 0x01
PING = 0x02
TRANSMIT = 0x03
SAMPLE = 0x04
RECEIVE = 0x05
BRIDGE = 0x06
BRIDGE_DATA = 0x07
BRIDGE_STOP = 0x08
SCOPE = 0x09

BANNER = 0x81
PONG = 0x82
TX_DONE = 0x83
ARMED = 0x84
SAMPLES = 0x85
BRIDGE_ON = 0x86
BRIDGE_ACK = 0x87
BRIDGE_RECV = 0x88
BRIDGE_STATS = 0x89
RECEIVED = 0x8A
ERROR = 0xFF

TYPE_NAMES = {
    HELLO: "HELLO",
    PING: "PING",
    TRANSMIT: "TRANSMIT",
    SAMPLE: "SAMPLE",
    RECEIVE: "RECEIVE",
    BRIDGE: "BRIDGE",
    BRIDGE_DATA: "BRIDGE_DATA",
    BRIDGE_STOP: "BRIDGE_STOP",
    SCOPE: "SCOPE",
    BANNER: "BANNER",
    PONG: "PONG",
    TX_DONE: "TX_DONE",
    ARMED: "ARMED",
    SAMPLES: "SAMPLES",
    BRIDGE_ON: "BRIDGE_ON",
    BRIDGE_ACK: "BRIDGE_ACK",
    BRIDGE_RECV: "BRIDGE_RECV",
    BRIDGE_STATS: "BRIDGE_STATS",
    RECEIVED: "RECEIVED",
    ERROR: "ERROR",
}

# --------------------------------------------------------------------------- errors

E_CRC = 1
E_TOO_LONG = 2
E_UNKNOWN = 3
E_PAYLOAD = 4
E_RANGE = 5
E_TRIGGER_TIMEOUT = 6
E_BUSY = 7
E_STATE = 8
E_FRAME_TIMEOUT = 9

#: The firmware's own text for each error code (sent in the ERROR payload).
ERROR_TEXT = {
    E_CRC: "bad CRC",
    E_TOO_LONG: "frame too long",
    E_UNKNOWN: "unknown command",
    E_PAYLOAD: "bad payload length",
    E_RANGE: "value out of range",
    E_TRIGGER_TIMEOUT: "trigger timeout",
    E_BUSY: "busy",
    E_STATE: "not in bridge mode",
    E_FRAME_TIMEOUT: "incomplete frame",
}
NO_FIELD = 0xFF

#: Parameter names by command and field index (the ``field`` byte of an E_RANGE error).
FIELD_NAMES = {
    TRANSMIT: ("code", "idle", "bit_rate", "nbits"),
    SAMPLE: ("mode", "trigger", "rate", "count", "timeout_ms"),
    RECEIVE: ("code", "idle", "bit_rate", "nbits", "timeout_ms"),
    SCOPE: ("trigger", "delay_cycles", "period_cycles", "count", "timeout_ms"),
    BRIDGE: ("bit_rate",),
}

# --------------------------------------------------------------------------- limits

CODES = ("nrz-l", "nrz-i", "manchester")  # code byte 0, 1, 2
MODES = ("digital", "analog")  # mode byte 0, 1
TRIGGERS = ("now", "any", "rising", "falling")  # trigger byte 0..3

TX_MIN_RATE, TX_MAX_RATE, TX_MAX_BITS = 10, 100_000, 2048
SCOPE_MIN_DELAY = 64  # SCOPE: cycles from the trigger edge to the first conversion
SCOPE_MIN_PERIOD = 256  # SCOPE: cycles between conversions (a conversion is 13-14 us)
RX_MIN_RATE = 1000  # RECEIVE: 64 units of a run must fit Timer1 at a prescaler of 64
RX_QUIET_UNITS = 64  # RECEIVE stops after this many bit (Manchester: half-bit) times without an edge
SAMPLE_MIN_RATE = 10
DIGITAL_MAX_RATE, ANALOG_MAX_RATE = 200_000, 40_000
SAMPLE_BUF_BYTES = 1024
DIGITAL_MAX_COUNT, ANALOG_MAX_COUNT = SAMPLE_BUF_BYTES * 8, SAMPLE_BUF_BYTES
MAX_TIMEOUT_MS = 60_000
BRIDGE_MIN_RATE, BRIDGE_MAX_RATE = 300, 19_200
BRIDGE_QUEUE = 256  # ring buffer: holds BRIDGE_QUEUE - 1 bytes
BRIDGE_MAX_CHUNK = 64
BRIDGE_RECV_CHUNK = 32
BRIDGE_FLUSH_S = 0.002
PING_MAX = 64
UART_RING = 128  # the firmware's receive ring: holds UART_RING - 1 bytes while it is busy

#: The ADC's reference (AVcc, the USB supply) and resolution as the firmware reports it.
ADC_VREF = 5.0
ADC_LEVELS = 256

PRESCALERS = (1, 8, 64, 256, 1024)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected).

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return binascii.crc_hqx(data, 0xFFFF)


def timer_tick_cycles(hz: int) -> int:
    """CPU cycles per Timer1 tick for a requested tick rate, exactly as the firmware picks them.

    The smallest prescaler whose rounded count fits 16 bits wins; the count is
    ``(F_CPU // prescaler + hz // 2) // hz`` (integer arithmetic, as in C).
    """
    ticks, pre = 0, 1
    for pre in PRESCALERS:
        ticks = (F_CPU // pre + hz // 2) // hz
        if ticks <= 65536:
            break
    return ticks * pre


def trigger_wait_ticks(timeout_ms: int, rate: int) -> int:
    """Ticks the firmware waits for a trigger before it gives up (its own integer formula)."""
    return timeout_ms * (rate // 1000) + timeout_ms * (rate % 1000) // 1000 + 1


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: its type, sequence number and payload."""

    type: int
    seq: int
    payload: bytes = b""

    def pack(self) -> bytes:
        if not 0 <= self.type <= 0xFF:
            raise LabkitValueError(f"type={self.type!r}: a frame type is one byte (0..255)")
        if not 0 <= self.seq <= 0xFF:
            raise LabkitValueError(f"seq={self.seq!r}: a sequence number is one byte (0..255)")
        if len(self.payload) > 0xFFFF:
            raise LabkitValueError(f"payload: {len(self.payload)} bytes, at most 65535 fit")
        body = HEADER.pack(SYNC, self.type, self.seq, len(self.payload))[1:] + bytes(self.payload)
        return bytes([SYNC]) + body + CRC.pack(crc16(body))

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02X}")

    def summary(self) -> str:
        return f"{self.name} seq={self.seq} len={len(self.payload)}"


class FrameParser:
    """Turn a byte stream into frames, as the firmware's receiver does.

    Bytes before a sync byte are skipped (kept in :attr:`skipped`, so a driver
    can show what a board without labkit firmware printed). A frame whose CRC
    fails is reported as ``("crc", type, seq)``; a frame longer than
    ``max_payload`` as ``("too_long", type, seq)``; in both cases the parser
    hunts for the next sync byte.
    """

    #: how many skipped bytes are kept (the most recent ones)
    SKIPPED_KEPT = 4096

    def __init__(self, max_payload: int = MAX_REPLY_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self.skipped = bytearray()

    @property
    def partial(self) -> bool:
        """True while a frame has begun but is not complete."""
        return bool(self._buf)

    def partial_header(self) -> tuple[int | None, int | None]:
        """(type, seq) of the incomplete frame, None where not yet received."""
        t = self._buf[1] if len(self._buf) > 1 else None
        s = self._buf[2] if len(self._buf) > 2 else None
        return t, s

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame | tuple[str, int, int]]:
        """Frames (and errors) completed by ``data``; a partial frame waits for more."""
        if not isinstance(data, (bytes, bytearray, memoryview)):  # bytes(20) would be 20 zeros
            raise LabkitValueError(f"data={data!r:.40}: expected bytes, got {type(data).__name__}")
        out: list[Frame | tuple[str, int, int]] = []
        buf = self._buf
        data = bytes(data)
        pos, n = 0, len(data)
        while pos < n:
            if not buf:  # hunting for the sync byte
                i = data.find(SYNC_BYTE, pos)
                if i < 0:
                    self._skip(data[pos:])
                    break
                self._skip(data[pos:i])
                buf.append(SYNC)
                pos = i + 1
                continue
            if len(buf) < HEADER.size:
                take = min(HEADER.size - len(buf), n - pos)
                buf += data[pos : pos + take]
                pos += take
                if len(buf) == HEADER.size:
                    _, typ, seq, length = HEADER.unpack(buf)
                    if length > self.max_payload:
                        out.append(("too_long", typ, seq))
                        buf.clear()
                continue
            _, typ, seq, length = HEADER.unpack_from(buf)
            total = HEADER.size + length + CRC.size
            take = min(total - len(buf), n - pos)
            buf += data[pos : pos + take]
            pos += take
            if len(buf) == total:
                body = bytes(buf[1 : HEADER.size + length])
                (got,) = CRC.unpack_from(buf, HEADER.size + length)
                if got != crc16(body):
                    out.append(("crc", typ, seq))
                else:
                    out.append(Frame(typ, seq, bytes(buf[HEADER.size : HEADER.size + length])))
                buf.clear()
        return out

    def _skip(self, data: bytes) -> None:
        if data:
            self.skipped += data
            del self.skipped[: -self.SKIPPED_KEPT]


# --------------------------------------------------------------------------- payloads


def _need(payload: bytes, size: int, what: str, *, exact: bool = True) -> None:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ParseError(
            "hw", f"{what}.payload", payload, f"expected bytes, got {type(payload).__name__}"
        )
    if (len(payload) != size) if exact else (len(payload) < size):
        raise ParseError(
            "hw", f"{what}.length", len(payload),
            f"{'exactly' if exact else 'at least'} {size} bytes expected",
        )


@dataclass(frozen=True, slots=True)
class Banner:
    """Who the board is: sent after every reset and in reply to HELLO."""

    proto_major: int
    proto_minor: int
    firmware: tuple[int, int, int]
    f_cpu: int
    max_tx_bits: int
    max_digital_samples: int
    max_analog_samples: int
    name: bytes = FIRMWARE_NAME

    _S = struct.Struct("<BBBBBIHHH")

    @property
    def protocol(self) -> str:
        return f"{self.proto_major}.{self.proto_minor}"

    @classmethod
    def parse(cls, payload: bytes) -> Banner:
        _need(payload, cls._S.size, "BANNER", exact=False)
        pm, pn, fa, fb, fc, f_cpu, tx, dig, ana = cls._S.unpack_from(payload)
        return cls(pm, pn, (fa, fb, fc), f_cpu, tx, dig, ana, bytes(payload[cls._S.size :]))

    def pack(self) -> bytes:
        return self._S.pack(
            self.proto_major, self.proto_minor, *self.firmware, self.f_cpu,
            self.max_tx_bits, self.max_digital_samples, self.max_analog_samples,
        ) + self.name

    def summary(self) -> str:
        fw = ".".join(map(str, self.firmware))
        return (
            f"{self.name.decode('ascii', 'replace')} firmware {fw}, protocol {self.protocol}, "
            f"{self.f_cpu / 1e6:g} MHz"
        )


def banner() -> Banner:
    """The banner this version of the firmware sends."""
    return Banner(
        PROTO_MAJOR, PROTO_MINOR, FIRMWARE_VERSION, F_CPU, TX_MAX_BITS, DIGITAL_MAX_COUNT,
        ANALOG_MAX_COUNT,
    )


@dataclass(frozen=True, slots=True)
class Transmit:
    """TRANSMIT: send ``bits`` at ``bit_rate`` with a line code; the line rests at ``idle``."""

    code: int
    idle: int
    bit_rate: int
    nbits: int
    packed: bytes

    _S = struct.Struct("<BBIH")

    @classmethod
    def from_bits(cls, bits: object, bit_rate: int, code: str, idle: int) -> Transmit:
        b = np.asarray(bits, dtype=np.uint8)
        return cls(CODES.index(code), idle, bit_rate, int(b.size), np.packbits(b).tobytes())

    def bits(self) -> np.ndarray:
        return np.unpackbits(np.frombuffer(self.packed, np.uint8))[: self.nbits]

    def pack(self) -> bytes:
        return self._S.pack(self.code, self.idle, self.bit_rate, self.nbits) + self.packed

    @classmethod
    def parse(cls, payload: bytes) -> Transmit:
        _need(payload, cls._S.size, "TRANSMIT", exact=False)
        code, idle, rate, nbits = cls._S.unpack_from(payload)
        return cls(code, idle, rate, nbits, bytes(payload[cls._S.size :]))


@dataclass(frozen=True, slots=True)
class TxDone:
    nbits: int
    tick_cycles: int  # CPU cycles per half-bit
    f_cpu: int = F_CPU  #: the board's clock (its banner's ``f_cpu``; not in the payload)

    _S = struct.Struct("<HI")

    @property
    def bit_rate(self) -> float:
        """The bit rate the timer really made (f_cpu / two half-bits)."""
        return self.f_cpu / (2 * self.tick_cycles)

    @classmethod
    def parse(cls, payload: bytes) -> TxDone:
        _need(payload, cls._S.size, "TX_DONE")
        return cls(*cls._S.unpack(payload))

    def pack(self) -> bytes:
        return self._S.pack(self.nbits, self.tick_cycles)


@dataclass(frozen=True, slots=True)
class Sample:
    """SAMPLE: capture ``count`` samples at ``rate`` per second, after a trigger."""

    mode: int
    trigger: int
    rate: int
    count: int
    timeout_ms: int

    _S = struct.Struct("<BBIHH")

    def pack(self) -> bytes:
        return self._S.pack(self.mode, self.trigger, self.rate, self.count, self.timeout_ms)

    @classmethod
    def parse(cls, payload: bytes) -> Sample:
        _need(payload, cls._S.size, "SAMPLE")
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True, slots=True)
class Armed:
    tick_cycles: int
    count: int

    _S = struct.Struct("<IH")

    @classmethod
    def parse(cls, payload: bytes) -> Armed:
        _need(payload, cls._S.size, "ARMED")
        return cls(*cls._S.unpack(payload))

    def pack(self) -> bytes:
        return self._S.pack(self.tick_cycles, self.count)


@dataclass(frozen=True, slots=True)
class Samples:
    """SAMPLES: what the receiver read, with the timing it really used."""

    mode: int
    trigger: int
    tick_cycles: int
    count: int
    data: bytes
    f_cpu: int = F_CPU  #: the board's clock (its banner's ``f_cpu``; not in the payload)

    _S = struct.Struct("<BBIH")

    @classmethod
    def parse(cls, payload: bytes) -> Samples:
        _need(payload, cls._S.size, "SAMPLES", exact=False)
        mode, trig, cycles, count = cls._S.unpack_from(payload)
        data = bytes(payload[cls._S.size :])
        if mode not in (0, 1):
            raise ParseError("hw", "SAMPLES.mode", mode, "0 (digital) or 1 (analog) expected")
        want = (count + 7) // 8 if mode == 0 else count
        if len(data) != want:
            raise ParseError(
                "hw", "SAMPLES.data", len(data), f"{want} bytes expected for {count} samples"
            )
        if cycles == 0:
            raise ParseError("hw", "SAMPLES.tick_cycles", 0, "a sample period cannot be zero")
        return cls(mode, trig, cycles, count, data)

    def pack(self) -> bytes:
        return self._S.pack(self.mode, self.trigger, self.tick_cycles, self.count) + self.data

    @property
    def rate(self) -> float:
        """Samples per second, as the board's timer made them."""
        return self.f_cpu / self.tick_cycles

    @property
    def values(self) -> np.ndarray:
        """Digital: 0/1 per sample; analog: the ADC's 8-bit code (0..255) per sample."""
        raw = np.frombuffer(self.data, dtype=np.uint8)
        if self.mode == 0:
            return np.unpackbits(raw, bitorder="little")[: self.count]
        return raw.copy()

    @property
    def volts(self) -> np.ndarray:
        """Voltages: analog codes times 5 V / 256; digital samples as 0 V or 5 V."""
        if self.mode == 0:
            return self.values * ADC_VREF
        return self.values * (ADC_VREF / ADC_LEVELS)

    @property
    def times(self) -> np.ndarray:
        """Seconds since the first sample (by the receiver's own clock)."""
        return np.arange(self.count) / self.rate


@dataclass(frozen=True, slots=True)
class Receive:
    """RECEIVE: decode ``nbits`` sent with a line code at ``bit_rate``, from the edges on D8."""

    code: int
    idle: int
    bit_rate: int
    nbits: int
    timeout_ms: int

    _S = struct.Struct("<BBIHH")

    def pack(self) -> bytes:
        return self._S.pack(self.code, self.idle, self.bit_rate, self.nbits, self.timeout_ms)

    @classmethod
    def parse(cls, payload: bytes) -> Receive:
        _need(payload, cls._S.size, "RECEIVE")
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True, slots=True)
class Scope:
    """SCOPE: ``count`` ADC samples of A0, the first ``delay_cycles`` CPU cycles after an edge
    on D8 and then one every ``period_cycles`` (equivalent-time sampling, PROTOCOL.md 4.5).

    Answered by ARMED, then SAMPLES in analog mode (its ``tick_cycles`` is the period).
    """

    trigger: int
    delay_cycles: int
    period_cycles: int
    count: int
    timeout_ms: int

    _S = struct.Struct("<BHHHH")

    def pack(self) -> bytes:
        return self._S.pack(self.trigger, self.delay_cycles, self.period_cycles, self.count,
                            self.timeout_ms)

    @classmethod
    def parse(cls, payload: bytes) -> Scope:
        _need(payload, cls._S.size, "SCOPE")
        return cls(*cls._S.unpack(payload))


@dataclass(frozen=True, slots=True)
class Received:
    """RECEIVED: the bits the board's own receiver decoded (from the frame's first edge on).

    ``edges``: the edges it used; ``decoded``: how many bits came from edges (the rest
    repeat the last level: the line went quiet for 64 bit or half-bit times, or the
    board's 1024-byte edge buffer filled, about 1000 edges).
    """

    code: int
    edges: int
    decoded: int
    nbits: int
    packed: bytes

    _S = struct.Struct("<BBHH")

    @classmethod
    def parse(cls, payload: bytes, nbits: int) -> Received:
        _need(payload, cls._S.size, "RECEIVED", exact=False)
        code, _, edges, decoded = cls._S.unpack_from(payload)
        data = bytes(payload[cls._S.size :])
        if len(data) != (nbits + 7) // 8:
            raise ParseError(
                "hw", "RECEIVED.data", len(data), f"{(nbits + 7) // 8} bytes expected for {nbits} bits"
            )
        if code >= len(CODES):
            raise ParseError("hw", "RECEIVED.code", code, f"0..{len(CODES) - 1} expected")
        if decoded > nbits:
            raise ParseError(
                "hw", "RECEIVED.decoded", decoded, f"at most {nbits} bits were asked for"
            )
        return cls(code, edges, decoded, nbits, data)

    def pack(self) -> bytes:
        return self._S.pack(self.code, 0, self.edges, self.decoded) + self.packed

    def bits(self) -> np.ndarray:
        return np.unpackbits(np.frombuffer(self.packed, np.uint8))[: self.nbits]


@dataclass(frozen=True, slots=True)
class BridgeAck:
    queued: int
    free: int

    _S = struct.Struct("<HH")

    @classmethod
    def parse(cls, payload: bytes) -> BridgeAck:
        _need(payload, cls._S.size, "BRIDGE_ACK")
        return cls(*cls._S.unpack(payload))

    def pack(self) -> bytes:
        return self._S.pack(self.queued, self.free)


@dataclass(frozen=True, slots=True)
class BridgeStats:
    sent: int
    received: int
    framing_errors: int
    overruns: int
    not_sent: int

    _S = struct.Struct("<HHHHH")

    @classmethod
    def parse(cls, payload: bytes) -> BridgeStats:
        _need(payload, cls._S.size, "BRIDGE_STATS")
        return cls(*cls._S.unpack(payload))

    def pack(self) -> bytes:
        return self._S.pack(
            self.sent, self.received, self.framing_errors, self.overruns, self.not_sent
        )


@dataclass(frozen=True, slots=True)
class ErrorReply:
    code: int
    field: int
    command: int
    text: str

    _S = struct.Struct("<BBB")

    @classmethod
    def parse(cls, payload: bytes) -> ErrorReply:
        _need(payload, cls._S.size, "ERROR", exact=False)
        code, field, command = cls._S.unpack_from(payload)
        return cls(code, field, command, bytes(payload[3:]).decode("ascii", "replace"))

    @classmethod
    def make(cls, code: int, command: int, field: int = NO_FIELD) -> ErrorReply:
        return cls(code, field, command, ERROR_TEXT[code])

    def pack(self) -> bytes:
        return self._S.pack(self.code, self.field, self.command) + self.text.encode("ascii")

    @property
    def field_name(self) -> str | None:
        names = FIELD_NAMES.get(self.command, ())
        return names[self.field] if self.field < len(names) else None
