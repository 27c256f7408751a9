"""Scenario tests: a script of actions and expectations on a virtual clock.

The tests of every protocol state machine (an ARP cache, a learning switch, a
TCP connection) and the notebooks' ``check(...)`` cells read as a script::

    from labkit.testing import Scenario

    s = Scenario("ARP entries expire", ArpCache(timeout="20s"))
    s.do("learn 192.168.1.1", lambda c, now: c.learn(ip, mac, now))
    s.expect_equal("it is found", lambda c, now: c.lookup(ip, now), mac)
    s.tick("30s")
    s.expect_equal("after 30 s it is gone", lambda c, now: c.lookup(ip, now), None,
                   hint="an entry lives 20 s: compare now with the time you stored")

Each step runs at once. The clock starts at 0 and moves only with
:meth:`Scenario.tick` (times are strings such as ``"30s"`` or numbers of
seconds; :attr:`Scenario.now` is in integer nanoseconds). If the subject
needs telling that time has passed, give ``advance=fn(subject, now)``: for a
whole simulated network, ``advance=lambda net, now: net.run(until=now)``
or simply :meth:`Scenario.for_network`.

Step functions take ``(subject, now)``, or just ``(subject)``, or nothing.
When a step fails, :class:`ScenarioFailure` (an ``AssertionError``) is raised
with every step so far, the step that failed, what was expected and what was
found, and the hint::

    Scenario 'ARP entries expire' failed at step 4, t=30 s
        1. t=0 s   do      learn 192.168.1.1                ok
        2. t=0 s   expect  it is found                      ok
        3. t=30 s  tick    +30 s                            ok
      > 4. t=30 s  expect  after 30 s it is gone
      expected: None
      got:      b'\\x02\\x00\\x00\\x00\\x00\\x01'
      hint: an entry lives 20 s: compare now with the time you stored

This module needs no simulator: protocol layers and their tests import it
freely.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from labkit.errors import LabkitValueError
from labkit.units import format_time, parse_time

__all__ = ["Scenario", "ScenarioFailure", "Step"]

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a scenario: when, what kind (do/tick/expect), what, and whether it passed."""

    number: int
    time: int
    kind: str
    description: str
    ok: bool

    def line(self, width: int = 40, marker: str = " ") -> str:
        t = f"t={format_time(self.time)}"
        status = "ok" if self.ok else ""
        return (
            f"  {marker} {self.number}. {t:<10} {self.kind:<7} {self.description:<{width}} {status}"
        ).rstrip()


class ScenarioFailure(AssertionError):
    """A scenario step failed. :attr:`steps` lists them all, the failed one last."""

    def __init__(
        self,
        title: str,
        steps: list[Step],
        expected: object = _MISSING,
        got: object = _MISSING,
        detail: str = "",
        hint: str | None = None,
    ) -> None:
        self.title = title
        self.steps = steps
        self.expected = None if expected is _MISSING else expected
        self.got = None if got is _MISSING else got
        self.hint = hint
        failed = steps[-1]
        width = min(max(len(s.description) for s in steps), 60)
        lines = [f"Scenario {title!r} failed at step {failed.number}, t={format_time(failed.time)}"]
        for s in steps[:-1]:
            lines.append(s.line(width))
        lines.append(failed.line(width, ">"))
        if expected is not _MISSING:
            lines.append(f"  expected: {expected!r}")
        if got is not _MISSING:
            lines.append(f"  got:      {got!r}")
        if detail:
            lines.append(f"  {detail}")
        if hint:
            lines.append(f"  hint: {hint}")
        super().__init__("\n".join(lines))


def _caller(fn: Callable[..., Any], what: str) -> Callable[[Any, int], Any]:
    """Adapt a step function taking (subject, now), (subject) or () to (subject, now)."""
    if not callable(fn):
        raise LabkitValueError(f"{what}={fn!r}: expected a function (subject, now)")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if any(p.kind == p.VAR_POSITIONAL for p in params) or len(positional) >= 2:
        return fn
    if len(positional) == 1:
        return lambda subject, now: fn(subject)
    return lambda subject, now: fn()


