"""The receiving board as an oscilloscope: equivalent-time captures of A0 (SCOPE).

An ADC conversion takes 13 µs, longer than the wire's edges (τ = 22 µs) can be
resolved with, so a board cannot sample one edge finely. A sampling
oscilloscope gets around that by repetition, and so does :func:`equivalent_time`:
the transmitter sends the same bits ``shifts`` times; each time the receiver
(SCOPE, PROTOCOL.md 4.5) takes its samples at the same period after the same
trigger edge, but ``period / shifts`` later than the time before. Interleaved,
the captures are one capture ``shifts`` times finer.

- :func:`step_response` and :func:`fit_tau`: the wire's answer to one step, and
  its time constant (10 kΩ × 2.2 nF = 22 µs on the wiring diagram);
- :func:`eye`: a capture of random bits folded at the recovered bit period;
- :func:`ber_sweep`: bit errors against the wire's settings (clock mismatch,
  noise) on the simulated pair or the twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.errors import LabkitValueError
from labkit.hw import protocol as P
from labkit.hw.board import Board, default_idle
from labkit.phy import _validate, recover_clock

__all__ = ["Trace", "Eye", "equivalent_time", "step_response", "fit_tau", "eye", "ber_sweep"]


@dataclass(frozen=True)
class Trace:
    """Samples of A0 at ``times`` (seconds after the trigger edge, by the receiver's clock)."""

    times: np.ndarray
    volts: np.ndarray

    @property
    def step(self) -> float:
        """The time between neighbouring samples (equivalent time)."""
        return float(np.median(np.diff(self.times))) if self.times.size > 1 else 0.0


def equivalent_time(
    tx: Board,
    rx: Board,
    bits: object,
    bit_rate: int,
    code: str = "nrz-l",
    *,
    delay_cycles: int,
    period_cycles: int,
    count: int,
    shifts: int,
    idle: int | None = None,
    trigger: str | None = None,
    timeout_ms: int = 2000,
) -> Trace:
    """Send ``bits`` ``shifts`` times; capture A0 each time ``period_cycles / shifts`` later.

    The trigger is the frame's first edge on D8 (rising when the line idles low),
    unless ``trigger`` says otherwise. Returns the interleaved samples, sorted by time.
    """
    b = _validate.bits(bits)
    name = _validate.code_name(code)
    k = shifts
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or period_cycles // k < 1:
        raise LabkitValueError(f"shifts={shifts!r}: expected 1 to period_cycles ({period_cycles})")
    idle = default_idle(b, name) if idle is None else idle
    trig = trigger or ("falling" if idle else "rising")
    last = delay_cycles + (k - 1) * period_cycles // k
    if last > 65_535:
        raise LabkitValueError(
            f"delay_cycles={delay_cycles!r}: the last shift starts {last} cycles after the "
            "trigger, past SCOPE's 65535"
        )
    times, volts = [], []
    for j in range(k):
        d = delay_cycles + j * period_cycles // k
        rx.scope_arm(d, period_cycles, count, trigger=trig, timeout_ms=timeout_ms)
        tx.transmit(b, bit_rate, name, idle=idle)
        s = rx.scope_fetch()
        times.append((d + period_cycles * np.arange(s.count)) / rx.f_cpu)
        volts.append(s.volts)
    t = np.concatenate(times)
    order = np.argsort(t, kind="stable")
    return Trace(t[order], np.concatenate(volts)[order])


def step_response(
    tx: Board,
    rx: Board,
    *,
    before_us: float = 40.0,
    after_us: float = 200.0,
    resolution_us: float = 1.0,
    period_us: float = 16.0,
    low_us: float = 500.0,
) -> Trace:
    """The wire's answer to one rising step, sampled every ``resolution_us`` (equivalent time).

    The transmitter holds the line high, then low for ``low_us``, then high
    again; the receiver triggers on the falling edge and samples around the
    rising step that follows, from ``before_us`` before it to ``after_us`` after.
    Times are from the falling edge's crossing of D8's threshold.
    """
    bit_rate = int(round(1e6 / low_us))
    if not P.TX_MIN_RATE <= bit_rate <= P.TX_MAX_RATE:
        raise LabkitValueError(f"low_us={low_us!r}: expected 10 to 100000 µs")
    f = rx.f_cpu
    period = int(round(period_us * 1e-6 * f))
    shifts = max(1, int(round(period_us / resolution_us)))
    count = int(np.ceil((before_us + after_us) / period_us)) + 1
    delay = int(round((low_us - before_us) * 1e-6 * f))
    n_high = int(np.ceil(after_us / low_us)) + 1
    bits = np.array([0] + [1] * n_high, dtype=np.uint8)
    return equivalent_time(tx, rx, bits, bit_rate, "nrz-l", idle=1, trigger="falling",
                           delay_cycles=max(P.SCOPE_MIN_DELAY, delay), period_cycles=period,
                           count=count, shifts=shifts)


def fit_tau(trace: Trace) -> tuple[float, float]:
    """The time constant of a rising step in ``trace``, and when the step began (seconds).

    The low level is the median of the first 10 samples (the trace must begin
    before the step, as :func:`step_response`'s does), the high level that of the
    last fifth; between 10 % and 90 % of the swing, ln((high - v) / (high - low))
    falls on a line of slope -1/τ, which a least-squares fit finds.
    """
    t, v = trace.times, trace.volts
    if t.size < 10:
        raise LabkitValueError(f"trace: {t.size} samples, too few to fit a step")
    low, high = float(np.median(v[:10])), float(np.median(v[-max(2, t.size // 5):]))
    if high - low < 0.5:
        raise LabkitValueError(f"trace: the levels {low:.2f} V and {high:.2f} V show no rising step")
    y = (high - v) / (high - low)
    begun = np.flatnonzero(y < 0.95)
    start = begun[0] if begun.size else 0
    use = np.flatnonzero((y > 0.1) & (y < 0.9))
    use = use[use >= start]
    if use.size < 3:
        raise LabkitValueError("trace: too few samples on the edge to fit its time constant")
    slope, intercept = np.polyfit(t[use], np.log(y[use]), 1)
    tau = -1.0 / slope
    return float(tau), float(intercept * tau)


@dataclass(frozen=True)
class Eye:
    """A capture folded at its bit period: ``phase`` in unit intervals (bit times), -0.5..1.5."""

    phase: np.ndarray
    volts: np.ndarray
    bit_period: float  #: seconds, as the receiver's clock measured it

    def opening(self, threshold: float | None = None, width: float = 0.1) -> float:
        """The eye's height at its centre (volts): lowest high sample minus highest low one,
        within ``width`` of a bit around the middle (negative when the eye is shut)."""
        mid = np.abs(self.phase - 0.5) < width / 2
        v = self.volts[mid]
        thr = float(np.median(self.volts)) if threshold is None else threshold
        hi, lo = v[v > thr], v[v <= thr]
        if hi.size == 0 or lo.size == 0:
            return float("nan")
        return float(hi.min() - lo.max())


def eye(trace: Trace, bit_rate: float, code: str = "nrz-l") -> Eye:
    """Fold ``trace`` at its bit period (recovered from its edges, as notebook 01's receiver
    does: the boards' clocks differ, so the nominal period drifts through a long frame)."""
    if trace.step <= 0:
        raise LabkitValueError("trace: needs at least two samples")
    # Resample at a whole number of samples a bit, so that the nominal bit period is exact.
    spb = max(4, int(round(1 / (bit_rate * trace.step))))
    step = 1 / (bit_rate * spb)
    t = np.arange(trace.times[0], trace.times[-1], step)
    v = np.interp(t, trace.times, trace.volts)
    clock = recover_clock(v, code, spb)
    idx = np.arange(v.size)
    # bit centres at first_center + n * period; put them at phase 0.5
    phase = ((idx - clock.first_center) / clock.period + 0.5) % 1.0
    two = np.concatenate([phase - 1, phase, phase + 1])
    volts = np.concatenate([v] * 3)
    keep = (two >= -0.5) & (two <= 1.5)
    return Eye(two[keep], volts[keep], clock.period * step)


def ber_sweep(
    kind: str,
    wires: list[dict[str, object]],
    bit_rate: int,
    code: str,
    *,
    receiver: str = "sample",
    bits: int = 2000,
    frame: int = 500,
    seed: int = 0,
    pair: str = "sweep",
) -> list[int]:
    """Bit errors in ``bits`` random bits for each wire in ``wires`` (``"sim"`` or ``"twin"``).

    Each wire is a dict of :class:`~labkit.hw.sim.WireModel` /
    :class:`~labkit.hw.twin.TwinWire` options (``{"ppm0": 10000, "ppm1": -10000}``,
    ``{"noise_mv": 400}``); ``receiver`` is ``"sample"`` (the host decodes the
    receiver's samples) or ``"board"`` (RECEIVE).
    """
    from labkit.hw.lab import bit_error_test, board_bit_error_test, open_pair

    if kind not in ("sim", "twin"):
        raise LabkitValueError(f"kind={kind!r}: choose 'sim' or 'twin' (the wire is set by software)")
    if receiver not in ("sample", "board"):
        raise LabkitValueError(f"receiver={receiver!r}: choose 'sample' or 'board'")
    test = bit_error_test if receiver == "sample" else board_bit_error_test
    out = []
    for i, wire in enumerate(wires):
        tx, rx = open_pair(kind, kind, pair=f"{pair}-{i}", wire=dict(wire))
        rng = np.random.default_rng(seed)
        try:
            errors, sent = 0, 0
            while sent < bits:
                n = min(frame, bits - sent)
                errors += test(tx, rx, bit_rate, code, rng, payload_bits=n).errors
                sent += n
        finally:
            tx.close()
            rx.close()
        out.append(errors)
    return out
