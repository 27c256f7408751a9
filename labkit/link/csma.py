"""CSMA and CSMA/CD: listen before sending, and (on a cable) listen while sending.

**Carrier sense** (载波监听): a station first listens; if the medium is busy it does not send.
That prevents most collisions but not all: a signal takes time to travel, so two stations
that listen within one propagation delay ``tau`` of each other both hear silence and both send.

- :class:`CSMA`: *nonpersistent*: busy? wait a random time and listen again; or *1-persistent*
  (``persistent=True``): busy? wait until it is idle and send at once. Whether a frame got
  through is learned afterwards (``sent(ok)``), as in ALOHA.
- :class:`CSMACD`: IEEE 802.3's half-duplex Ethernet. 1-persistent carrier sense, an
  inter-frame gap of 96 bit times, and **collision detection** (冲突检测): a station that hears
  another signal while it sends stops, sends a 32-bit *jam* so that everyone notices, and
  backs off by **truncated binary exponential backoff**: after the ``n``-th collision of a
  frame it waits ``r`` slot times (512 bit times), ``r`` drawn uniformly from
  ``0 .. 2^min(n, 10) - 1``; after 16 attempts it gives up on the frame ("excessive
  collisions").

Collision detection only works if the sender is still sending when the collision's signal
comes back to it: a frame must last at least the round trip ``2 tau`` across the largest
network. 802.3 fixed that *slot time* at 512 bit times, so at 10 Mbit/s a frame lasts at
least 51.2 us: 64 bytes (:func:`min_frame_bytes`). A shorter frame can collide at the far
end while its sender, already done, believes it went through.

Theory beside the measurements (``a = tau / T``, propagation over frame time):

- nonpersistent CSMA (Kleinrock and Tobagi, 1975): ``S = G e^(-aG) / (G (1 + 2a) + e^(-aG))``;
- CSMA/CD's efficiency with many busy stations, the textbook approximation: ``1 / (1 + 5a)``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from labkit.errors import LabkitValueError
from labkit.link.access import AccessProtocol, MediumPort, check_positive
from labkit.link.interface import Timer

__all__ = [
    "CSMA", "CSMACD", "SLOT_BITS", "JAM_BITS", "IFG_BITS", "ATTEMPT_LIMIT", "BACKOFF_LIMIT",
    "backoff_range", "min_frame_bytes", "nonpersistent_csma_throughput", "csmacd_efficiency",
]

#: 802.3's slot time at 10 and 100 Mbit/s: 512 bit times.
SLOT_BITS = 512
#: The jam signal sent after a collision is detected: 32 bits.
JAM_BITS = 32
#: The inter-frame gap: 96 bit times of silence between frames.
IFG_BITS = 96
#: attemptLimit: a frame is given up after 16 attempts.
ATTEMPT_LIMIT = 16
#: backoffLimit: the backoff range stops doubling after 10 collisions (1024 slots).
BACKOFF_LIMIT = 10


def backoff_range(collisions: int, *, limit: int = BACKOFF_LIMIT) -> int:
    """How many slot counts the backoff after the ``collisions``-th collision draws from: ``2^min(n, 10)``.

    ``r`` is then uniform in ``0 .. backoff_range(n) - 1``.
    """
    if isinstance(collisions, bool) or not isinstance(collisions, (int, np.integer)) or collisions < 1:
        raise LabkitValueError(f"collisions={collisions!r}: expected a whole number >= 1")
    return 2 ** min(int(collisions), limit)


def min_frame_bytes(bitrate: int, max_delay_ns: int) -> int:
    """The smallest frame (bytes) whose sending lasts the round trip ``2 * max_delay_ns`` at ``bitrate``.

    802.3 at 10 Mbit/s allowed a round trip (cable, repeaters, detection) of 51.2 us: 64 bytes.
    """
    check_positive("bitrate", bitrate)
    if isinstance(max_delay_ns, bool) or not isinstance(max_delay_ns, (int, np.integer)) or max_delay_ns < 0:
        raise LabkitValueError(f"max_delay_ns={max_delay_ns!r}: expected a whole number of ns, >= 0")
    bits = -(-2 * int(max_delay_ns) * int(bitrate) // 1_000_000_000)
    return -(-bits // 8)


def nonpersistent_csma_throughput(G: float, a: float) -> float:
    """Kleinrock and Tobagi's nonpersistent CSMA: ``S = G e^(-aG) / (G (1 + 2a) + e^(-aG))``."""
    for name, v in (("G", G), ("a", a)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v >= 0:
            raise LabkitValueError(f"{name}={v!r}: expected a number >= 0")
    e = math.exp(-a * G)
    return G * e / (G * (1 + 2 * a) + e)


def csmacd_efficiency(a: float) -> float:
    """CSMA/CD's share of the medium carrying frames with many busy stations: ``1 / (1 + 5a)``."""
    if isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating)) or not a >= 0:
        raise LabkitValueError(f"a={a!r}: expected propagation delay over frame time, >= 0")
    return 1 / (1 + 5 * a)


