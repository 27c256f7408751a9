"""Finding boards on this computer, and a doctor that explains what it finds.

:func:`find_ports` lists serial ports with what their USB IDs say they are
(an Uno's own ATmega16U2 chip, or the CH340 / FTDI / CP210x chips of Nano and
clone boards). :func:`doctor` then tries each likely board: can the port be
opened (busy? permission?), does the board announce labkit firmware after
its auto-reset, in which protocol version.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from labkit.hw import protocol as P
from labkit.hw.errors import (
    HwError,
    NoFirmwareError,
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    VersionMismatchError,
)

__all__ = ["USB_IDS", "LINUX_SERVICES", "FoundPort", "Finding", "find_ports", "doctor",
           "format_findings"]

#: (vendor id, product id) -> (what it is, whether it is an ATmega328P board the firmware runs on)
USB_IDS: dict[tuple[int, int], tuple[str, bool]] = {
    (0x2341, 0x0043): ("Arduino Uno R3 (ATmega16U2 USB chip)", True),
    (0x2341, 0x0001): ("Arduino Uno (ATmega8U2 USB chip)", True),
    (0x2341, 0x0243): ("Genuino Uno", True),
    (0x2A03, 0x0043): ("Arduino Uno (arduino.org)", True),
    (0x1A86, 0x7523): ("CH340 USB-serial chip (Nano or Uno clone)", True),
    (0x1A86, 0x5523): ("CH341 USB-serial chip (clone board)", True),
    (0x0403, 0x6001): ("FTDI FT232R USB-serial chip (Nano 3.0, older boards)", True),
    (0x10C4, 0xEA60): ("Silicon Labs CP210x USB-serial chip (clone board)", True),
    (0x2341, 0x0010): ("Arduino Mega 2560 (ATmega2560: not supported)", False),
    (0x2341, 0x0042): ("Arduino Mega 2560 R3 (ATmega2560: not supported)", False),
    (0x2341, 0x0058): ("Arduino Nano Every (ATmega4809: not supported)", False),
    (0x2341, 0x0069): ("Arduino Uno R4 Minima (Renesas RA4M1: not supported)", False),
    (0x2341, 0x1002): ("Arduino Uno R4 WiFi (Renesas RA4M1: not supported)", False),
}


@dataclass(frozen=True)
class FoundPort:
    device: str
    description: str
    vid: int | None
    pid: int | None
    board: str | None  #: what the USB IDs say, None when unknown
    supported: bool  #: an ATmega328P board (or a USB-serial chip such boards use)
    serial_number: str | None = None  #: the USB serial number, which tells two Unos apart

    def summary(self) -> str:
        ids = f"{self.vid:04X}:{self.pid:04X}" if self.vid is not None else "no USB IDs"
        what = self.board or self.description or "unknown device"
        return f"{self.device:<16} {ids:<10} {what}"


@dataclass(frozen=True)
class Finding:
    level: str  #: "ok", "warn" or "error"
    port: str | None
    text: str


class PortInfo(Protocol):
    """A port as pyserial's ``list_ports.comports()`` lists it (``vid``, ``pid``, ``description``
    are read when present)."""

    @property
    def device(self) -> str: ...


class OpenedBoard(Protocol):
    """What :func:`doctor` reads of a board that opened (a :class:`~labkit.hw.Board`)."""

    @property
    def banner(self) -> P.Banner | None: ...

    def close(self) -> None: ...


def _comports() -> list[PortInfo]:
    from serial.tools import list_ports

    return list(list_ports.comports())


def find_ports(comports: Callable[[], Iterable[PortInfo]] | None = None) -> list[FoundPort]:
    """Serial ports on this computer (or from ``comports()``), likely boards first."""
    found = []
    for info in (comports or _comports)():
        vid: int | None = getattr(info, "vid", None)
        pid: int | None = getattr(info, "pid", None)
        known = USB_IDS.get((vid, pid)) if vid is not None and pid is not None else None
        board, supported = known if known is not None else (None, False)
        desc = getattr(info, "description", "") or ""
        if board is None and "arduino" in desc.lower():
            board, supported = desc, True
        serial_number: str | None = getattr(info, "serial_number", None)
        found.append(FoundPort(info.device, desc, vid, pid, board, supported, serial_number))
    found.sort(key=lambda p: (not p.supported, p.board is None, p.device))
    return found


def _linux_services() -> set[str]:
    """Programs that fight over new serial ports on Linux: those running (ModemManager,
    brltty) and brltty's udev rule, installed by default on Ubuntu desktops."""
    found = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:
            continue
        if name in ("ModemManager", "brltty"):
            found.add(name)
    for rules in ("/usr/lib/udev/rules.d/85-brltty.rules", "/lib/udev/rules.d/85-brltty.rules"):
        if Path(rules).exists():
            found.add("brltty")
    return found


