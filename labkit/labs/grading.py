"""What every lab's grader shares: labkit out of reach, limits, and the test's verdict.

A lab test runs the learner's component in a scripted scenario
(:class:`labkit.testing.Scenario`: on failure it prints every step so far, what
was expected, what happened and a hint) and judges what the component puts on
the wire by its bytes.

**labkit out of reach.** A graded component must do its own work: a switch that
hands each frame to :class:`labkit.link.LearningSwitch`, or a router that asks
labkit's :class:`~labkit.net.routing.RoutingTable`, must fail. :func:`sealed`
replaces labkit's own implementations' methods, for the length of a test, by
traps that raise :class:`OutOfReach` when they are called *from inside the
learner's code* (the network's own hosts still run labkit's stack).
:func:`inside` wraps the learner's component so that its calls count as inside.
The codecs (``EthernetFrame``, ``IPv4Packet``, ``ICMPMessage``, ``ARPPacket``,
``ChatMessage``) stay usable: parsing is what the earlier lessons taught.

**Limits.** :func:`limits` gives one test a time limit and (on Linux) a memory
limit, so that a runaway submission (an endless loop, an allocation without
bound) fails its own test and the kernel lives on to run the next one. They
apply only when the grader asks for them (the environment variable
``LABKIT_GRADING=1``, set by ``labkit grade``'s nbgrader configuration, or
``enforce=True``): a student's own run on Windows or macOS uses neither
``resource`` nor signals.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

from labkit.errors import LabkitError

__all__ = ["OutOfReach", "TimeLimitExceeded", "inside", "sealed", "limits", "passed", "grading"]

_depth = [0]
_always = [False]


class OutOfReach(LabkitError):
    """The learner's component called labkit's own implementation in a graded test."""


class TimeLimitExceeded(LabkitError):
    """A graded test ran longer than its time limit."""


def grading() -> bool:
    """True when the grader runs the tests (``LABKIT_GRADING=1``)."""
    return os.environ.get("LABKIT_GRADING", "") not in ("", "0")


def _enter(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        _depth[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] -= 1

    return call


class _Inside:
    """A learner's object whose method calls run 'inside' (labkit's traps armed)."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_obj", obj)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        return _enter(value) if callable(value) and not isinstance(value, type) else value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._obj, name, value)

    def __repr__(self) -> str:
        return repr(self._obj)


def inside(component: Any) -> Any:
    """The learner's ``component`` (a function, a class or an object), its calls counted as inside.

    A class gives a factory whose instances are wrapped too.
    """
    if isinstance(component, type):
        return lambda *a, **k: _Inside(_enter(component)(*a, **k))
    if isinstance(
        component, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)
    ):
        return _enter(component)
    return _Inside(component)


#: What each lab keeps out of reach: "module:Class" (every public method, and making one)
#: or "module:function".
SEALS: dict[str, tuple[str, ...]] = {
    "receiver": (
        "labkit.phy.receiver:estimate_levels",
        "labkit.phy.receiver:recover_clock",
        "labkit.phy.receiver:decode_with_clock",
        "labkit.phy.receiver:find_preamble",
        "labkit.phy.receiver:receive",
        "labkit.phy.linecode:decode",
    ),
    "switch": ("labkit.link.switch:LearningSwitch", "labkit.link.bridge:Bridge"),
    "router": (
        "labkit.net.stack:IPStack",
        "labkit.net.stack:IPForwarding",
        "labkit.net.routing:RoutingTable",
        "labkit.net.arp:ArpResolver",
        "labkit.net.arp:ArpCache",
    ),
    "app": (
        "labkit.app.chat:ChatRoom",
        "labkit.app.chat:ChatService",
        "labkit.app.servers:SelectorServer",
        "labkit.app.servers:ThreadedServer",
        "labkit.app.http:HttpReader",
        "labkit.app.http:HttpEventServer",
        "labkit.app.http:HttpEventConnection",
    ),
    "tcp": (
        "labkit.transport.bytestream:ByteStream",
        "labkit.transport.reassembler:Reassembler",
        "labkit.transport.tcp_receiver:TCPReceiver",
        "labkit.transport.tcp_sender:TCPSender",
        "labkit.transport.congestion:Reno",
        "labkit.transport.congestion:NewReno",
        "labkit.transport.cubic:Cubic",
    ),
}


