"""``labkit hw ...``: the hardware lab's boards from a terminal (ports, doctor, selftest, send, recv,
flash).

The boards themselves are :mod:`labkit.hw`; this module parses the arguments
and prints. :func:`add_parser` registers ``hw`` and its five commands; :func:`run`
calls the handler of the one given (``cmd_ports``, ``cmd_doctor``, ``cmd_selftest``,
``cmd_send``, ``cmd_recv``: each takes the parsed arguments and returns the exit
status). A port name ``sim`` means the simulated pair, ``twin`` the firmware on
two emulated boards.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from labkit.errors import LabkitError

if TYPE_CHECKING:
    from labkit.hw.board import Board

__all__ = ["add_parser", "run", "cmd_ports", "cmd_doctor", "cmd_selftest", "cmd_send",
           "cmd_recv", "cmd_flash"]


def _rates(text: str) -> list[int]:
    try:
        rates = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: bit rates as whole numbers, e.g. 1000,5000"
        ) from None
    if not rates:
        raise argparse.ArgumentTypeError("give at least one bit rate")
    if min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: bit rates are more than 0 bit/s")
    return rates


def _codes(text: str) -> list[str]:
    from labkit.phy import _validate

    try:
        return [_validate.code_name(c) for c in text.split(",") if c.strip()]
    except LabkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _wire(text: str) -> dict:
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = int(value) if key.strip() == "seed" else float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item!r}: the wire as KEY=NUMBER pairs, e.g. noise_mv=200,delay_us=5"
            ) from None
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``hw`` and its commands to the ``labkit`` command's subcommands."""
    hw = subparsers.add_parser(
        "hw", help="boards on a serial port: the hardware lab",
        description="Two Arduino boards (Uno/Nano) joined by a wire, their simulation "
        "(port name 'sim'), or the firmware on two emulated boards (port name 'twin').",
    )
    sub = hw.add_subparsers(dest="hw_command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("ports", help="list serial ports and what they look like")
    p.add_argument("--all", action="store_true", help="also ports that do not look like boards")

    p = sub.add_parser("doctor", help="explain what is wrong with a board or port")
    p.add_argument("ports", nargs="*", metavar="PORT", help="ports to check (default: all boards)")

    p = sub.add_parser("selftest", help="send known bits at several rates, count bit errors")
    p.add_argument("--tx", required=True, metavar="PORT",
                   help="transmitting board, or 'sim', or 'twin'")
    p.add_argument("--rx", required=True, metavar="PORT",
                   help="receiving board, or 'sim', or 'twin'")
    p.add_argument("--rates", type=_rates, default=None, help="bit rates, e.g. 1000,5000,20000")
    p.add_argument("--codes", type=_codes, default=None, help="line codes, e.g. nrz-l,manchester")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test bits")
    p.add_argument("--wire", type=_wire, default=None, metavar="KEY=V,...",
                   help="sim/twin wire: rc_us, noise_mv, delay_us, ppm0, ppm1, seed")
    p.add_argument("--receiver", choices=("sample", "board"), default="sample",
                   help="decode on the host from samples (default), or on the receiving "
                   "board from its edges' times (RECEIVE)")
    p.add_argument("--report", metavar="FILE", default=None,
                   help="write the result as JSON (default with two real boards: "
                   "labkit-selftest-DATE.json here); '-' for none")

    p = sub.add_parser("send", help="send text through the byte bridge")
    p.add_argument("text", help="what to send (UTF-8)")
    p.add_argument("--tx", required=True, metavar="PORT",
                   help="sending board, or 'sim', or 'twin'")
    p.add_argument("--rx", metavar="PORT", help="also receive on this board in this process")
    p.add_argument("--rate", type=int, default=9600, help="bridge bit rate (300..19200)")

    p = sub.add_parser("recv", help="print what arrives through the byte bridge")
    p.add_argument("--rx", required=True, metavar="PORT", help="receiving board")
    p.add_argument("--rate", type=int, default=9600, help="bridge bit rate (300..19200)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to listen")

    p = sub.add_parser("flash", help="write the labkit firmware into a board (no avrdude needed)",
                       description="Flash a board through its Arduino bootloader (STK500v1): "
                       "the firmware shipped with labkit, or --hex FILE. 'twin' is an emulated "
                       "board with a blank flash and the Arduino bootloader.")
    p.add_argument("port", metavar="PORT", help="the board's port (labkit hw ports), or 'twin'")
    p.add_argument("--hex", metavar="FILE", default=None,
                   help="an Intel HEX file to write instead of labkit's firmware")
    p.add_argument("--baud", type=int, default=None,
                   help="the bootloader's rate (default: 115200, then 57600 for old Nanos)")
    return hw


# ---------------------------------------------------------------------- handlers


def cmd_ports(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from labkit.hw.discovery import find_ports

    out = out or sys.stdout
    ports = find_ports()
    shown = [p for p in ports if args.all or p.supported or p.board]
    if not shown:
        print("No boards found." + ("" if args.all else " (--all lists every serial port)"),
              file=out)
        print("Without boards, use the simulated pair: --tx sim --rx sim", file=out)
        return 1
    for p in shown:
        print(p.summary(), file=out)
    return 0


def cmd_doctor(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from labkit.hw.discovery import doctor, format_findings

    out = out or sys.stdout
    findings = doctor(args.ports or None)
    print(format_findings(findings), file=out)
    return 1 if any(f.level == "error" for f in findings) else 0


def _open_pair(tx: str, rx: str | None, wire: dict | None = None) -> tuple[Board, Board]:
    from labkit.hw.lab import open_pair

    return open_pair(tx, rx, pair="cli", wire=wire)


def cmd_selftest(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    from labkit.hw.selftest import DEFAULT_RATES, progress_bar, run_selftest
    from labkit.phy import CODES

    out, err = out or sys.stdout, err or sys.stderr
    live = hasattr(err, "isatty") and err.isatty()

    def progress(done: int, total: int, label: str) -> None:
        line = progress_bar(done, total, label)
        if live:
            print("\r" + line.ljust(70), end="" if done < total else "\n", file=err, flush=True)
        else:
            print(line, file=err)

    report_path = _report_path(args)
    try:
        tx, rx = _open_pair(args.tx, args.rx, getattr(args, "wire", None))
    except LabkitError as exc:
        print(f"labkit hw selftest: {exc}", file=err)
        return 2
    report = None
    failure: str | None = None
    try:
        for role, board in (("tx", tx), ("rx", rx)):  # open_pair has read each banner
            print(f"{role}: {board.name}: {board.banner.summary() if board.banner else '?'}", file=out)
        try:
            report = run_selftest(
                tx, rx, rates=args.rates or DEFAULT_RATES, codes=args.codes or CODES,
                rng=args.seed, progress=progress, receiver=args.receiver,
            )
        except LabkitError as exc:
            failure = str(exc)
        if report_path is not None:
            _write_report(report_path, tx, rx, report, args.seed, failure, out, err)
    finally:
        tx.close()
        rx.close()
    if report is None:
        print(f"labkit hw selftest: {failure}", file=err)
        return 2
    print(report.table(), file=out)
    return 0 if report.passed else 1


def _report_path(args: argparse.Namespace) -> str | None:
    from datetime import datetime

    from labkit.hw.selftest import is_real_port

    chosen = getattr(args, "report", None)
    if chosen == "-":
        return None
    if chosen:
        return str(chosen)
    if is_real_port(args.tx) and is_real_port(args.rx):
        return f"labkit-selftest-{datetime.now():%Y%m%d-%H%M%S}.json"
    return None


def _write_report(
    path: str, tx: Board, rx: Board, report: object, seed: int, failure: str | None,
    out: TextIO, err: TextIO,
) -> None:
    import json

    from labkit.hw.discovery import find_ports
    from labkit.hw.selftest import SelftestReport, board_record, evidence

    try:
        usb = {p.device: p for p in find_ports()}
    except Exception:  # noqa: BLE001  (listing ports is a bonus: a report without USB IDs is fine)
        usb = {}
    boards = [board_record(role, b, usb.get(b.name)) for role, b in (("tx", tx), ("rx", rx))]
    record = evidence(boards, report if isinstance(report, SelftestReport) else None, seed=seed,
                      errors=[failure] if failure else [])
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
    except OSError as exc:
        print(f"labkit hw selftest: could not write the report {path}: {exc}", file=err)
        return
    print(f"report written to {path} (send it to the labkit project as evidence)", file=out)


def cmd_send(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from labkit.hw.board import Board

    out = out or sys.stdout
    data = args.text.encode("utf-8")
    rx_port = args.rx or (args.tx if args.tx in ("sim", "twin") else None)
    try:
        if rx_port:
            tx, rx = _open_pair(args.tx, rx_port)
        else:
            tx, rx = Board.open(args.tx), None
    except LabkitError as exc:
        print(f"labkit hw send: {exc}", file=sys.stderr)
        return 2
    try:
        if rx is not None:
            rx.bridge_start(args.rate)
        real = tx.bridge_start(args.rate)
        tx.bridge_send(data, timeout=5 + 20 * len(data) / args.rate)
        tx.bridge_drain()
        print(f"sent {len(data)} bytes at {real:.0f} bit/s", file=out)
        if rx is not None:
            got = rx.bridge_recv(len(data), timeout=1 + 20 * len(data) / args.rate)
            print(f"received {len(got)} bytes: {got.decode('utf-8', 'replace')}", file=out)
            rx.bridge_stop()
        stats = tx.bridge_stop()
        if stats.not_sent:
            print(f"warning: {stats.not_sent} bytes were still queued", file=out)
        return 0 if rx is None or got == data else 1
    except LabkitError as exc:
        print(f"labkit hw send: {exc}", file=sys.stderr)
        return 2
    finally:
        tx.close()
        if rx is not None:
            rx.close()


def cmd_recv(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from labkit.hw.board import Board

    out = out or sys.stdout
    try:
        named = {"sim": "labkit-sim://cli/1", "twin": "labkit-twin://cli/1"}
        rx = Board.open(named.get(args.rx, args.rx))
    except LabkitError as exc:
        print(f"labkit hw recv: {exc}", file=sys.stderr)
        return 2
    try:
        rx.bridge_start(args.rate)
        got = b""
        deadline = rx.clock() + args.seconds
        while (left := deadline - rx.clock()) > 0:
            got += rx.bridge_recv(None, timeout=left)
        stats = rx.bridge_stop()
        got += rx.bridge_recv(None, timeout=0)
    except LabkitError as exc:
        print(f"labkit hw recv: {exc}", file=sys.stderr)
        return 2
    finally:
        rx.close()
    if not got:
        print(f"nothing arrived in {args.seconds:g} s", file=out)
        return 1
    print(got.decode("utf-8", "replace"), file=out)
    if stats.framing_errors:
        print(f"({stats.framing_errors} bytes lost to framing errors)", file=out)
    return 0


def cmd_flash(args: argparse.Namespace, out: TextIO | None = None,
              err: TextIO | None = None) -> int:
    from labkit.hw.selftest import progress_bar
    from labkit.hw.stk500 import flash

    out, err = out or sys.stdout, err or sys.stderr
    live = hasattr(err, "isatty") and err.isatty()
    port = "labkit-twin://flash/0?bootloader=atmegaboot" if args.port == "twin" else args.port
    text, source = None, "labkit_hw.hex"
    if args.hex:
        try:
            with open(args.hex, encoding="ascii", errors="replace") as f:
                text, source = f.read(), args.hex
        except OSError as exc:
            print(f"labkit hw flash: {args.hex}: {exc.strerror or exc}", file=err)
            return 2

    def progress(stage: str, done: int, total: int) -> None:
        line = progress_bar(done, total, stage)
        if live:
            print("\r" + line.ljust(70), end="" if done < total else "\n", file=err, flush=True)
        elif done == total or done == 1:
            print(line, file=err)

    try:
        result = flash(port, text, baudrate=args.baud, progress=progress, source=source)
    except LabkitError as exc:
        print(f"labkit hw flash: {exc}", file=err)
        return 2
    print(result.summary(), file=out)
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ports": cmd_ports, "doctor": cmd_doctor, "selftest": cmd_selftest, "send": cmd_send,
    "recv": cmd_recv, "flash": cmd_flash,
}


def run(args: argparse.Namespace) -> int:
    """Run ``labkit hw COMMAND`` (``args.hw_command``)."""
    return _COMMANDS[args.hw_command](args)