#: What doctor says about each program of :func:`_linux_services`.
LINUX_SERVICES = {
    "ModemManager": (
        "ModemManager is running: for about 10 s after a board is plugged in it opens the "
        "port to look for a modem (and sends AT commands to it), so the port is busy or the "
        "board gets bytes it did not expect. Wait 10 s after plugging in, or stop it for the "
        "lab: sudo systemctl stop ModemManager"
    ),
    "brltty": (
        "brltty (a braille display driver) is installed: on Ubuntu it claims CH340 boards, "
        "whose /dev/ttyUSB0 then vanishes a second after it appears (dmesg: \"interface 0 "
        "claimed by ch341 while 'brltty' sets config\"). Without a braille display, remove "
        "it: sudo apt remove brltty"
    ),
}

NO_BOARD_HINT = "Without boards, the simulated pair runs the lab: labkit hw selftest --tx sim --rx sim"


def _mac_cu(ports: list[FoundPort]) -> tuple[list[FoundPort], list[Finding]]:
    """On macOS each USB serial device is two files: keep the ``cu.`` one, drop ``tty.``.

    Opening both would reset the board twice; a ``tty.`` device also waits for a carrier
    signal (DCD) that an Arduino never gives, so its open can hang.
    """
    devices = {p.device for p in ports}
    kept, notes = [], []
    for p in ports:
        head, sep, tail = p.device.rpartition("/tty.")
        if sep:
            cu = f"{head}/cu.{tail}"
            if cu in devices:
                continue  # the same board: doctor checks it once, as cu.
            notes.append(Finding("warn", p.device, f"use {cu}, not {p.device}: on macOS the "
                                 "tty. device waits for a carrier signal a board never gives"))
        kept.append(p)
    return kept, notes


def _in_dialout() -> bool | None:
    try:
        import grp

        gid = grp.getgrnam("dialout").gr_gid
    except (ImportError, KeyError):
        return None
    return gid in os.getgroups()


