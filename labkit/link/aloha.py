"""ALOHA and slotted ALOHA: send when you like, and learn afterwards whether it got through.

ALOHAnet (University of Hawaii, 1971) joined terminals on several islands to one computer by
radio, all on one frequency. Its rule is the simplest there is: a station with a frame sends
it; the hub's acknowledgement says whether it got through; if not (it collided with another),
the station waits a random time and sends it again.

The textbook analysis (Abramson 1970; Roberts 1972 for the slotted version) assumes the
attempts of all stations together, new frames and retransmissions alike, form a Poisson
stream of ``G`` attempts per frame time ``T`` (the *offered load*):

- **pure ALOHA**: a frame sent at ``t`` is hit by any other attempt in ``(t - T, t + T)``, a
  *vulnerable period* of ``2T``: ``S = G e^(-2G)``, at most ``1/(2e) = 0.184`` at ``G = 1/2``;
- **slotted ALOHA**: time is cut into slots of one frame time and frames start only at slot
  boundaries, so only attempts in the same slot collide: ``S = G e^(-G)``, at most
  ``1/e = 0.368`` at ``G = 1``.

Here a station with a frame makes its attempts at random: :class:`Aloha` waits an exponential
time before each (so that many such stations together make the Poisson stream), and
:class:`SlottedAloha` sends in each slot with probability ``p`` (MIT 6.02's model; ``n``
stations make ``G = n p``). Time is passed in through the port (:class:`~labkit.link.access.MediumPort`).
"""

from __future__ import annotations

import math

import numpy as np

from labkit.errors import LabkitValueError
from labkit.link.access import AccessProtocol, MediumPort, check_positive

__all__ = [
    "Aloha", "SlottedAloha", "pure_aloha_throughput", "slotted_aloha_throughput",
    "slotted_aloha_throughput_n",
]


def _load(G: object) -> float:
    if isinstance(G, bool) or not isinstance(G, (int, float, np.integer, np.floating)) or not G >= 0:
        raise LabkitValueError(f"G={G!r}: the offered load is a number of attempts per frame time, >= 0")
    return float(G)


def pure_aloha_throughput(G: float) -> float:
    """``S = G e^(-2G)``: frames through per frame time at offered load ``G`` (pure ALOHA)."""
    g = _load(G)
    return g * math.exp(-2 * g)


def slotted_aloha_throughput(G: float) -> float:
    """``S = G e^(-G)``: frames through per slot at offered load ``G`` (slotted ALOHA)."""
    g = _load(G)
    return g * math.exp(-g)


def slotted_aloha_throughput_n(G: float, n: int) -> float:
    """Slotted ALOHA with ``n`` stations each sending with ``p = G/n``: ``S = G (1 - G/n)^(n-1)``."""
    g = _load(G)
    check_positive("n", n)
    if g > n:
        raise LabkitValueError(f"G={G!r}: with n={n} stations p = G/n must be at most 1")
    return g * (1 - g / n) ** (n - 1)


class Aloha(AccessProtocol):
    """Pure ALOHA: before each attempt wait an exponential time of mean ``mean_wait_ns``, send, and
    wait for the outcome (``sent(ok)``): through, on to the next frame; garbled, try again."""

    name = "ALOHA"

    def __init__(self, port: MediumPort, rng: np.random.Generator, *, mean_wait_ns: float,
                 record: bool = False) -> None:
        super().__init__(port, rng, record=record)
        self.mean_wait_ns = float(check_positive("mean_wait_ns", mean_wait_ns, whole=False))

    def _new_frame(self) -> None:
        self._wait()

    def _wait(self) -> None:
        port = self.port
        port.call_at(port.now() + int(self.rng.exponential(self.mean_wait_ns)), self._transmit_head)



class SlottedAloha(AccessProtocol):
    """Slotted ALOHA: frames start only at multiples of ``slot_ns``; a station with a frame sends
    in each slot with probability ``p`` (it draws how many slots to skip: one event per attempt)."""

    name = "slotted ALOHA"

    def __init__(self, port: MediumPort, rng: np.random.Generator, *, p: float, slot_ns: int,
                 record: bool = False) -> None:
        super().__init__(port, rng, record=record)
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 < p <= 1:
            raise LabkitValueError(f"p={p!r}: the probability of sending in a slot is in (0, 1]")
        self.p = float(p)
        self.slot_ns = int(check_positive("slot_ns", slot_ns))

    def _new_frame(self) -> None:
        self._wait()

    def _wait(self) -> None:
        port = self.port
        slot = self.slot_ns
        first = -(-port.now() // slot) * slot  # the next slot boundary (now, if on one)
        skip = int(self.rng.geometric(self.p)) - 1  # slots passed over before sending
        port.call_at(first + skip * slot, self._transmit_head)

