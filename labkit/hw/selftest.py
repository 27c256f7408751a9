"""``labkit hw selftest``: a known pattern at several bit rates and line codes, bit errors per rate.

On the lab's standard wire (README: 10 kΩ in series, 2.2 nF to ground at the
receiver, τ = 22 µs) the boards are error-free up to
:data:`DOCUMENTED_MAX_RATE` bit/s with every line code; the faster rates are
there to show the errors rising past it (the wire's RC time constant smears
each bit into the next, Manchester first because its half-bits are twice as
short).
"""

from __future__ import annotations

import platform as _platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from labkit.errors import LabkitValueError
from labkit.hw.board import Board
from labkit.hw.lab import BitErrorResult, bit_error_test, board_bit_error_test
from labkit.phy import CODES

__all__ = ["DEFAULT_RATES", "DOCUMENTED_MAX_RATE", "REPORT_FORMAT", "SelftestReport", "run_selftest",
           "progress_bar", "board_record", "evidence", "is_real_port"]

#: The ``format`` field of a selftest report file (``labkit hw selftest --report``).
REPORT_FORMAT = "labkit-hw-selftest/1"

#: Rates tried by default (bit/s): the documented ones, then seven past them, to the
#: firmware's 100 kbit/s.
DEFAULT_RATES = (1000, 2000, 5000, 10_000, 20_000, 25_000, 33_333, 40_000, 50_000, 66_667, 80_000,
                 100_000)
#: Every line code is error-free up to this rate on the standard wire.
DOCUMENTED_MAX_RATE = 20_000


@dataclass(frozen=True)
class SelftestReport:
    results: tuple[BitErrorResult, ...]
    documented_max_rate: int = DOCUMENTED_MAX_RATE

    @property
    def passed(self) -> bool:
        """True when no bit was wrong at the documented rates."""
        return all(r.errors == 0 for r in self.results if r.bit_rate <= self.documented_max_rate)

    def table(self) -> str:
        codes = sorted({r.code for r in self.results}, key=CODES.index)
        rates = sorted({r.bit_rate for r in self.results})
        by = {(r.code, r.bit_rate): r for r in self.results}
        head = f"{'bit/s':>8}  " + "  ".join(f"{c:>16}" for c in codes)
        lines = [head, "-" * len(head)]
        for rate in rates:
            cells = []
            for c in codes:
                r = by.get((c, rate))
                cells.append(f"{r.errors:>4}/{r.bits} ({r.ber:6.1%})" if r else " " * 16)
            mark = "" if rate <= self.documented_max_rate else "  (past the documented rate)"
            lines.append(f"{rate:>8}  " + "  ".join(f"{x:>16}" for x in cells) + mark)
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: {'no' if self.passed else 'some'} bit errors up to "
            f"{self.documented_max_rate} bit/s"
        )
        return "\n".join(lines)


def progress_bar(done: int, total: int, label: str, width: int = 30) -> str:
    """``[#########.........]  9/27 nrz-l 5000 bit/s``: a text progress bar."""
    filled = width * done // max(total, 1)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>2}/{total} {label}"


def run_selftest(
    tx: Board,
    rx: Board,
    *,
    rates: Iterable[int] = DEFAULT_RATES,
    codes: Iterable[str] = CODES,
    rng: np.random.Generator | int = 0,
    payload_bits: int = 256,
    progress: Callable[[int, int, str], None] | None = None,
    receiver: str = "sample",
) -> SelftestReport:
    """Send a seeded random frame per (code, rate) from ``tx`` to ``rx`` and count bit errors.

    ``receiver``: ``"sample"`` decodes on the host from the receiver's samples
    (:func:`~labkit.hw.lab.bit_error_test`); ``"board"`` lets the receiving board decode
    from its edges' times (RECEIVE, :func:`~labkit.hw.lab.board_bit_error_test`).
    """
    if receiver not in ("sample", "board"):
        raise LabkitValueError(f"receiver={receiver!r}: choose 'sample' or 'board'")
    test = bit_error_test if receiver == "sample" else board_bit_error_test
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    plan = [(c, int(r)) for c in codes for r in rates]
    results = []
    for i, (code, rate) in enumerate(plan):
        if progress:
            progress(i, len(plan), f"{code} {rate} bit/s")
        results.append(test(tx, rx, rate, code, gen, payload_bits=payload_bits))
    if progress:
        progress(len(plan), len(plan), "done")
    return SelftestReport(tuple(results))


def is_real_port(port: str) -> bool:
    """A real serial device (``/dev/ttyACM0``, ``COM3``), not ``sim``, ``twin`` or a URL."""
    return port not in ("sim", "twin") and "://" not in port


def board_record(role: str, board: Board, usb: object | None = None) -> dict[str, Any]:
    """What a report says of one board: its port, its banner, and its USB IDs if known."""
    banner = board.banner
    record: dict[str, Any] = {"role": role, "port": board.name}
    if banner is not None:
        record["firmware"] = ".".join(map(str, banner.firmware))
        record["protocol"] = banner.protocol
        record["f_cpu"] = banner.f_cpu
        record["max_tx_bits"] = banner.max_tx_bits
        record["max_digital_samples"] = banner.max_digital_samples
        record["max_analog_samples"] = banner.max_analog_samples
    if usb is not None:
        vid, pid = getattr(usb, "vid", None), getattr(usb, "pid", None)
        record["usb"] = {
            "vid": f"{vid:04X}" if vid is not None else None,
            "pid": f"{pid:04X}" if pid is not None else None,
            "serial_number": getattr(usb, "serial_number", None),
            "description": getattr(usb, "description", None),
            "board": getattr(usb, "board", None),
        }
    return record


def evidence(
    boards: list[dict[str, Any]],
    report: SelftestReport | None,
    *,
    seed: int,
    errors: Iterable[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A selftest as a JSON-ready record the project can keep: who, what, and every cell."""
    import labkit

    when = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    out: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "date": when,
        "labkit": labkit.__version__,
        "host": {"system": _platform.system(), "release": _platform.release(),
                 "python": _platform.python_version()},
        "boards": boards,
        "seed": seed,
        "documented_max_rate": DOCUMENTED_MAX_RATE,
        "results": [],
        "errors": list(errors),
        "passed": False,
    }
    if report is not None:
        out["documented_max_rate"] = report.documented_max_rate
        out["results"] = [
            {"code": r.code, "bit_rate": r.bit_rate, "bits": r.bits, "errors": r.errors,
             "samples_per_bit": r.samples_per_bit}
            for r in report.results
        ]
        out["passed"] = report.passed and not out["errors"]
    return out