class Scenario(Generic[T]):
    """A scenario on ``subject``: call :meth:`do`, :meth:`tick` and ``expect...`` in order.

    ``advance(subject, now)`` is called after each :meth:`tick` with the new
    time in nanoseconds. ``hint`` is a default hint for failures.
    """

    def __init__(
        self,
        title: str,
        subject: T,
        *,
        advance: Callable[[T, int], Any] | None = None,
        start: object = 0,
        hint: str | None = None,
    ) -> None:
        self.title = title
        self.subject = subject
        self.advance = None if advance is None else _caller(advance, "advance")
        #: The scenario's virtual time in nanoseconds.
        self.now: int = parse_time(start, "start")
        self.hint = hint
        self.steps: list[Step] = []

    @classmethod
    def for_network(cls, title: str, net: Any, *, hint: str | None = None) -> Scenario[Any]:
        """A scenario on a :class:`labkit.sim.Network`: :meth:`tick` runs the network."""

        def advance(n: Any, now: int) -> None:
            n.run(until_ns=now)

        scenario: Scenario[Any] = cls(title, net, advance=advance, hint=hint)
        scenario.now = net.now
        return scenario

    # -- bookkeeping ---------------------------------------------------------------------------
    def _step(self, kind: str, description: str, ok: bool) -> Step:
        step = Step(len(self.steps) + 1, self.now, kind, description, ok)
        self.steps.append(step)
        return step

    def _fail(self, kind: str, description: str, hint: str | None, **kw: Any) -> None:
        self._step(kind, description, False)
        raise ScenarioFailure(self.title, list(self.steps), hint=hint or self.hint, **kw)

    # -- steps ---------------------------------------------------------------------------------
    def do(self, description: str, action: Callable[..., Any]) -> Any:
        """Run ``action(subject, now)``; return what it returns. An exception fails the step."""
        fn = _caller(action, "action")
        try:
            result = fn(self.subject, self.now)
        except AssertionError:
            raise
        except Exception as exc:  # the failure report is the point
            self._fail(
                "do",
                description,
                None,
                detail=f"raised {type(exc).__name__}: {exc}",
            )
        self._step("do", description, True)
        return result

    def tick(self, duration: object, description: str | None = None) -> Scenario[T]:
        """Let ``duration`` pass (``"1s"``, ``"200ms"``, seconds), telling ``advance``."""
        d = parse_time(duration, "duration")
        self.now += d
        label = description or f"+{format_time(d)}"
        if self.advance is not None:
            try:
                self.advance(self.subject, self.now)
            except AssertionError:
                raise
            except Exception as exc:
                self._fail("tick", label, None, detail=f"raised {type(exc).__name__}: {exc}")
        self._step("tick", label, True)
        return self

    def expect(
        self, description: str, check: Callable[..., Any], *, hint: str | None = None
    ) -> Scenario[T]:
        """Expect ``check(subject, now)`` to be true (an ``AssertionError`` inside fails too)."""
        fn = _caller(check, "check")
        try:
            ok = fn(self.subject, self.now)
        except AssertionError as exc:
            self._fail("expect", description, hint, detail=str(exc))
        except Exception as exc:
            self._fail("expect", description, hint, detail=f"raised {type(exc).__name__}: {exc}")
        if not ok:
            self._fail("expect", description, hint, expected="true", got=ok)
        self._step("expect", description, True)
        return self

    def expect_equal(
        self,
        description: str,
        get: Callable[..., Any],
        expected: object,
        *,
        hint: str | None = None,
    ) -> Scenario[T]:
        """Expect ``get(subject, now) == expected``; a failure shows both."""
        fn = _caller(get, "get")
        try:
            got = fn(self.subject, self.now)
        except Exception as exc:
            self._fail(
                "expect",
                description,
                hint,
                expected=expected,
                detail=f"raised {type(exc).__name__}: {exc}",
            )
        if not (got == expected):
            self._fail("expect", description, hint, expected=expected, got=got)
        self._step("expect", description, True)
        return self

    def expect_raises(
        self,
        description: str,
        action: Callable[..., Any],
        error: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        *,
        match: str | None = None,
        hint: str | None = None,
    ) -> BaseException:
        """Expect ``action(subject, now)`` to raise ``error`` (with ``match`` in its message)."""
        fn = _caller(action, "action")
        names = (
            " or ".join(e.__name__ for e in error) if isinstance(error, tuple) else error.__name__
        )
        try:
            result = fn(self.subject, self.now)
        except error as exc:
            if match is not None and match not in str(exc):
                self._fail(
                    "expect",
                    description,
                    hint,
                    expected=f"{names} mentioning {match!r}",
                    got=f"{type(exc).__name__}: {exc}",
                )
            self._step("expect", description, True)
            return exc
        except Exception as exc:
            self._fail(
                "expect", description, hint, expected=names, got=f"{type(exc).__name__}: {exc}"
            )
        self._fail(
            "expect", description, hint, expected=names, got=f"no error (returned {result!r})"
        )
        raise AssertionError("unreachable")  # pragma: no cover

    # -- reading back --------------------------------------------------------------------------
    def report(self) -> str:
        """Every step so far, one per line."""
        width = min(max((len(s.description) for s in self.steps), default=10), 60)
        return "\n".join([f"Scenario {self.title!r}"] + [s.line(width) for s in self.steps])

    def __repr__(self) -> str:
        return f"<Scenario {self.title!r}: {len(self.steps)} steps, t={format_time(self.now)}>"
