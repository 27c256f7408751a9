"""Impairments: what a bad link does to frames, as wrappers you put on a link.

Each impairment looks at one frame as it leaves the transmitter and returns
what arrives instead: a list of ``(extra_delay_ns, frame_bytes)`` pairs. An
empty list means the frame is lost; two entries mean it was duplicated; a
changed ``bytes`` means it was corrupted; a positive delay holds it back so
that later frames overtake it. Impairments on one direction of a link run in
the order they were added, each on what the previous one let through.

Random impairments take a ``rate`` (a probability from 0 to 1) and draw from
the network's one seeded generator, which the link passes in, so the same seed
loses the same frames. A rate of 0 never draws and never acts; a rate of 1
always acts.

==================================  ===================================================
``Loss(rate)``                      the frame disappears
``Corrupt(rate, bits=1)``           ``bits`` distinct bits of the frame are flipped
``Duplicate(rate)``                 a second copy arrives right behind the first
``Reorder(rate, delay="1ms")``      the frame is held back ``delay``, so others pass it
``Delay(delay, jitter=0, rate=1)``  extra delay, plus a uniform jitter of ``± jitter``
``Fault(nth=3, action="drop")``     scripted: act on exactly the 3rd frame (that
                                    ``match(frame)`` accepts, if given); ``nth=None``
                                    acts on every matching frame
==================================  ===================================================

``Fault`` is the exact, repeatable fault a lesson needs ("drop the 3rd segment
from A to B"): put it on the direction A -> B and give a ``match`` that
recognises the segments (for example with ``labkit.transport.tcp`` later). Its
``action`` is ``"drop"``, ``"corrupt"`` (flips the lowest bit of the last
byte), ``"duplicate"``, a delay such as ``"5ms"`` (hold it back), or a function
``frame -> bytes | None | list[bytes]``.

An impairment object keeps state (a :class:`Fault` counts frames), so put one
object on one direction; :meth:`labkit.sim.Network.connect` makes a separate
object for each direction from its ``loss=``, ``corrupt=``... arguments.
Write your own by subclassing :class:`Impairment` and defining :meth:`apply`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from labkit.errors import LabkitValueError
from labkit.units import format_time, parse_time

__all__ = [
    "Impairment",
    "Loss",
    "Corrupt",
    "Duplicate",
    "Reorder",
    "Delay",
    "Fault",
    "drop_nth",
    "check_rate",
]

Arrival = list[tuple[int, bytes]]
FaultAction = str | int | float | Callable[[bytes], bytes | None | list[bytes]]


def check_rate(value: object, name: str = "rate") -> float:
    """Check a probability: a real number from 0 to 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LabkitValueError(f"{name}={value!r}: expected a probability between 0 and 1")
    rate = float(value)
    if not 0.0 <= rate <= 1.0:  # also refuses NaN
        raise LabkitValueError(
            f"{name}={value!r}: a rate is a probability, between 0 and 1 (0.01 means 1%)"
        )
    return rate


class Impairment:
    """Base class: subclasses define :meth:`apply`."""

    __slots__ = ()

    #: Short name used in traces when this impairment drops a frame.
    name = "impairment"

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        """Return what arrives: ``[(extra_delay_ns, frame), ...]``; ``[]`` means lost."""
        raise NotImplementedError

    def _fires(self, rate: float, rng: np.random.Generator) -> bool:
        if rate <= 0.0:
            return False
        return rate >= 1.0 or rng.random() < rate


class Loss(Impairment):
    """Lose each frame with probability ``rate``."""

    __slots__ = ("rate",)
    name = "loss"

    def __init__(self, rate: float) -> None:
        self.rate = check_rate(rate, "loss")

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        if self._fires(self.rate, rng):
            return []
        return [(0, frame)]

    def __repr__(self) -> str:
        return f"Loss({self.rate!r})"


def _flip(frame: bytes, positions: np.ndarray | list[int]) -> bytes:
    out = bytearray(frame)
    for p in positions:
        p = int(p)
        out[p >> 3] ^= 0x80 >> (p & 7)
    return bytes(out)


class Corrupt(Impairment):
    """With probability ``rate``, flip ``bits`` distinct, randomly chosen bits of the frame.

    Bit ``k`` of the frame is bit ``7 - k % 8`` of byte ``k // 8`` (the first
    bit on the wire is the most significant bit of the first byte).
    """

    __slots__ = ("rate", "bits")
    name = "corrupt"

    def __init__(self, rate: float, bits: int = 1) -> None:
        self.rate = check_rate(rate, "corrupt")
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits < 1:
            raise LabkitValueError(f"bits={bits!r}: flip at least one bit (a whole number >= 1)")
        self.bits: int = int(bits)

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        if not frame or not self._fires(self.rate, rng):
            return [(0, frame)]
        nbits = len(frame) * 8
        k = min(self.bits, nbits)
        positions = rng.choice(nbits, size=k, replace=False) if k > 1 else [int(rng.integers(nbits))]
        return [(0, _flip(frame, positions))]

    def __repr__(self) -> str:
        return f"Corrupt({self.rate!r}, bits={self.bits})"


class Duplicate(Impairment):
    """With probability ``rate``, deliver the frame twice (the copy right behind it)."""

    __slots__ = ("rate",)
    name = "duplicate"

    def __init__(self, rate: float) -> None:
        self.rate = check_rate(rate, "duplicate")

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        if self._fires(self.rate, rng):
            return [(0, frame), (0, frame)]
        return [(0, frame)]

    def __repr__(self) -> str:
        return f"Duplicate({self.rate!r})"