def _trap(owner: str, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def trap(*args: Any, **kwargs: Any) -> Any:
        if _depth[0] > 0 or _always[0]:
            raise OutOfReach(
                f"{owner}.{name} is labkit's own implementation: in a graded test your component "
                "must do this work itself"
            )
        return original(*args, **kwargs)

    return trap


@contextlib.contextmanager
def sealed(lab: str, *, always: bool = False) -> Iterator[None]:
    """labkit's own implementation of ``lab``'s component out of reach of the learner's code.

    With ``always=True`` every call is refused, from whatever thread (for servers, whose
    threads the learner starts: nothing else in the test needs labkit's own).
    """
    undo: list[tuple[Any, str, Any]] = []
    _always[0] = always
    try:
        for target in SEALS[lab]:
            module_name, attr = target.split(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            obj = getattr(module, attr, None)
            if obj is None:
                continue
            if isinstance(obj, type):
                for name, value in list(vars(obj).items()):
                    if callable(value) and (not name.startswith("_") or name == "__init__"):
                        undo.append((obj, name, value))
                        setattr(obj, name, _trap(attr, name, value))
            else:
                undo.append((module, attr, obj))
                setattr(module, attr, _trap(module_name, attr, obj))
        yield
    finally:
        _always[0] = False
        for owner, name, value in reversed(undo):
            setattr(owner, name, value)


@contextlib.contextmanager
def limits(seconds: float = 20.0, memory_mb: int = 1024, *, enforce: bool | None = None) -> Iterator[None]:
    """A time limit (``seconds``) and a memory limit (``memory_mb`` more than now) for one test.

    Enforced only when grading (see the module's docstring); the memory limit only on Linux
    (``RLIMIT_AS``), the time limit where ``signal.setitimer`` exists (not on Windows).
    """
    on = grading() if enforce is None else enforce
    if not on:
        yield
        return
    cap_s = os.environ.get("LABKIT_GRADING_SECONDS")  # a teacher's (or a test's) ceiling
    if cap_s:
        seconds = min(seconds, float(cap_s))
    restore: list[Callable[[], None]] = []
    if sys.platform.startswith("linux"):
        import resource

        old = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm") as f:
            vm_bytes = int(f.read().split()[0]) * resource.getpagesize()
        cap = vm_bytes + memory_mb * 1024 * 1024
        if old[1] != resource.RLIM_INFINITY:
            cap = min(cap, old[1])
        resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
        restore.append(lambda: resource.setrlimit(resource.RLIMIT_AS, old))
    import signal
    import threading

    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():

        def alarm(signum: int, frame: Any) -> None:
            raise TimeLimitExceeded(
                f"the test ran longer than its limit of {seconds:g} s "
                "(an endless loop, or waiting for something that never comes?)"
            )

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)

        def stop() -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

        restore.append(stop)
    try:
        yield
    except MemoryError:
        raise MemoryError(
            f"the test used more than its limit of {memory_mb} MB more memory "
            "(a list or buffer growing without bound?)"
        ) from None
    finally:
        for fn in reversed(restore):
            fn()


def passed(title: str, steps: int) -> None:
    """Print the one line a passing test shows."""
    print(f"\u2714 {title}: all {steps} steps passed")


def run_checks(
    lab: str,
    title: str,
    body: Callable[[], int],
    *,
    seconds: float = 20.0,
    memory_mb: int = 1024,
    always: bool = False,
) -> None:
    """Run one graded test: labkit sealed, limits on; print ✔ or raise the step log."""
    with limits(seconds, memory_mb), sealed(lab, always=always):
        try:
            steps = body()
        except AssertionError as exc:
            if "raised NotImplementedError" in str(exc):  # not written yet: say only that
                raise NotImplementedError(
                    f"{title}: your code is not written yet (a function still raises "
                    "NotImplementedError): write it in the cell above, then run this test again"
                ) from None
            raise
    passed(title, steps)