def doctor(
    ports: Iterable[str] | None = None,
    *,
    comports: Callable[[], Iterable[PortInfo]] | None = None,
    opener: Callable[[str], OpenedBoard] | None = None,
    platform: str | None = None,
    in_dialout: Callable[[], bool | None] = _in_dialout,
    linux_services: Callable[[], set[str]] = _linux_services,
) -> list[Finding]:
    """Check each port (or each likely board) and explain what is wrong, if anything."""
    platform = platform or sys.platform
    if opener is None:
        from labkit.hw.board import Board

        opener = Board.open
    findings: list[Finding] = []
    if platform.startswith("linux"):
        running = linux_services()
        findings += [Finding("warn", None, LINUX_SERVICES[name]) for name in sorted(running)
                     if name in LINUX_SERVICES]
    if ports is None:
        found = find_ports(comports)
        if platform == "darwin":
            found, notes = _mac_cu(found)
            findings += notes
        if not found:
            findings.append(Finding(
                "error", None,
                "No serial ports at all. Plug the board in with a USB cable that carries data "
                "(some cables only charge). Linux: `dmesg | tail` should show ttyACM0 or "
                "ttyUSB0 appear; Windows/macOS with a CH340 clone board: install the CH340 "
                f"driver. {NO_BOARD_HINT}",
            ))
            return findings
        for p in found:
            if p.supported:
                findings.append(Finding("ok", p.device, f"looks like a board: {p.board}"))
            elif p.board:
                findings.append(Finding("warn", p.device, f"{p.board}; the labkit firmware "
                                        "needs an ATmega328P board (Uno or Nano)"))
        candidates = [p.device for p in found if p.supported]
        if not candidates:
            listing = ", ".join(
                f"{p.device} ({p.board or p.description or 'unknown device'})" for p in found
            )
            findings.append(Finding(
                "error", None,
                f"Serial ports exist ({listing}) but none looks like an Uno or Nano. Name the "
                f"port yourself: labkit hw doctor PORT. {NO_BOARD_HINT}",
            ))
            return findings
    else:
        candidates = list(ports)
        if platform == "darwin":
            for port in candidates:
                head, sep, tail = port.rpartition("/tty.")
                if sep:
                    findings.append(Finding(
                        "warn", port, f"use {head}/cu.{tail}, not {port}: on macOS the tty. "
                        "device waits for a carrier signal a board never gives",
                    ))
    for port in candidates:
        findings.append(_check_port(port, opener, platform, in_dialout))
    return findings


def _check_port(
    port: str, opener: Callable[[str], OpenedBoard], platform: str, in_dialout: Callable[[], bool | None]
) -> Finding:
    try:
        board = opener(port)
    except PortNotFoundError as exc:
        return Finding("error", port, str(exc))
    except PortBusyError:
        return Finding(
            "error", port,
            "in use by another program: close the Arduino IDE's serial monitor (or the other "
            "notebook, screen, minicom...) and try again",
        )
    except PortPermissionError:
        text = "permission denied."
        if platform.startswith("linux"):
            member = in_dialout()
            if member is False:
                text += (
                    " You are not in the dialout group: sudo usermod -aG dialout $USER, then "
                    "log out and back in."
                )
            else:
                text += " Check the device's group and mode (ls -l the port)."
        return Finding("error", port, text)
    except NoFirmwareError as exc:
        if exc.seen:
            shown = exc.seen.decode("ascii", "replace").strip()[:50]
            text = (f"a board, but running another sketch (it printed {shown!r}); flash the "
                    f"labkit firmware: labkit hw flash {port}")
        else:
            text = (f"no answer after the auto-reset wait: no labkit firmware (flash it: labkit "
                    f"hw flash {port}, which also finds a Nano's old bootloader at 57600 baud)")
        return Finding("error", port, text)
    except VersionMismatchError as exc:
        return Finding(
            "error", port,
            f"labkit firmware, but protocol {exc.board_version} (this labkit speaks "
            f"{exc.host_version}); flash this labkit's firmware: labkit hw flash {port}",
        )
    except HwError as exc:
        return Finding("error", port, str(exc))
    try:
        banner = board.banner
        summary = banner.summary() if banner is not None else "labkit firmware"
    finally:
        board.close()
    return Finding(
        "ok", port,
        f"{summary} (protocol {P.PROTO_MAJOR}.{P.PROTO_MINOR} expected). Opening the port "
        "resets an Uno or Nano; the driver waits for its start-up banner (up to 3 s).",
    )


def format_findings(findings: Iterable[Finding]) -> str:
    marks = {"ok": "ok  ", "warn": "warn", "error": "FAIL"}
    lines = []
    for f in findings:
        where = f"{f.port}: " if f.port else ""
        lines.append(f"[{marks.get(f.level, f.level)}] {where}{f.text}")
    return "\n".join(lines)