class Reorder(Impairment):
    """With probability ``rate``, hold the frame back by ``delay`` so later frames overtake it."""

    __slots__ = ("rate", "delay")
    name = "reorder"

    def __init__(self, rate: float, delay: object = "1ms") -> None:
        self.rate = check_rate(rate, "reorder")
        self.delay = parse_time(delay, "delay")
        if self.delay == 0:
            raise LabkitValueError("delay=0: a reordered frame must be held back by some time")

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        if self._fires(self.rate, rng):
            return [(self.delay, frame)]
        return [(0, frame)]

    def __repr__(self) -> str:
        return f"Reorder({self.rate!r}, delay={format_time(self.delay)!r})"


class Delay(Impairment):
    """Add ``delay`` plus a jitter drawn uniformly from ``[-jitter, +jitter]`` (never below 0).

    With ``rate < 1`` only that fraction of frames is delayed. A jitter larger
    than the gap between frames reorders them, as on a real path.
    """

    __slots__ = ("rate", "delay", "jitter")
    name = "delay"

    def __init__(self, delay: object = 0, jitter: object = 0, rate: float = 1.0) -> None:
        self.delay = parse_time(delay, "delay")
        self.jitter = parse_time(jitter, "jitter")
        self.rate = check_rate(rate, "rate")

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        if not self._fires(self.rate, rng):
            return [(0, frame)]
        extra = self.delay
        if self.jitter:
            extra += int(rng.integers(-self.jitter, self.jitter, endpoint=True))
        return [(max(extra, 0), frame)]

    def __repr__(self) -> str:
        return (
            f"Delay({format_time(self.delay)!r}, jitter={format_time(self.jitter)!r}, "
            f"rate={self.rate!r})"
        )


class Fault(Impairment):
    """A scripted, exact fault: act on the ``nth`` frame that ``match`` accepts.

    ``match(frame) -> bool`` selects the frames that count (all of them if
    ``None``); ``nth`` is 1-based (``nth=3``: the third such frame) or
    ``None`` for every such frame. :attr:`seen` counts the matching frames so
    far, :attr:`fired` how many times the fault acted.
    """

    __slots__ = ("nth", "match", "action", "seen", "fired", "_act", "name")

    def __init__(
        self,
        nth: int | None = None,
        action: FaultAction = "drop",
        match: Callable[[bytes], bool] | None = None,
    ) -> None:
        if nth is not None and (
            isinstance(nth, bool) or not isinstance(nth, numbers.Integral) or nth < 1
        ):
            raise LabkitValueError(f"nth={nth!r}: count frames from 1 (nth=3 is the third frame)")
        if match is not None and not callable(match):
            raise LabkitValueError(f"match={match!r}: expected a function frame -> bool")
        self.nth = None if nth is None else int(nth)
        self.match = match
        self.action = action
        self.seen = 0
        self.fired = 0
        self._act, self.name = self._compile(action)

    @staticmethod
    def _compile(action: FaultAction) -> tuple[Callable[[bytes], Arrival], str]:
        if action == "drop":
            return (lambda f: []), "fault: drop"
        if action == "duplicate":
            return (lambda f: [(0, f), (0, f)]), "fault: duplicate"
        if action == "corrupt":
            return (lambda f: [(0, _flip(f, [len(f) * 8 - 1]))] if f else [(0, f)]), (
                "fault: corrupt"
            )
        if isinstance(action, (str, int, float)) and not isinstance(action, bool):
            try:
                hold = parse_time(action, "action")
            except LabkitValueError:
                raise LabkitValueError(
                    f"action={action!r}: expected 'drop', 'corrupt', 'duplicate', a delay such "
                    "as '5ms', or a function frame -> bytes | None | list of bytes"
                ) from None
            return (lambda f: [(hold, f)]), "fault: delay"
        if callable(action):

            def run(f: bytes) -> Arrival:
                out = action(f)
                if out is None:
                    return []
                if isinstance(out, (bytes, bytearray)):
                    return [(0, bytes(out))]
                if isinstance(out, list) and all(isinstance(x, (bytes, bytearray)) for x in out):
                    return [(0, bytes(x)) for x in out]
                raise LabkitValueError(
                    f"Fault action returned {type(out).__name__}: expected bytes, None "
                    "(drop) or a list of bytes"
                )

            return run, "fault"
        raise LabkitValueError(
            f"action={action!r}: expected 'drop', 'corrupt', 'duplicate', a delay, or a function"
        )

    def apply(self, frame: bytes, rng: np.random.Generator) -> Arrival:
        if self.match is not None and not self.match(frame):
            return [(0, frame)]
        self.seen += 1
        if self.nth is not None and self.seen != self.nth:
            return [(0, frame)]
        self.fired += 1
        return self._act(frame)

    def __repr__(self) -> str:
        which = "every frame" if self.nth is None else f"frame #{self.nth}"
        return f"Fault({which}, action={self.action!r}, seen={self.seen}, fired={self.fired})"


def drop_nth(n: int, match: Callable[[bytes], bool] | None = None) -> Fault:
    """A :class:`Fault` that drops the ``n``-th frame (that ``match`` accepts)."""
    return Fault(nth=n, action="drop", match=match)
