"""Flashing a board through its bootloader: Intel HEX files and STK500 version 1.

An Arduino Uno (optiboot) and a Nano (optiboot, or the older ATmegaBOOT) carry a
bootloader that listens on the serial port for a second after a reset and
speaks a small part of Atmel's STK500 protocol, version 1 (application note
AVR061, "STK500 Communication Protocol"). :func:`flash` uses it to write a
program into the board's flash, the same on every system, with nothing but
pyserial: no avrdude, no toolchain.

- :func:`parse_hex` reads an Intel HEX file (what ``avr-objcopy -O ihex``
  writes) into a :class:`HexImage`, raising :class:`HexError` naming the line
  and the field on bad input;
- :class:`Stk500` speaks STK500v1 over an open port: reset (a DTR/RTS pulse,
  as the Uno's auto-reset capacitor turns it into a pulse on RESET), GET_SYNC
  with retries, READ_SIGN, LOAD_ADDRESS (in 16-bit words), PROG_PAGE and
  READ_PAGE (128-byte pages), LEAVE_PROGMODE; every read has a timeout;
- :func:`flash`: open the port, find the bootloader (115 200 baud, then
  57 600 for a Nano with the old bootloader), check the chip is an ATmega328P,
  write every page, read every page back and compare, start the program.

``labkit hw flash PORT`` runs :func:`flash` with the firmware shipped in the
package (:func:`firmware_hex`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from labkit.errors import LabkitValueError, ParseError
from labkit.hw.errors import BoardGoneError, HwError, ReplyTimeoutError

__all__ = [
    "ATMEGA328P",
    "BAUD_RATES",
    "FlashResult",
    "HexError",
    "HexImage",
    "NoSyncError",
    "PAGE_SIZE",
    "Stk500",
    "Stk500Error",
    "VerifyError",
    "WrongChipError",
    "firmware_hex",
    "flash",
    "parse_hex",
]

# ---------------------------------------------------------------------- Intel HEX

#: Record types (Intel, "Hexadecimal Object File Format Specification", rev. A).
DATA, END_OF_FILE, EXTENDED_SEGMENT_ADDRESS, START_SEGMENT_ADDRESS = 0x00, 0x01, 0x02, 0x03
EXTENDED_LINEAR_ADDRESS, START_LINEAR_ADDRESS = 0x04, 0x05
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_RECORD_LENGTHS = {END_OF_FILE: 0, EXTENDED_SEGMENT_ADDRESS: 2, START_SEGMENT_ADDRESS: 4,
                   EXTENDED_LINEAR_ADDRESS: 2, START_LINEAR_ADDRESS: 4}


class HexError(ParseError):
    """An Intel HEX file is damaged: ``line`` (from 1) and ``field`` say where."""

    def __init__(self, source: str, line: int, field: str, value: object, reason: str) -> None:
        self.source = source
        self.line = line
        super().__init__("ihex", field, value, f"{reason} ({source}, line {line})")


@dataclass(frozen=True)
class HexImage:
    """The bytes an Intel HEX file puts into memory: ``data[address] = byte``."""

    data: dict[int, int]

    @property
    def size(self) -> int:
        """How many bytes the file gives."""
        return len(self.data)

    @property
    def end(self) -> int:
        """One past the highest address the file writes (0 for an empty file)."""
        return max(self.data) + 1 if self.data else 0

    def pages(self, page_size: int = 128) -> list[tuple[int, bytes]]:
        """The pages the file touches, as (byte address, ``page_size`` bytes), in order;
        bytes the file leaves out are 0xFF, as erased flash reads."""
        starts = sorted({a - a % page_size for a in self.data})
        return [(s, bytes(self.data.get(a, 0xFF) for a in range(s, s + page_size)))
                for s in starts]


def _hex_field(source: str, line: int, text: str, start: int, end: int, field: str) -> int:
    digits = text[start:end]
    if len(digits) != end - start or not all(c in _HEX_DIGITS for c in digits):
        # (int(x, 16) alone would take "+1", "1_0" and non-ASCII digits)
        raise HexError(source, line, field, digits, "not hexadecimal digits")
    return int(digits, 16)


def parse_hex(text: str | bytes, source: str = "<hex>", max_size: int = 32_768) -> HexImage:
    """Parse an Intel HEX file; every address must be below ``max_size``.

    Accepts the record types avr-objcopy writes (data, end of file, extended
    segment and linear addresses, start addresses, which flash ignores). Raises
    :class:`HexError` for a short line, a character that is no hexadecimal
    digit, a byte count that does not match the line, a bad checksum, an
    unknown record type, a byte written twice with different values, an
    address past ``max_size``, anything after the end-of-file record, or no
    end-of-file record at all (a cut-off file).
    """
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise HexError(source, raw[: exc.start].count(b"\n") + 1, "text",
                           raw[exc.start: exc.start + 1], "an Intel HEX file is ASCII text") from None
    data: dict[int, int] = {}
    base = 0
    ended = 0
    for number, record in enumerate(text.splitlines(), start=1):
        line = record.strip()
        if not line:
            continue
        if ended:
            raise HexError(source, number, "record", line[:20],
                           f"after the end-of-file record on line {ended}")
        if line[0] != ":":
            raise HexError(source, number, "start code", line[:1], "a record starts with ':'")
        if len(line) < 11:
            raise HexError(source, number, "length", len(line),
                           "a record has at least 11 characters (:LLAAAATTCC)")
        count = _hex_field(source, number, line, 1, 3, "byte count")
        if len(line) != 11 + 2 * count:
            raise HexError(source, number, "byte count", count,
                           f"the line has {(len(line) - 11) / 2:g} data bytes")
        values = [_hex_field(source, number, line, i, i + 2,
                             "checksum" if i == len(line) - 2 else "data")
                  for i in range(1, len(line), 2)]
        if sum(values) & 0xFF:
            want = -sum(values[:-1]) & 0xFF
            raise HexError(source, number, "checksum", f"{values[-1]:02X}",
                           f"the record's bytes need checksum {want:02X}")
        address, kind, payload = values[1] << 8 | values[2], values[3], values[4:-1]
        if kind == DATA:
            for i, byte in enumerate(payload):
                where = base + address + i
                if where >= max_size:
                    raise HexError(source, number, "address", f"0x{where:X}",
                                   f"past the end of {max_size} bytes of flash")
                if data.get(where, byte) != byte:
                    raise HexError(source, number, "address", f"0x{where:X}",
                                   "written twice with different bytes")
                data[where] = byte
        elif kind in _RECORD_LENGTHS:
            if count != _RECORD_LENGTHS[kind]:
                raise HexError(source, number, "byte count", count,
                               f"record type {kind:02X} has {_RECORD_LENGTHS[kind]} bytes")
            if kind == END_OF_FILE:
                ended = number
            elif kind == EXTENDED_SEGMENT_ADDRESS:
                base = (payload[0] << 8 | payload[1]) << 4
            elif kind == EXTENDED_LINEAR_ADDRESS:
                base = (payload[0] << 8 | payload[1]) << 16
        else:
            raise HexError(source, number, "record type", f"{kind:02X}",
                           "known types are 00 to 05")
    if not ended:
        raise HexError(source, max(1, len(text.splitlines())), "record", "end of file",
                       "no end-of-file record (:00000001FF): the file is cut off")
    return HexImage(data)


def firmware_hex() -> str:
    """The labkit-hw firmware shipped in the package (``labkit/hw/firmware/labkit_hw.hex``,
    built by ``make -C hardware`` from ``hardware/firmware/labkit_hw/firmware.c``)."""
    return resources.files("labkit.hw").joinpath("firmware/labkit_hw.hex").read_text("ascii")


# ---------------------------------------------------------------------- STK500v1

#: AVR061's names for the bytes the Arduino bootloaders understand.
STK_OK, STK_FAILED, STK_UNKNOWN, STK_NODEVICE = 0x10, 0x11, 0x12, 0x13
STK_INSYNC, STK_NOSYNC, CRC_EOP = 0x14, 0x15, 0x20
STK_GET_SYNC, STK_ENTER_PROGMODE, STK_LEAVE_PROGMODE = 0x30, 0x50, 0x51
STK_LOAD_ADDRESS, STK_PROG_PAGE, STK_READ_PAGE, STK_READ_SIGN = 0x55, 0x64, 0x74, 0x75
MEMTYPE_FLASH = ord("F")

#: The ATmega328P's signature bytes (datasheet, 28.3), and others a board may carry.
ATMEGA328P = bytes([0x1E, 0x95, 0x0F])
KNOWN_CHIPS = {
    ATMEGA328P: "ATmega328P",
    bytes([0x1E, 0x95, 0x14]): "ATmega328 (not P)",
    bytes([0x1E, 0x94, 0x06]): "ATmega168",
    bytes([0x1E, 0x93, 0x07]): "ATmega8",
    bytes([0x1E, 0x98, 0x01]): "ATmega2560 (Mega 2560)",
    bytes([0x1E, 0x95, 0x87]): "ATmega32U4 (Leonardo, Micro)",
}
#: The ATmega328P's flash page, bytes (datasheet, 27.5).
PAGE_SIZE = 128
#: The program's room: 32 KiB less the 512-byte optiboot bootloader (the Uno's 32 256).
APP_SIZE = 32_256
#: Where the bootloaders listen: optiboot (Uno, new Nano) at 115 200, ATmegaBOOT (old Nano) 57 600.
BAUD_RATES = (115_200, 57_600)
#: The program's room behind each: optiboot takes 512 bytes, ATmegaBOOT 2048 (from 0x7800).
APP_SIZES = {115_200: APP_SIZE, 57_600: 30_720}


class Stk500Error(HwError):
    """The bootloader did not do what was asked (a reply out of sync, a failed command)."""

    def __init__(self, port: str, message: str) -> None:
        self.port = port
        super().__init__(message)


class NoSyncError(Stk500Error):
    """No bootloader answered GET_SYNC: the wrong port, or the board did not reset into it."""


class WrongChipError(Stk500Error):
    """The bootloader answered, but its chip is not the ATmega328P the firmware is built for."""

    def __init__(self, port: str, signature: bytes) -> None:
        self.signature = signature
        name = KNOWN_CHIPS.get(signature, "an unknown chip")
        super().__init__(
            port, f"{port}: the board's chip is {name} (signature {signature.hex(' ').upper()}), "
            f"not the ATmega328P (1E 95 0F) of an Uno or Nano; labkit's firmware does not run on "
            "it (hardware/README.md, Bill of materials)"
        )


class VerifyError(Stk500Error):
    """A page read back differs from what was written."""

    def __init__(self, port: str, address: int, wrote: int, read: int) -> None:
        self.address = address
        self.wrote = wrote
        self.read = read
        super().__init__(
            port, f"{port}: verify failed at flash address 0x{address:04X}: wrote "
            f"0x{wrote:02X}, read back 0x{read:02X}; flash again (a flaky USB cable or hub is "
            "the usual cause)"
        )


class Stk500Timeout(Stk500Error, ReplyTimeoutError):
    """The bootloader stopped answering in the middle of a command."""


class SerialLike(Protocol):
    """What :class:`Stk500` needs of a port (a :class:`serial.Serial`, or a test's fake)."""

    timeout: float | None
    dtr: bool
    rts: bool

    def read(self, size: int = 1, /) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...


Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``"write"`` or ``"verify"``, pages so far, pages."""


class Stk500:
    """STK500v1 over an open port, as the Arduino bootloaders speak it.

    ``clock`` (default :func:`time.monotonic`) counts the timeouts; a port with
    a ``labkit_clock`` (the twin's) lends its own, simulated, clock. Every read
    waits at most ``timeout`` seconds; a missing reply raises
    :class:`Stk500Timeout` naming the command, never hangs.
    """

    def __init__(self, port: SerialLike, name: str = "port", *, timeout: float = 1.0,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.port = port
        self.name = name
        self.timeout = timeout
        self.clock = clock or getattr(port, "labkit_clock", None) or time.monotonic
        self.sleep = sleep

    # -------------------------------------------------------------- bytes

    def _read(self, n: int, command: str, timeout: float | None = None) -> bytes:
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        got = bytearray()
        while len(got) < n:
            left = deadline - self.clock()
            if left <= 0:
                raise Stk500Timeout(
                    self.name, f"{self.name}: the bootloader stopped answering {command}: "
                    f"{len(got)} of {n} bytes in {self.timeout if timeout is None else timeout:g} s"
                    f"{' (' + bytes(got).hex(' ') + ')' if got else ''}"
                )
            try:
                got += self.port.read(n - len(got))
            except OSError as exc:  # pyserial's SerialException is an OSError
                raise self._gone(command, exc) from None
        return bytes(got)

    def _gone(self, command: str, exc: BaseException) -> BoardGoneError:
        return BoardGoneError(
            self.name, f"{self.name}: the port went away during {command} ({exc}): the USB "
            "cable came out, or the board lost power. Plug it back in and flash again (the "
            "bootloader, which flashing never writes, still answers)"
        )

    def command(self, name: str, request: bytes, reply_size: int = 0,
                timeout: float | None = None) -> bytes:
        """Send ``request`` + CRC_EOP; check STK_INSYNC, ``reply_size`` bytes, STK_OK."""
        try:
            self.port.write(request + bytes([CRC_EOP]))
        except OSError as exc:
            raise self._gone(name, exc) from None
        first = self._read(1, name, timeout)
        if first[0] != STK_INSYNC:
            what = "STK_NOSYNC" if first[0] == STK_NOSYNC else f"0x{first[0]:02X}"
            raise Stk500Error(self.name, f"{self.name}: the bootloader answered {name} with "
                              f"{what}, not STK_INSYNC (0x14): out of step")
        body = self._read(reply_size + 1, name, timeout)
        if body[-1] != STK_OK:
            what = {STK_FAILED: "STK_FAILED", STK_UNKNOWN: "STK_UNKNOWN",
                    STK_NODEVICE: "STK_NODEVICE"}.get(body[-1], f"0x{body[-1]:02X}")
            raise Stk500Error(self.name, f"{self.name}: the bootloader refused {name}: {what}")
        return body[:-1]

    # -------------------------------------------------------------- steps

    def reset(self, low_s: float = 0.25, after_s: float = 0.05) -> None:
        """Pulse DTR and RTS: on an Uno or Nano a capacitor makes it a pulse on RESET.

        A port without modem lines (a pseudo-terminal) cannot: then the board must
        already be in its bootloader (or be reset by hand, just before).
        """
        for level in (False, True):
            try:
                self.port.dtr = level
                self.port.rts = level
            except OSError:
                return
            self.sleep(low_s if not level else after_s)

    def sync(self, attempts: int = 10, timeout: float = 0.2) -> None:
        """GET_SYNC until the bootloader answers in sync (``attempts`` tries)."""
        for _ in range(attempts):
            self.port.reset_input_buffer()
            try:
                self.command("GET_SYNC", bytes([STK_GET_SYNC]), timeout=timeout)
                return
            except Stk500Error:
                continue
        raise NoSyncError(
            self.name, f"{self.name}: no bootloader answered ({attempts} tries of GET_SYNC): "
            "is this the board's port (labkit hw ports), and is nothing else using it? A board "
            "that does not reset when its port opens needs its RESET button pressed just before."
        )

    def signature(self) -> bytes:
        """READ_SIGN: the chip's three signature bytes."""
        return self.command("READ_SIGN", bytes([STK_READ_SIGN]), 3)

    def check_chip(self) -> None:
        sig = self.signature()
        if sig != ATMEGA328P:
            raise WrongChipError(self.name, sig)

    def load_address(self, address: int) -> None:
        """LOAD_ADDRESS: the next page's flash address (a byte address, sent in words)."""
        if address % 2 or not 0 <= address < 0x20000:
            raise LabkitValueError(f"address=0x{address:X}: an even flash address below 128 KiB")
        word = address // 2
        self.command("LOAD_ADDRESS", bytes([STK_LOAD_ADDRESS, word & 0xFF, word >> 8]))

    def program_page(self, address: int, data: bytes) -> None:
        """PROG_PAGE: write one page of flash at ``address``."""
        self.load_address(address)
        n = len(data)
        self.command("PROG_PAGE", bytes([STK_PROG_PAGE, n >> 8, n & 0xFF, MEMTYPE_FLASH]) + data)

    def read_page(self, address: int, size: int = PAGE_SIZE) -> bytes:
        """READ_PAGE: ``size`` bytes of flash from ``address``."""
        self.load_address(address)
        return self.command("READ_PAGE",
                            bytes([STK_READ_PAGE, size >> 8, size & 0xFF, MEMTYPE_FLASH]), size)

    def enter(self) -> None:
        self.command("ENTER_PROGMODE", bytes([STK_ENTER_PROGMODE]))

    def leave(self) -> None:
        """LEAVE_PROGMODE: the bootloader starts the program (optiboot within 16 ms)."""
        self.command("LEAVE_PROGMODE", bytes([STK_LEAVE_PROGMODE]))

    def write_image(self, image: HexImage, progress: Progress | None = None,
                    verify: bool = True) -> int:
        """Write every page of ``image``, then read every page back; returns the pages."""
        pages = image.pages(PAGE_SIZE)
        for i, (address, data) in enumerate(pages):
            self.program_page(address, data)
            if progress:
                progress("write", i + 1, len(pages))
        if verify:
            for i, (address, data) in enumerate(pages):
                got = self.read_page(address, len(data))
                if got != data:
                    at = next(k for k in range(len(data)) if got[k] != data[k])
                    raise VerifyError(self.name, address + at, data[at], got[at])
                if progress:
                    progress("verify", i + 1, len(pages))
        return len(pages)


@dataclass(frozen=True)
class FlashResult:
    """What :func:`flash` did."""

    port: str
    baudrate: int
    signature: bytes
    pages: int
    size: int  #: bytes of program

    def summary(self) -> str:
        return (f"{self.port}: wrote and verified {self.size} bytes ({self.pages} pages of "
                f"{PAGE_SIZE}) at {self.baudrate} baud; the board now runs the new program")


@contextmanager
def _open(port: str, rate: int) -> Iterator[SerialLike]:
    """``port`` opened at ``rate`` (closed again however the block ends)."""
    from labkit.hw.board import open_serial

    ser = open_serial(port, baudrate=rate, timeout=0.05)
    try:
        yield ser
    finally:
        ser.close()


def flash(port: str, hex_text: str | None = None, *, baudrate: int | None = None,
          progress: Progress | None = None, source: str = "labkit_hw.hex",
          attempts: int = 10) -> FlashResult:
    """Flash ``hex_text`` (default: the shipped firmware) into the board on ``port``.

    Tries each of :data:`BAUD_RATES` in turn (or only ``baudrate``): opens the
    port, resets the board, syncs; then checks the chip, writes, verifies and
    leaves programming mode. Raises :class:`NoSyncError` when no bootloader
    answered at any rate, :class:`WrongChipError`, :class:`VerifyError`, a
    :class:`~labkit.hw.errors.PortError` when the port does not open,
    :class:`~labkit.hw.errors.BoardGoneError` when it goes away while in use, and
    :class:`HexError` before touching the board when the file is damaged.
    """
    if hex_text is None:
        hex_text, source = firmware_hex(), "labkit/hw/firmware/labkit_hw.hex"
    image = parse_hex(hex_text, source, max_size=APP_SIZE)
    if not image.size:
        raise HexError(source, 1, "data", 0, "the file holds no bytes to flash")
    rates = (baudrate,) if baudrate else BAUD_RATES
    last: NoSyncError | None = None
    for rate in rates:
        with _open(port, rate) as ser:
            stk = Stk500(ser, port)
            stk.reset()
            try:
                stk.sync(attempts)
            except NoSyncError as exc:
                last = exc
                continue
            stk.check_chip()
            room = APP_SIZES.get(rate, APP_SIZE)
            if image.end > room:
                raise Stk500Error(port, f"{port}: the program ends at 0x{image.end:04X}, past "
                                  f"the {room} bytes this board's bootloader leaves it (the "
                                  f"bootloader at {rate} baud starts at 0x{room:04X})")
            stk.enter()
            pages = stk.write_image(image, progress)
            stk.leave()
            return FlashResult(port, rate, ATMEGA328P, pages, image.size)
    assert last is not None
    tried = " and ".join(f"{r}" for r in rates)
    raise NoSyncError(port, f"{last} (tried {tried} baud)")
