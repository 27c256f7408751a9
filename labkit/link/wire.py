"""A frame on the wire and back: preamble, start-of-frame delimiter, Manchester bits.

A 10BASE-T Ethernet transmitter sends, for each frame:

1. the **preamble**, 7 bytes of ``0x55``: on the wire ``10101010...``, a
   square wave the receiver locks its clock on to;
2. the **start-of-frame delimiter** (SFD), ``0xD5``: ``10101011``, the same
   pattern ending in two 1s, which says "the frame starts now";
3. the frame itself (destination address first, FCS last), every byte least
   significant bit first,

all Manchester coded (:func:`labkit.phy.encode`), so every bit has a
transition in its middle; then the line goes quiet.

The receiver (:func:`listen`) works the other way round: it recovers levels
and the bit clock from the samples (:func:`labkit.phy.recover_clock`), decodes
the bits (:func:`labkit.phy.decode_with_clock`), finds the SFD, takes the
bits until the carrier stops (no more mid-bit transitions), packs them into
bytes and :func:`receive_frame` checks the FCS. A frame with a bad FCS
raises :class:`~labkit.errors.ParseError`: a corrupted frame is dropped,
never delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.errors import LabkitValueError, ParseError
from labkit.link.ethernet import EthernetFrame
from labkit.phy import (
    Clock,
    Levels,
    bits_from_bytes,
    decode_with_clock,
    encode,
    estimate_levels,
    recover_clock,
)

__all__ = [
    "PREAMBLE",
    "SFD",
    "SYNC",
    "frame_bits",
    "transmit",
    "listen",
    "receive_frame",
    "WireReception",
]

#: Seven bytes of alternating bits for the receiver's clock to lock on to.
PREAMBLE = b"\x55" * 7
#: The start-of-frame delimiter.
SFD = b"\xd5"
#: Preamble and SFD together: the 8 bytes (64 bits) in front of every frame.
SYNC = PREAMBLE + SFD
_SFD_BITS = bits_from_bytes(SFD, lsb_first=True)  # 1 0 1 0 1 0 1 1
_LAYER = "ethernet"
_CODE = "manchester"


def _frame_bytes(frame: EthernetFrame | bytes | bytearray | memoryview) -> bytes:
    if isinstance(frame, EthernetFrame):
        return frame.pack(fcs=True)
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return bytes(frame)
    raise LabkitValueError(
        f"frame: expected an EthernetFrame or its bytes (with FCS), got {type(frame).__name__}"
    )


def frame_bits(frame: EthernetFrame | bytes | bytearray | memoryview) -> np.ndarray:
    """The bits of preamble, SFD and frame in the order they go on the wire (LSB first)."""
    return bits_from_bytes(SYNC + _frame_bytes(frame), lsb_first=True)


def _idle(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LabkitValueError(f"{name}={value!r}: expected a whole number of bit times, >= 0")
    return value


def transmit(
    frame: EthernetFrame | bytes | bytearray | memoryview,
    samples_per_bit: int = 8,
    *,
    v_high: float = 5.0,
    v_low: float = 0.0,
    idle_before: int = 8,
    idle_after: int = 8,
) -> np.ndarray:
    """Voltage samples of one frame on a quiet line: idle, preamble, SFD, frame, idle.

    The idle line rests at ``v_low`` (no carrier, no transitions) for
    ``idle_before`` and ``idle_after`` bit times. Add noise and other
    impairments with :mod:`labkit.phy.channel`.
    """
    before = _idle("idle_before", idle_before)
    after = _idle("idle_after", idle_after)
    signal = encode(frame_bits(frame), _CODE, samples_per_bit, v_high=v_high, v_low=v_low)
    rest = v_low
    spb = signal.size // (8 * (len(SYNC) + len(_frame_bytes(frame))))
    return np.concatenate([np.full(before * spb, rest), signal, np.full(after * spb, rest)])


@dataclass(frozen=True)
class WireReception:
    """What :func:`listen` found on the wire, step by step."""

    #: the frame's bytes from destination address to FCS (not yet checked)
    data: bytes
    #: every bit decoded from the samples
    bits: np.ndarray
    #: index in ``bits`` of the first bit after the SFD
    start: int
    #: index in ``bits`` just after the last bit with a carrier
    end: int
    levels: Levels
    clock: Clock

    @property
    def dribble_bits(self) -> int:
        """Bits after the last whole byte (a NIC reports an alignment error if the FCS fails)."""
        return (self.end - self.start) % 8


def _carrier(x: np.ndarray, clock: Clock, levels: Levels) -> np.ndarray:
    """Per bit: does it have Manchester's mid-bit transition (is someone transmitting)?

    Compares the mean of the middle half of each half-bit, as the decoder
    does, so one noisy sample does not decide.
    """
    centers = clock.centers()
    idx = np.arange(x.size)
    p = clock.period
    spread = np.linspace(-0.125, 0.125, max(2, int(round(p / 4)))) * p

    def mean_at(offset: float) -> np.ndarray:
        return np.interp(centers[:, None] + offset * p + spread[None, :], idx, x).mean(axis=1)

    return np.abs(mean_at(0.25) - mean_at(-0.25)) > 0.5 * (levels.high - levels.low)


#: Bit times without a transition after which the receiver decides the carrier has gone.
QUIET_BITS = 3


def _check_samples(samples: object) -> np.ndarray:
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LabkitValueError(f"samples: expected an array of voltages: {exc}") from None
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise LabkitValueError("samples: expected a 1-D array of finite voltages")
    return x


def _check_spb(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 4:
        raise LabkitValueError(
            f"samples_per_bit={value!r}: the frame receiver needs a whole number >= 4"
        )
    return value


def _smooth(x: np.ndarray, spb: int) -> np.ndarray:
    """A short moving average (an odd number of samples, under half a bit), centred.

    It takes the worst of the noise off before the receiver looks for
    threshold crossings, without moving the edges in time.
    """
    width = max(1, (spb // 2 - 1) | 1)
    if width == 1 or x.size < width:
        return x
    padded = np.concatenate([np.full(width // 2, x[0]), x, np.full(width // 2, x[-1])])
    return np.convolve(padded, np.full(width, 1.0 / width), mode="valid")


def listen(samples: object, samples_per_bit: int = 8) -> WireReception:
    """Find one frame in a sample stream: clock, bits, SFD, end of carrier.

    Raises :class:`ParseError` (layer ``"ethernet"``, or ``"phy"`` when no
    clock can be recovered) if there is no frame to be found.
    """
    x = _smooth(_check_samples(samples), _check_spb(samples_per_bit))
    levels = estimate_levels(x)
    clock = recover_clock(x, _CODE, samples_per_bit, threshold=levels.threshold)
    bits = decode_with_clock(x, clock, _CODE)
    carrier = _carrier(x, clock, levels)
    # The SFD: the first place where 10101011 follows at least 8 bits of preamble.
    # (The preamble has no "11", so the first 11 after alternating bits is the SFD's end.)
    n = bits.size
    if n < 16 + _SFD_BITS.size:
        raise ParseError(_LAYER, "preamble", int(n), "too few bits for a preamble and SFD")
    windows = np.lib.stride_tricks.sliding_window_view(bits, 16)
    sync = np.concatenate([np.tile([1, 0], 4), _SFD_BITS]).astype(np.uint8)
    hits = np.flatnonzero((windows == sync).all(axis=1))
    if hits.size == 0:
        raise ParseError(_LAYER, "sfd", None, "no preamble followed by a start-of-frame delimiter")
    start = int(hits[0]) + 16
    idle = ~carrier[start:]
    if idle.size >= QUIET_BITS:
        run = np.lib.stride_tricks.sliding_window_view(idle, QUIET_BITS).all(axis=1)
        quiet = np.flatnonzero(run)
    else:
        quiet = np.zeros(0, dtype=np.intp)
    end = start + int(quiet[0]) if quiet.size else n
    whole = (end - start) // 8 * 8
    data = np.packbits(bits[start : start + whole], bitorder="little").tobytes()
    return WireReception(data, bits, start, end, levels, clock)


def receive_frame(
    samples: object,
    samples_per_bit: int = 8,
    *,
    payload_length: int | None = None,
) -> EthernetFrame:
    """Recover the frame from noisy samples and check its FCS.

    Returns the :class:`EthernetFrame`, or raises :class:`ParseError` when
    there is no frame or it was corrupted (bad FCS, runt, truncated):
    a damaged frame is never delivered.
    """
    reception = listen(samples, samples_per_bit)
    return EthernetFrame.parse(reception.data, fcs=True, payload_length=payload_length)
