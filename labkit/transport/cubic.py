"""CUBIC congestion control (RFC 9438), behind labkit's congestion-control door.

Reno grows its window by one segment per round trip, so after a loss on a
path whose bandwidth-delay product is thousands of segments it needs
thousands of round trips to fill the pipe again. CUBIC, Linux's default since
2006, makes the window a function of the *time since the last loss* instead
(RFC 9438 4.2, windows in segments, ``t`` in seconds)::

    W_cubic(t) = C (t - K)^3 + W_max        K = cbrt((W_max - cwnd_epoch) / C)

``W_max`` is the window just before the last reduction, ``cwnd_epoch`` the
window when congestion avoidance began again, ``C = 0.4``. The curve rises
fast, flattens out as it nears ``W_max`` (where the last loss was: the
*concave* region), and, if no loss comes, probes beyond it ever faster (the
*convex* region). On a loss the window is multiplied by ``β = 0.7``
(RFC 9438 4.6), not halved.

What this class does, section by section of RFC 9438:

- 4.2: on each ACK in congestion avoidance, target = ``W_cubic(t + RTT)``
  (RTT the smoothed RTT), clamped to ``[cwnd, 1.5 cwnd]``, and cwnd grows by
  ``(target - cwnd) / cwnd`` segments per segment acknowledged;
- 4.3: the Reno-friendly region: ``W_est``, the window an AIMD flow with
  ``α = 3(1-β)/(1+β)`` and ``β`` would have; while ``W_cubic(t) < W_est``, cwnd
  is ``W_est``, so CUBIC is never slower than Reno on short or slow paths
  (α becomes 1 once ``W_est`` has passed the window of the last loss);
- 4.6: on a loss ``ssthresh = max(β · FlightSize, 2 SMSS)``;
- 4.7: fast convergence: a loss before the window has got back to ``W_max``
  means a new flow is taking its share, so ``W_max = cwnd (1 + β) / 2``;
- 4.8: a timeout reduces to one segment as Reno does, with ssthresh from β; the
  first epoch after it starts with ``K = 0`` and ``W_max = cwnd_epoch``.

Slow start, fast retransmit and recovery are NewReno's (the door's
:class:`~labkit.transport.congestion.NewReno`: inflation by one SMSS per
duplicate ACK without SACK, exit at ``min(ssthresh, FlightSize + SMSS)``), as
RFC 9438 leaves them. RFC 7661's validation is the connection's
``ack.cwnd_limited``: an unused window is not grown, and the epoch's clock
does not run while the flow is not using its window.

Plug it in with ``TCPConfig(congestion=Cubic)``. Each change of region is
kept in :attr:`Cubic.region` (``"slow start"``, ``"reno"``, ``"concave"``,
``"convex"``), for plots.
"""

from __future__ import annotations

from typing import ClassVar

from labkit.errors import LabkitValueError
from labkit.transport.congestion import Ack, NewReno

__all__ = ["Cubic", "C", "BETA"]

#: RFC 9438 4.1.1's constants.
C = 0.4
BETA = 0.7

_NS = 1_000_000_000


