"""The hardware lab's experiments, the same on real and simulated boards.

- :func:`open_pair`: the two boards, real when ``LABKIT_TX_PORT`` /
  ``LABKIT_RX_PORT`` (or arguments) name ports, simulated otherwise;
- :func:`transfer`: arm the receiver, send bits from the transmitter, return
  what the receiver sampled (a :class:`Capture`);
- :func:`decode`: turn a capture back into bits with :func:`labkit.phy.receive`,
  the receiver of notebook 01;
- :func:`bit_error_test`: send a known frame, count the bits that came back wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np

from labkit.errors import LabkitValueError, ParseError
from labkit.hw import protocol as P
from labkit.hw.board import Board, BoardOptions, default_idle
from labkit.phy import _validate, receive

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "PREAMBLE",
    "Capture",
    "open_pair",
    "sim_url",
    "transfer",
    "decode",
    "bit_error_test",
    "BitErrorResult",
    "after_preamble",
    "board_bit_error_test",
]

#: 16 bits that start every test frame: alternating bits to lock the clock on,
#: ending "11" so that the receiver can tell where the data begins (Ethernet's
#: preamble ends the same way).
PREAMBLE = np.array([1, 0] * 7 + [1, 1], dtype=np.uint8)


def sim_url(pair: str, index: int, **wire: object) -> str:
    """``labkit-sim://PAIR/INDEX?...``: a simulated board's port name."""
    query = urlencode({k: v for k, v in wire.items() if v is not None})
    return f"labkit-sim://{pair}/{index}" + (f"?{query}" if query else "")


def open_pair(
    tx: str | None = None,
    rx: str | None = None,
    *,
    pair: str = "lab",
    wire: dict[str, object] | None = None,
    **board_kwargs: Unpack[BoardOptions],
) -> tuple[Board, Board]:
    """Open the transmitter and the receiver.

    Ports come from the arguments, else from the environment variables
    ``LABKIT_TX_PORT`` and ``LABKIT_RX_PORT``, else the simulated pair
    ``pair`` is used (``"sim"`` as a port name also means simulated, and
    ``"twin"`` the firmware on two emulated boards, :mod:`labkit.hw.twin`).
    ``wire`` sets the simulated wire (:class:`labkit.hw.sim.WireModel`, or
    :class:`labkit.hw.twin.TwinWire`) and is ignored for real boards, whose
    wire is whatever you plugged in.
    """
    import labkit.hw  # noqa: F401  (registers labkit-sim:// and labkit-twin://)
    from labkit.hw.twin import twin_url

    tx = tx or os.environ.get("LABKIT_TX_PORT") or "sim"
    rx = rx or os.environ.get("LABKIT_RX_PORT") or "sim"
    if tx == "sim":
        tx = sim_url(pair, 0, **(wire or {}))
    if rx == "sim":
        rx = sim_url(pair, 1, **(wire or {}))
    if tx == "twin":
        tx = twin_url(pair, 0, **(wire or {}))
    if rx == "twin":
        rx = twin_url(pair, 1, **(wire or {}))
    if tx == rx:
        raise LabkitValueError(f"tx={tx!r} and rx={rx!r}: the two boards need two ports")
    first = Board.open(tx, **board_kwargs)
    try:
        second = Board.open(rx, **board_kwargs)
    except BaseException:
        first.close()
        raise
    return first, second


@dataclass(frozen=True)
class Capture:
    """What the receiver saw when the transmitter sent ``bits``."""

    bits: np.ndarray
    bit_rate: int
    code: str
    samples_per_bit: int
    samples: P.Samples

    @property
    def volts(self) -> np.ndarray:
        return self.samples.volts

    @property
    def times(self) -> np.ndarray:
        return self.samples.times


def transfer(
    tx: Board,
    rx: Board,
    bits: object,
    bit_rate: int,
    code: str = "manchester",
    *,
    samples_per_bit: int = 8,
    mode: str = "analog",
    timeout_ms: int = 2000,
) -> Capture:
    """Send ``bits`` from ``tx`` and capture them on ``rx`` at ``samples_per_bit``.

    The receiver waits for the first edge of the frame (its direction is known
    from the first bit and the line code) and samples the frame plus two bit
    times of idle line after it.
    """
    b = _validate.bits(bits)
    name = _validate.code_name(code)
    spb = _validate.samples_per_bit(samples_per_bit)
    if b.size == 0:
        raise LabkitValueError("bits: nothing to send")
    idle = default_idle(b, name)
    rate = int(bit_rate) * spb
    count = (b.size + 2) * spb
    limit = P.ANALOG_MAX_COUNT if mode == "analog" else P.DIGITAL_MAX_COUNT
    if count > limit:
        raise LabkitValueError(
            f"bits: {b.size} bits at samples_per_bit={spb} need {count} samples; the receiver "
            f"holds {limit} in {mode} mode: send fewer bits or sample fewer times per bit"
        )
    trigger = "falling" if idle else "rising"
    rx.arm(rate, count, mode=mode, trigger=trigger, timeout_ms=timeout_ms)
    tx.transmit(b, bit_rate, name, idle=idle)
    return Capture(b, int(bit_rate), name, spb, rx.fetch())


