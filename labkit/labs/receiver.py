"""Lab 1's grader: the learner's decoder from samples to bits, against labkit's receiver.

The learner writes a :class:`labkit.phy.receiver.Decoder`:
``decode(samples, code, samples_per_bit, preamble) -> bits`` that returns the bits
after the preamble. Each test sends frames (an Ethernet-like preamble, then
random payload bits) through labkit's channel: a random start (idle line, then
the frame at any phase), white noise at a given SNR, and a receiver clock off by
a given fraction; the bit error rate of the learner's decoder is compared with
that of labkit's own receiver (:func:`labkit.phy.receiver.receive`) on the very
same waveforms. A bit the decoder does not return counts as an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from labkit.labs.grading import inside, run_checks, sealed
from labkit.phy.channel import add_noise, clock_skew
from labkit.phy.linecode import encode
from labkit.phy.receiver import receive
from labkit.testing import Scenario

__all__ = [
    "PREAMBLE",
    "Condition",
    "frames",
    "ber_of",
    "check_threshold",
    "check_clean",
    "check_noise",
    "check_clock_error",
    "check_preamble",
]

#: 7 bytes of 10101010 and the start-of-frame delimiter 10101011, as Ethernet sends them.
PREAMBLE = np.array([1, 0] * 28 + [1, 0, 1, 0, 1, 0, 1, 1], dtype=np.uint8)
SPB = 8
PAYLOAD_BITS = 256


@dataclass(frozen=True)
class Condition:
    """One test condition: the line code, the SNR (dB, None: no noise) and the clock error."""

    code: str
    snr_db: float | None
    clock_error: float = 0.0
    idle_bits: int = 3

    def __str__(self) -> str:
        snr = "no noise" if self.snr_db is None else f"SNR {self.snr_db:g} dB"
        return f"{self.code}, {snr}, clock {self.clock_error:+.1%}"


def frames(cond: Condition, count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (samples, payload bits) pairs for ``cond``, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        payload = rng.integers(0, 2, PAYLOAD_BITS).astype(np.uint8)
        bits = np.concatenate([PREAMBLE, payload])
        wave = encode(bits, cond.code, SPB, v_high=5.0, v_low=0.0)
        idle = int(rng.integers(0, cond.idle_bits * SPB + 1))
        wave = np.concatenate([np.zeros(idle), wave, np.zeros(2 * SPB)])
        wave = clock_skew(wave, offset=float(rng.uniform(0, 1)), drift=cond.clock_error)
        if cond.snr_db is not None:
            wave = add_noise(wave, cond.snr_db, rng, signal_power=6.25)
        out.append((wave, payload))
    return out


def ber_of(decode: Callable[..., object], batch: list[tuple[np.ndarray, np.ndarray]], code: str) -> float:
    """The bit error rate of ``decode`` on ``batch`` (missing or extra bits: missing count as errors)."""
    errors = total = 0
    for wave, payload in batch:
        got = np.asarray(decode(wave.copy(), code, SPB, PREAMBLE.copy()), dtype=np.int64).ravel()
        n = min(got.size, payload.size)
        errors += int(np.count_nonzero(got[:n] != payload[:n])) + (payload.size - n)
        total += payload.size
    return errors / total


def labkit_decode(samples: np.ndarray, code: str, samples_per_bit: int, preamble: np.ndarray) -> np.ndarray:
    """labkit's own receiver behind the same door (the yardstick)."""
    return receive(samples, code, samples_per_bit, preamble=preamble).bits


def _compare(
    s: Scenario[object], decode: Callable[..., object], cond: Condition, count: int, seed: int, hint: str
) -> None:
    batch = frames(cond, count, seed)
    ref = ber_of(labkit_decode, batch, cond.code)  # measured before labkit is sealed
    limit = 2 * ref + 2e-3
    with sealed("receiver"):
        mine = s.do(f"decode {count} frames ({cond})", lambda: ber_of(decode, batch, cond.code))
    s.expect(
        f"BER {mine:.4f} <= {limit:.4f} (labkit's receiver: {ref:.4f})", lambda: mine <= limit, hint=hint
    )


def check_threshold(find_threshold: Callable[[object], float]) -> None:
    """The threshold lies halfway between the levels, whatever the levels are."""

    def body() -> int:
        s: Scenario[object] = Scenario("threshold", None)
        rng = np.random.default_rng(7)
        f = inside(find_threshold)
        for low, high in ((0.0, 5.0), (-1.0, 1.0), (0.3, 0.8)):
            bits = rng.integers(0, 2, 200)
            wave = add_noise(
                encode(bits, "nrz-l", SPB, v_high=high, v_low=low),
                20,
                rng,
                signal_power=((high - low) / 2) ** 2,
            )
            got = float(s.do(f"find_threshold of a {low:g}/{high:g} V signal", lambda w=wave: f(w)))
            s.expect(
                f"{got:.3f} is within 5% of the swing from {(low + high) / 2:g}",
                lambda g=got, lo=low, hi=high: abs(g - (lo + hi) / 2) <= 0.05 * (hi - lo),
                hint="the threshold sits between the two levels the signal spends its time at; "
                "the mean of all samples is off when there are more 1s than 0s",
            )
        return len(s.steps)

    run_checks("receiver", "threshold", body)


def _check(
    title: str, decode: Callable[..., object], conds: list[Condition], count: int, seed: int, hint: str
) -> None:
    def body() -> int:
        s: Scenario[object] = Scenario(title, None)
        f = inside(decode)
        for i, cond in enumerate(conds):
            _compare(s, f, cond, count, seed + i, hint)
        return len(s.steps)

    run_checks("receiver", title, body, seconds=60)


def check_clean(decode: Callable[..., object], seed: int = 1) -> None:
    """No noise, no clock error: every bit right, NRZ-L and Manchester."""
    _check(
        "clean line",
        decode,
        [Condition("nrz-l", None), Condition("manchester", None)],
        4,
        seed,
        "on a clean line every bit must be right: is the first bit you return the one after "
        "the preamble's last two 1s?",
    )


def check_noise(
    decode: Callable[..., object], snrs: tuple[float, ...] = (20, 12, 8), seed: int = 100
) -> None:
    """Noise at several SNRs: a BER no worse than twice labkit's (plus 0.2%)."""
    conds = [Condition(code, snr) for code in ("nrz-l", "manchester") for snr in snrs]
    _check(
        "noise",
        decode,
        conds,
        6,
        seed,
        "noisy samples near the threshold flip: decide each bit from several samples "
        "around its centre, and do not let a noise spike count as a transition",
    )


def check_clock_error(
    decode: Callable[..., object], errors: tuple[float, ...] = (0.01, -0.01), seed: int = 200
) -> None:
    """A receiver clock 1% fast or slow: the decoder must follow the transmitter's clock."""
    conds = [Condition(code, 20, e) for code in ("nrz-l", "manchester") for e in errors]
    _check(
        "clock error",
        decode,
        conds,
        6,
        seed,
        "at 1% clock error a bit slips by a whole sample every 12 bits: the bits are right at "
        "first and wrong later. Re-align your sampling point on the transitions you see",
    )


def check_preamble(decode: Callable[..., object], seed: int = 300) -> None:
    """The frame starts anywhere within 40 bits of idle line: found by its preamble."""
    conds = [Condition(code, 20, 0.0, idle_bits=40) for code in ("nrz-l", "manchester")]
    _check(
        "preamble",
        decode,
        conds,
        6,
        seed,
        "the frame does not start at sample 0: look for where the preamble agrees best with "
        "the decoded bits, and return what follows it",
    )
