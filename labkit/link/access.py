"""Medium access control (介质访问控制): many stations, one shared medium, who sends when.

On a shared medium (classic Ethernet's coaxial cable, a radio channel) every station hears
every other, and two that send at once garble each other: a **collision** (冲突). A medium
access protocol is the rule each station follows to decide when to send. They are state
machines with time passed in, one family per module:

- :mod:`labkit.link.aloha`: ALOHA and slotted ALOHA: send, and find out afterwards;
- :mod:`labkit.link.csma`: CSMA (listen first: **carrier sense**, 载波监听) and CSMA/CD
  (also listen while sending, stop at a collision and back off: IEEE 802.3).

This module holds what they share: the door a protocol talks to the medium through
(:class:`MediumPort`) and the base class :class:`AccessProtocol` (a queue of frames, the
counters). A protocol never holds the medium or a simulator: it is given a port and a
seeded random generator. :mod:`labkit.sim.medium` is the medium, and
:mod:`labkit.sim.access` builds stations on it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from labkit.errors import LabkitValueError
from labkit.link.interface import Clock

__all__ = ["MediumPort", "AccessProtocol", "check_rng", "check_positive"]


class MediumPort(Clock, Protocol):
    """A station's attachment to a shared medium, as a medium access protocol sees it.

    A :class:`~labkit.link.interface.Clock` (``now()``, ``call_at(time, fn, *args)``), plus:

    - :meth:`transmit`: start sending a frame now; returns when its last bit leaves.
      ``detect=True`` asks the medium to call the station's ``collision(now)`` if another
      signal reaches this station while it is still sending;
    - :meth:`abort`: stop the frame being sent, after a jam signal of ``jam_ns``;
    - :meth:`busy`: carrier sense: is a signal at this station's position now;
    - :meth:`when_idle`: call ``fn()`` once no signal has been at this position for ``gap`` ns;
    - :attr:`bitrate`: the medium's bit rate.

    The medium calls back the station behind the port: ``collision(now)``, ``sent(ok, now)``
    (the outcome, once settled everywhere: what an acknowledgement would say) and
    ``receive(frame, now)`` (a frame heard intact).
    """

    @property
    def bitrate(self) -> int: ...

    def transmit(self, frame: bytes, *, detect: bool = False) -> int: ...

    def abort(self, jam_ns: int = 0) -> int: ...

    def busy(self) -> bool: ...

    def when_idle(self, fn: Callable[[], Any], gap: int = 0) -> None: ...


def check_rng(rng: object) -> np.random.Generator:
    """``rng`` if it is a seeded ``numpy.random.Generator``, else a labkit error naming it."""
    if not isinstance(rng, np.random.Generator):
        raise LabkitValueError(
            f"rng={rng!r}: expected a numpy.random.Generator (the network's net.rng), so that "
            "the run can be repeated"
        )
    return rng


def check_positive(name: str, value: Any, *, whole: bool = True) -> Any:
    """``value`` if it is a positive number (a whole one if ``whole``), else a labkit error."""
    number = isinstance(value, (int, np.integer)) or (
        not whole and isinstance(value, (float, np.floating))
    )
    if isinstance(value, bool) or not number or not value > 0:
        what = "a whole number" if whole else "a number"
        raise LabkitValueError(f"{name}={value!r}: expected {what} > 0")
    return value


class AccessProtocol:
    """What every medium access protocol shares: a queue, the counters, the door.

    :meth:`send` queues a frame; :meth:`saturate` makes the station always have one more (a
    station at full load). A subclass implements :meth:`_new_frame` (a frame has come to the
    head of the queue) and reacts to the medium's calls (``collision``, ``sent``). Frames heard
    intact are kept in :attr:`received` as ``(now, frame)`` (and passed to :attr:`on_receive`).

    With ``record=True``, :attr:`log` keeps ``(now, event, detail)`` for every step.
    """

    #: The protocol's name, as the notebooks and plots call it.
    name = "?"

    def __init__(self, port: MediumPort, rng: np.random.Generator, *, record: bool = False) -> None:
        self.port = port
        self.rng = check_rng(rng)
        self.queue: deque[bytes] = deque()
        self._saturated: bytes | None = None
        self._busy = False  # working on the frame at the head
        self.received: list[tuple[int, bytes]] = []
        self.on_receive: Callable[[bytes, int], Any] | None = None
        self.record = bool(record)
        self.log: list[tuple[int, str, Any]] = []
        #: Counters: frames sent (each attempt that went on the medium), frames that got through
        #: (as the station knows it), attempts that failed, collisions detected, frames given up.
        self.transmissions = 0
        self.successes = 0
        self.failures = 0
        self.collisions = 0
        self.dropped = 0

    # -- the upper layer's side --------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Queue ``frame``; the protocol sends it when its rule says so."""
        if not isinstance(frame, (bytes, bytearray)) or not frame:
            raise LabkitValueError(f"frame={frame!r:.40}: expected some bytes")
        self.queue.append(bytes(frame))
        self._kick()

    def saturate(self, frame: bytes) -> None:
        """Always have ``frame`` to send next (after what is queued): a station at full load."""
        if not isinstance(frame, (bytes, bytearray)) or not frame:
            raise LabkitValueError(f"frame={frame!r:.40}: expected some bytes")
        self._saturated = bytes(frame)
        self._kick()

    @property
    def head(self) -> bytes | None:
        """The frame being worked on, or ``None``."""
        if self.queue:
            return self.queue[0]
        return self._saturated

    @property
    def backlog(self) -> int:
        """Frames waiting, the one being worked on included (a saturated station counts 1 more)."""
        return len(self.queue) + (self._saturated is not None)

    def _kick(self) -> None:
        if not self._busy and self.head is not None:
            self._busy = True
            self._new_frame()

    def _done_with_head(self) -> None:
        """The head frame went through or was given up: on to the next one, if any."""
        if self.queue:
            self.queue.popleft()
        self._busy = False
        self._kick()

    def _note(self, event: str, detail: Any = None) -> None:
        if self.record:
            self.log.append((self.port.now(), event, detail))

    # -- what the medium calls ---------------------------------------------------------------------
    def _new_frame(self) -> None:  # pragma: no cover - every protocol overrides it
        raise NotImplementedError

    def _wait(self) -> None:  # pragma: no cover - the protocols that retry override it
        """Wait by the protocol's rule, then try the head frame again (after a failed send)."""
        raise NotImplementedError

    def _transmit_head(self) -> None:
        """Put the head frame on the medium (the protocols without collision detection)."""
        frame = self.head
        if frame is None:  # pragma: no cover - a frame stays at the head until it is done
            return
        self.transmissions += 1
        self._note("send", len(frame))
        self.port.transmit(frame)

    def collision(self, now: int) -> None:
        """The medium: a collision was detected while sending (only after ``detect=True``)."""

    def sent(self, ok: bool, now: int) -> None:
        """The medium: the last frame sent arrived everywhere intact (``ok``) or not.

        Without collision detection, an intact frame is done and a garbled one is sent again
        after :meth:`_wait` (ALOHA's missing acknowledgement, CSMA's too).
        """
        if ok:
            self.successes += 1
            self._note("through")
            self._done_with_head()
        else:
            self.failures += 1
            self._note("garbled")
            self._wait()

    def receive(self, frame: bytes, now: int) -> None:
        """The medium: ``frame`` arrived intact."""
        self.received.append((now, frame))
        if self.on_receive is not None:
            self.on_receive(frame, now)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} on {getattr(self.port, 'name', '?')}: {self.transmissions} sent, "
            f"{self.successes} through, {self.failures} failed, backlog {self.backlog}>"
        )