def decode(capture: Capture, *, preamble: object = PREAMBLE) -> np.ndarray:
    """The bits after ``preamble`` in a capture, by :func:`labkit.phy.receive` (notebook 01)."""
    volts = capture.volts
    reception = receive(volts, capture.code, capture.samples_per_bit, preamble=preamble)
    return reception.bits


@dataclass(frozen=True)
class BitErrorResult:
    code: str
    bit_rate: int
    samples_per_bit: int
    bits: int
    errors: int

    @property
    def ber(self) -> float:
        return self.errors / self.bits


def bit_error_test(
    tx: Board,
    rx: Board,
    bit_rate: int,
    code: str,
    rng: np.random.Generator,
    *,
    payload_bits: int = 256,
    sample_rate: int = 200_000,
    max_samples_per_bit: int = 10,
    mode: str = "digital",
) -> BitErrorResult:
    """Send PREAMBLE + ``payload_bits`` random bits and count the payload bits received wrong.

    The receiver samples at ``min(max_samples_per_bit * bit_rate, sample_rate)``
    samples per second, so past ``sample_rate / max_samples_per_bit`` bit/s it has fewer than
    four samples per bit. Bits the receiver lost count as errors.
    """
    gen = _validate.rng(rng)
    if isinstance(bit_rate, bool) or not isinstance(bit_rate, (int, float, np.integer)) or not bit_rate >= 1:
        raise LabkitValueError(f"bit_rate={bit_rate!r}: expected a bit rate of at least 1 bit/s")
    data = gen.integers(0, 2, payload_bits, dtype=np.uint8)
    frame = np.concatenate([PREAMBLE, data])
    spb = max(2, min(max_samples_per_bit, sample_rate // int(bit_rate)))  # never past sample_rate
    cap = transfer(tx, rx, frame, bit_rate, code, samples_per_bit=spb, mode=mode)
    try:
        got = decode(cap)[:payload_bits]
    except (ParseError, LabkitValueError):
        got = np.zeros(0, dtype=np.uint8)
    errors = int(np.count_nonzero(got != data[: got.size])) + (payload_bits - got.size)
    return BitErrorResult(_validate.code_name(code), int(bit_rate), spb, payload_bits, errors)


def after_preamble(bits: object, *, preamble: object = PREAMBLE) -> int | None:
    """Where the data begins in bits a board's receiver decoded from a frame's first edge.

    The first edges of a frame can be lost on a slow wire (a half-bit too short to cross
    the threshold from a long idle), so the decoded bits may begin a few bits into the
    preamble, or with a stray bit: the data begins after the first ``0 1 1`` (the
    preamble's end: the alternating bits before it never show it) among the first
    ``len(preamble) + 8`` bits. Returns None if there is none.
    """
    b = _validate.bits(bits)
    pre = _validate.bits(preamble)
    end = [int(x) for x in pre[-3:]]
    for k in range(len(end), min(b.size, pre.size + 8) + 1):
        if [int(x) for x in b[k - len(end) : k]] == end:
            return k
    return None


def board_bit_error_test(
    tx: Board,
    rx: Board,
    bit_rate: int,
    code: str,
    rng: np.random.Generator,
    *,
    payload_bits: int = 256,
    timeout_ms: int = 2000,
) -> BitErrorResult:
    """Like :func:`bit_error_test`, with the receiving board's own receiver (RECEIVE).

    The board timestamps the frame's edges with Timer1's input capture and decodes the
    bits itself (``firmware.c``, "RECEIVE"); it holds about 1000 edges, so Manchester
    frames stay under about 650 bits. Bits the receiver lost count as errors.
    """
    gen = _validate.rng(rng)
    name = _validate.code_name(code)
    data = gen.integers(0, 2, payload_bits, dtype=np.uint8)
    frame = np.concatenate([PREAMBLE, data])
    idle = default_idle(frame, name)
    rx.receive_arm(bit_rate, frame.size + 8, name, idle=idle, timeout_ms=timeout_ms)
    tx.transmit(frame, bit_rate, name, idle=idle)
    got = rx.receive_fetch().bits()
    k = after_preamble(got)
    if k is None:
        return BitErrorResult(name, int(bit_rate), 0, payload_bits, payload_bits)
    seg = got[k : k + payload_bits]
    errors = int(np.count_nonzero(seg != data[: seg.size])) + (payload_bits - seg.size)
    return BitErrorResult(name, int(bit_rate), 0, payload_bits, errors)