class Cubic(NewReno):
    """RFC 9438 CUBIC. ``c`` and ``beta`` default to the RFC's 0.4 and 0.7.

    ``initial_segments``: the initial window, as for :class:`NewReno` (10, RFC 6928;
    ``None`` for RFC 5681's 2-4 segments).
    """

    partial_ack_ends_recovery: ClassVar[bool] = False

    def __init__(
        self,
        initial_segments: int | None = 10,
        *,
        c: float = C,
        beta: float = BETA,
        fast_convergence: bool = True,
    ) -> None:
        super().__init__(initial_segments)
        if not c > 0:
            raise LabkitValueError(f"c={c!r}: CUBIC's scaling constant must be positive")
        if not 0 < beta < 1:
            raise LabkitValueError(f"beta={beta!r}: the decrease factor lies between 0 and 1")
        self.c = float(c)
        self.beta = float(beta)
        self.fast_convergence = bool(fast_convergence)
        #: The additive increase of the Reno-friendly estimate, 3(1-β)/(1+β) (RFC 9438 4.3).
        self.alpha = 3 * (1 - self.beta) / (1 + self.beta)
        #: Segments: the window before the last reduction (None: no loss yet, or a timeout).
        self.w_max: float | None = None
        #: Segments: cwnd when the last congestion event began.
        self.cwnd_prior: float | None = None
        #: Seconds: when W_cubic reaches W_max again.
        self.k = 0.0
        #: ns: when the current congestion-avoidance epoch began (None: not in one).
        self.t_epoch: int | None = None
        #: Segments: cwnd at the epoch's start, and the Reno-friendly estimate.
        self.cwnd_epoch = 0.0
        self.w_est = 0.0
        #: Which rule set the window on the last ACK.
        self.region = "slow start"
        self._paused_since: int | None = None
        self._frac = 0.0  # the part of a byte that integer cwnd cannot hold

    # ------------------------------------------------------------------ the window function
    def w_cubic(self, t: float) -> float:
        """RFC 9438 eq. 1: the window in segments ``t`` seconds into the epoch."""
        assert self.w_max is not None, "W_cubic needs an epoch (a loss, or congestion avoidance)"
        return self.c * (t - self.k) ** 3 + self.w_max

    def _begin_epoch(self, now: int) -> None:
        self.t_epoch = now
        self.cwnd_epoch = self.cwnd / self.smss
        self.w_est = self.cwnd_epoch
        if self.w_max is None or self.w_max < self.cwnd_epoch:
            # after a timeout, or slow start ended with no loss (RFC 9438 4.8, 4.2)
            self.w_max = self.cwnd_epoch
            self.k = 0.0
        else:
            self.k = ((self.w_max - self.cwnd_epoch) / self.c) ** (1 / 3)  # math.cbrt is 3.11+

    # ------------------------------------------------------------------ the door
    def start(self, smss: int, now: int, sack: bool = False) -> None:
        super().start(smss, now, sack=sack)
        self.region = "slow start"

    def on_ack(self, ack: Ack) -> None:
        if not ack.cwnd_limited:
            if self.t_epoch is not None and self._paused_since is None:
                self._paused_since = ack.now
            return  # RFC 7661: an unused window is not grown
        if self._paused_since is not None:
            if self.t_epoch is not None:  # the clock of W_cubic stood still meanwhile
                self.t_epoch += ack.now - self._paused_since
            self._paused_since = None
        smss = self.smss
        if self.cwnd < self.ssthresh:
            self.cwnd += min(ack.acked, smss)  # slow start, as Reno
            self.region = "slow start"
            return
        if self.t_epoch is None:
            self._begin_epoch(ack.now)
        assert self.t_epoch is not None
        cwnd = self.cwnd / smss + self._frac / smss  # segments
        acked = ack.acked / smss
        t = (ack.now - self.t_epoch) / _NS
        rtt = ack.srtt if ack.srtt is not None else (ack.rtt or 0)
        target = min(max(self.w_cubic(t + rtt / _NS), cwnd), 1.5 * cwnd)
        # the Reno-friendly estimate (RFC 9438 4.3)
        alpha = 1.0 if self.cwnd_prior is not None and self.w_est >= self.cwnd_prior else self.alpha
        self.w_est += alpha * acked / cwnd
        w_now = self.w_cubic(t)
        if w_now < self.w_est:
            new = max(self.w_est, cwnd)
            self.region = "reno"
        else:
            new = cwnd + (target - cwnd) * acked / cwnd
            assert self.w_max is not None
            self.region = "concave" if w_now < self.w_max else "convex"
        whole = new * smss
        self.cwnd = max(smss, int(whole))
        self._frac = whole - self.cwnd

    def on_loss(self, flight: int, now: int) -> None:
        smss = self.smss
        cwnd = self.cwnd / smss
        if self.fast_convergence and self.w_max is not None and cwnd < self.w_max:
            self.w_max = cwnd * (1 + self.beta) / 2  # RFC 9438 4.7
        else:
            self.w_max = cwnd
        self.cwnd_prior = cwnd
        self.ssthresh = max(round(flight * self.beta), 2 * smss)  # RFC 9438 4.6
        self.cwnd = self.ssthresh if self.sack else self.ssthresh + 3 * smss
        self.t_epoch = None
        self._paused_since = None
        self._frac = 0.0
        self.region = "recovery"

    def on_timeout(self, flight: int, now: int) -> None:
        smss = self.smss
        self.cwnd_prior = self.cwnd / smss
        self.ssthresh = max(round(flight * self.beta), 2 * smss)  # RFC 9438 4.8
        self.cwnd = smss
        self.w_max = None  # the next epoch starts from cwnd_epoch with K = 0
        self.t_epoch = None
        self._paused_since = None
        self._frac = 0.0
        self.region = "slow start"

    def __repr__(self) -> str:
        w = "none" if self.w_max is None else f"{self.w_max:.1f}"
        return (f"<Cubic cwnd {self.cwnd} B, ssthresh {self.ssthresh} B, W_max {w} segments, "
                f"K {self.k:.3f} s, {self.region}>")