class CSMA(AccessProtocol):
    """CSMA without collision detection: wait an exponential time of mean ``mean_wait_ns``, listen;
    idle: send; busy: wait again (nonpersistent) or send when it goes idle (``persistent=True``).
    The outcome comes afterwards (``sent(ok)``); a garbled frame is tried again the same way."""

    name = "CSMA"

    def __init__(self, port: MediumPort, rng: np.random.Generator, *, mean_wait_ns: float,
                 persistent: bool = False, record: bool = False) -> None:
        super().__init__(port, rng, record=record)
        self.mean_wait_ns = float(check_positive("mean_wait_ns", mean_wait_ns, whole=False))
        self.persistent = bool(persistent)
        if self.persistent:
            self.name = "1-persistent CSMA"
        #: Times the station listened (each an attempt of the offered load) and found it busy.
        self.attempts = 0
        self.deferrals = 0

    def _new_frame(self) -> None:
        self._wait()

    def _wait(self) -> None:
        port = self.port
        port.call_at(port.now() + int(self.rng.exponential(self.mean_wait_ns)), self._listen)

    def _listen(self) -> None:
        self.attempts += 1
        if self.port.busy():
            self.deferrals += 1
            self._note("busy")
            if self.persistent:
                self.port.when_idle(self._transmit_head)
            else:
                self._wait()
            return
        self._transmit_head()


class CSMACD(AccessProtocol):
    """IEEE 802.3 half-duplex: 1-persistent carrier sense, collision detection, jam, backoff.

    The times are in bit times of the port's bit rate: ``slot_bits`` (512), ``jam_bits`` (32),
    ``ifg_bits`` (96). ``attempt_limit`` (16) and ``backoff_limit`` (10) as in the standard.
    :attr:`backoffs` records every backoff drawn as ``(collisions of the frame, r)``.
    """

    name = "CSMA/CD"

    def __init__(self, port: MediumPort, rng: np.random.Generator, *, slot_bits: int = SLOT_BITS,
                 jam_bits: int = JAM_BITS, ifg_bits: int = IFG_BITS, attempt_limit: int = ATTEMPT_LIMIT,
                 backoff_limit: int = BACKOFF_LIMIT, record: bool = False) -> None:
        super().__init__(port, rng, record=record)
        bitrate = int(check_positive("bitrate", port.bitrate))
        bit_ns = 1_000_000_000 / bitrate
        self.slot_ns = round(check_positive("slot_bits", slot_bits) * bit_ns)
        self.jam_ns = round(check_positive("jam_bits", jam_bits) * bit_ns)
        if isinstance(ifg_bits, bool) or not isinstance(ifg_bits, int) or ifg_bits < 0:
            raise LabkitValueError(f"ifg_bits={ifg_bits!r}: expected a whole number of bit times, >= 0")
        self.ifg_ns = round(ifg_bits * bit_ns)
        self.attempt_limit = int(check_positive("attempt_limit", attempt_limit))
        self.backoff_limit = int(check_positive("backoff_limit", backoff_limit))
        #: Collisions of the frame at the head so far.
        self.attempt = 0
        self.backoffs: list[tuple[int, int]] = []
        #: Frames the station believed sent that were garbled somewhere (a collision it did not
        #: detect: the frame was shorter than the round trip).
        self.undetected = 0
        self._end_timer: Timer | None = None
        self._outcomes: deque[bool] = deque()  # per frame on the medium: did we abort it?

    def _new_frame(self) -> None:
        self.attempt = 0
        self._try()

    def _try(self) -> None:
        # 802.3's deference: wait until the carrier has been off for the inter-frame gap (our
        # own frame counts), then send. 1-persistent: whoever waited sends at once, which is
        # where the collisions come from.
        if self.record and self.port.busy():
            self._note("defer")
        self.port.when_idle(self._send, self.ifg_ns)

    def _send(self) -> None:
        frame = self.head
        if frame is None:  # pragma: no cover
            return
        self.transmissions += 1
        self._note("send", len(frame))
        self._outcomes.append(False)
        end = self.port.transmit(frame, detect=True)
        self._end_timer = self.port.call_at(end, self._finished)

    def _finished(self) -> None:
        self.successes += 1  # as far as this station can tell
        self._note("done")
        self._done_with_head()

    def collision(self, now: int) -> None:
        timer = self._end_timer
        if timer is not None:
            timer.cancel()
            self._end_timer = None
        if self._outcomes:
            self._outcomes[-1] = True
        self.collisions += 1
        self.attempt += 1
        end = self.port.abort(self.jam_ns)
        self._note("collision", self.attempt)
        if self.attempt >= self.attempt_limit:
            self.dropped += 1
            self._note("give up", self.attempt)
            self._done_with_head()
            return
        r = int(self.rng.integers(0, 2 ** min(self.attempt, self.backoff_limit)))
        self.backoffs.append((self.attempt, r))
        self._note("backoff", r)
        self.port.call_at(end + r * self.slot_ns, self._try)

    def sent(self, ok: bool, now: int) -> None:
        aborted = self._outcomes.popleft() if self._outcomes else True
        if not ok:
            self.failures += 1
            if not aborted:  # finished without hearing a collision, yet garbled somewhere
                self.undetected += 1
                self._note("undetected collision")
