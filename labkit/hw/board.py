"""A labkit board on a serial port: the host side of ``hardware/PROTOCOL.md``.

::

    with Board.open("labkit-sim://lab/0") as tx, Board.open("labkit-sim://lab/1") as rx:
        rx.arm(rate=8000, count=800, trigger="any")
        tx.transmit(bits, bit_rate=1000, code="manchester")
        samples = rx.fetch()

The same code drives a real Uno (``Board.open("/dev/ttyACM0")``, ``"COM3"``)
and a simulated one. Every read has a deadline, so nothing hangs: a board
that says nothing raises :class:`~labkit.hw.errors.ReplyTimeoutError` (or
:class:`~labkit.hw.errors.NoFirmwareError` when it never said who it is).

Time comes from the port when the port has its own clock (the simulated
boards' virtual time), and from :func:`time.monotonic` otherwise; pass
``clock=`` to choose.
"""

from __future__ import annotations

import errno
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar

import numpy as np
import serial

from labkit.errors import LabkitValueError, ParseError
from labkit.hw import protocol as P
from labkit.hw.errors import (
    OPEN_IN_THIS_PROCESS,
    BaudMismatchError,
    BoardError,
    BoardGoneError,
    BoardResetError,
    GarbledReplyError,
    HwError,
    LinkSilentError,
    NoFirmwareError,
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    ReplyTimeoutError,
    VersionMismatchError,
)
from labkit.phy import _validate

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["Board", "BoardOptions", "SerialPort", "open_serial", "default_idle"]

#: How long a real board takes from the port opening (auto-reset) to its banner:
#: the bootloader waits about 0.5 s (Uno, optiboot) to 2 s (old Nano bootloader).
RESET_WAIT_S = 3.0
#: How long one read on a real port waits before the driver checks its deadline again.
POLL_S = 0.05
#: HELLOs sent before giving up, when the board answers one with a framing error (a stray
#: byte before it had started a frame that swallowed the HELLO).
HELLO_TRIES = 3
#: Baud rates tried, after a silent or garbled handshake, to tell a baud mismatch from a
#: board without firmware: other firmware builds (make HOST_BAUD=...) and common sketch rates.
PROBE_BAUDS = (P.HOST_BAUD, 115_200, 57_600, 230_400, 250_000, 1_000_000, 9600)
#: How long each of those probes waits for a banner.
PROBE_WAIT_S = 0.3
#: ERROR codes by which the board says it dropped a damaged frame (not a refused command).
FRAMING_ERRORS = (P.E_CRC, P.E_TOO_LONG, P.E_FRAME_TIMEOUT)
#: Times one BRIDGE_DATA chunk is sent again after the board dropped it as a damaged or
#: incomplete frame (it queued none of it, so sending it again loses and doubles nothing).
BRIDGE_RESENDS = 3


class SerialPort(Protocol):
    """What a :class:`Board` needs of its port: a pyserial ``Serial``, or a test's stand-in."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def close(self) -> None: ...


class BoardOptions(TypedDict, total=False):
    """The keyword arguments that :meth:`Board.open` passes on to :class:`Board`."""

    timeout: float
    reset_wait: float
    clock: Callable[[], float] | None
    connect: bool


_Reply = TypeVar("_Reply", covariant=True)


class _ReplyType(Protocol[_Reply]):
    """A reply class of :mod:`labkit.hw.protocol`: it parses its payload."""

    def parse(self, payload: bytes, /) -> _Reply: ...


def open_serial(
    port: str, *, timeout: float = 0.1, platform: str | None = None, baudrate: int = P.HOST_BAUD
) -> serial.Serial:
    """Open ``port`` (a device name or a URL) with pyserial, turning failures into labkit errors."""
    platform = platform or sys.platform
    # exclusive: a second program opening a device gets "busy", as on Windows (None: pyserial's default).
    exclusive = True if "://" not in port and platform != "win32" else None
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=timeout, write_timeout=2.0,
                                     exclusive=exclusive)
    except ValueError as exc:  # "invalid URL, protocol 'x' not known"
        raise PortNotFoundError(
            port, f"{port}: {exc}; real ports are named like /dev/ttyACM0 or COM3, simulated ones "
            "labkit-sim://PAIR/0 (import labkit.hw first)"
        ) from None
    except (serial.SerialException, OSError) as exc:
        raise port_error(port, exc, platform) from None


def port_error(port: str, exc: BaseException, platform: str | None = None) -> HwError:
    """Explain why a port did not open (the cases `labkit hw doctor` also checks)."""
    platform = platform or sys.platform
    text = str(exc)
    code = getattr(exc, "errno", None)
    lower = text.lower()
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "filenotfounderror" in lower or (
        "no such file" in lower
    ) or "cannot find the file" in lower:
        return PortNotFoundError(
            port, f"{port}: no such port. Is the board plugged in? `labkit hw ports` lists the "
            "serial ports this computer has."
        )
    in_use = (
        code in (errno.EBUSY, errno.EAGAIN)
        or "busy" in lower
        or "exclusively lock" in lower
        or "access is denied" in lower
        or (platform == "win32" and (code == errno.EACCES or "permissionerror" in lower))
    )
    if in_use:
        if OPEN_IN_THIS_PROCESS.lower() in lower:  # a simulated or twin port, opened twice
            return PortBusyError(port, f"{port}: {OPEN_IN_THIS_PROCESS}; close the Board that "
                                 "holds it (board.close()) first")
        return PortBusyError(
            port, f"{port}: the port is in use by another program (the Arduino IDE's serial "
            "monitor, another notebook or terminal). Close it there, then try again."
        )
    if "semaphore timeout" in lower or getattr(exc, "winerror", None) == 121:
        return PortNotFoundError(  # Windows: ERROR_SEM_TIMEOUT, the USB-serial chip stopped answering
            port, f"{port}: the port did not answer (Windows: \"the semaphore timeout period has "
            "expired\"): the board's USB connection hung. Unplug the board, wait 5 s, plug it back "
            "in (another USB port or cable if it happens again), then try again."
        )
    if code == errno.EACCES or "permission denied" in lower:
        hint = (
            "add yourself to the dialout group (sudo usermod -aG dialout $USER), then log out "
            "and in again" if platform.startswith("linux") else "check the port's permissions"
        )
        return PortPermissionError(port, f"{port}: permission denied: {hint}.")
    return PortNotFoundError(port, f"{port}: could not open the port: {text}")


def default_idle(bits: np.ndarray, code: str) -> int:
    """The resting level that makes the first half-bit an edge (a receiver triggers on it)."""
    if bits.size == 0:
        return 0
    b0 = int(bits[0])
    if code == "nrz-l":
        return 1 - b0
    if code == "manchester":
        return b0  # the first half carries the complement of the bit
    return 0  # NRZ-I: the level flips at a 1 (start the frame with a 1)


def _choice(value: object, names: tuple[str, ...], what: str) -> int:
    if isinstance(value, str):
        key = value.strip().lower()
        if what == "code":
            key = _validate.code_name(key)
        if key in names:
            return names.index(key)
    raise LabkitValueError(f"{what}={value!r}: choose one of {names}")


def _int_in(value: object, lo: int, hi: int, what: str, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise LabkitValueError(f"{what}={value!r}: expected a whole number")
    if not lo <= int(value) <= hi:
        raise LabkitValueError(
            f"{what}={value!r}: the firmware accepts {lo}..{hi}{unit} (PROTOCOL.md, Limits)"
        )
    return int(value)


class _Resync(Exception):
    """The board dropped a damaged frame while a command was awaited (internal)."""


class Board:
    """One board running the labkit firmware, reached through a serial port.

    Every frame the driver reads goes where it belongs, whatever it is waiting
    for: bytes from the wire (BRIDGE_RECV) into :meth:`bridge_recv`'s buffer,
    the reply to a pending capture to :meth:`fetch`, a start-up banner in the
    middle of a conversation to a :class:`BoardResetError`; only late replies
    to commands that timed out are dropped.
    """

    def __init__(
        self,
        port: SerialPort,
        *,
        name: str | None = None,
        timeout: float = 1.0,
        reset_wait: float = RESET_WAIT_S,
        clock: Callable[[], float] | None = None,
        connect: bool = True,
    ) -> None:
        self.serial = port
        self.name = name or str(getattr(port, "portstr", None) or getattr(port, "port", "port"))
        self.timeout = timeout
        self.reset_wait = reset_wait
        virtual = getattr(port, "labkit_clock", None)
        # A virtual clock reads the port (the twin's shared memory): when the port goes, so
        # does the clock, and that is the board going away.
        self.clock = clock or (self._guarded(virtual) if virtual is not None else time.monotonic)
        # A port with its own (virtual) clock lets time pass by exactly the read timeout;
        # a real port polls in short reads, so that its timeout is set once, not per read
        # (pyserial reconfigures the port whenever the timeout changes).
        self._exact_timeouts = virtual is not None
        self._parser = P.FrameParser(P.MAX_REPLY_PAYLOAD)
        self._frames: deque[P.Frame] = deque()  # read, not yet taken (BRIDGE_RECV never waits here)
        self._damaged = 0  # frames that failed their CRC or length check so far
        self._tolerate_damage = False  # while connecting: damage is a clue, not an error
        self.unasked_errors: deque[P.ErrorReply] = deque(maxlen=8)  #: ERRORs the board sent with seq 0
        self._bridge_rx = bytearray()
        self._bridge_rate = 0.0  # bit/s, once bridge_start() has run
        self._bridge_queued = 0  # bytes the board had queued at its last BRIDGE_ACK...
        self._bridge_queued_at = 0.0  # ...and when
        self._seq = 0
        self._armed: tuple[int, P.Sample, P.Armed] | None = None
        self._receiving: tuple[int, P.Receive] | None = None
        self._scoping: tuple[int, P.Scope] | None = None
        self.banner: P.Banner | None = None
        if connect:
            self.connect()

    @classmethod
    def open(cls, port: str, *, baudrate: int = P.HOST_BAUD, **kwargs: Unpack[BoardOptions]) -> Board:
        """Open a port by name (``/dev/ttyACM0``, ``COM3``, ``labkit-sim://lab/0``) and connect.

        ``baudrate`` is the host link's rate: PROTOCOL.md's 500 000 unless the firmware
        was built with another ``HOST_BAUD``.
        """
        import labkit.hw  # noqa: F401  (registers the labkit-sim:// handler)

        ser = open_serial(port, baudrate=baudrate)
        try:
            return cls(ser, name=port, **kwargs)
        except BaseException:
            ser.close()
            raise

    def close(self) -> None:
        try:
            self.serial.close()
        except (OSError, serial.SerialException):
            pass  # the port is already gone (unplugged): nothing left to close

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = self.banner.summary() if self.banner else "not connected"
        return f"<Board {self.name}: {who}>"

    # ------------------------------------------------------------------ what the board says it is

    @property
    def f_cpu(self) -> int:
        """The board's clock in Hz, from its banner (PROTOCOL.md's 16 MHz before the handshake)."""
        return self.banner.f_cpu if self.banner is not None and self.banner.f_cpu else P.F_CPU

    @property
    def max_tx_bits(self) -> int:
        """The most bits one TRANSMIT may carry, from the banner."""
        return self.banner.max_tx_bits if self.banner is not None else P.TX_MAX_BITS

    @property
    def max_digital_samples(self) -> int:
        return self.banner.max_digital_samples if self.banner is not None else P.DIGITAL_MAX_COUNT

    @property
    def max_analog_samples(self) -> int:
        return self.banner.max_analog_samples if self.banner is not None else P.ANALOG_MAX_COUNT

    # ------------------------------------------------------------------ frames

    def _gone(self, exc: BaseException) -> BoardGoneError:
        reason = str(exc).strip() or type(exc).__name__
        return BoardGoneError(
            self.name, f"{self.name}: the port went away while in use ({reason}). Was the USB "
            "cable pulled out, or the board's power lost? Plug it back in, then open the board "
            "again.",
        )

    def _guarded(self, clock: Callable[[], float]) -> Callable[[], float]:
        def now() -> float:
            try:
                return clock()
            except (OSError, serial.SerialException, HwError) as exc:
                raise self._gone(exc) from exc

        return now

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; 0 marks frames the board sends unasked
        return self._seq

    def _fill(self, deadline: float) -> bool:
        """Read what the port has (waiting at most until ``deadline``); False on timeout.

        Bytes from the wire (BRIDGE_RECV) go straight to the bridge's receive buffer;
        every other frame waits in ``_frames`` for whoever takes it.
        """
        remaining = deadline - self.clock()
        if remaining <= 0:
            return False
        try:
            if self._exact_timeouts:
                self.serial.timeout = min(remaining, 0.5)
            elif self.serial.timeout != POLL_S:
                self.serial.timeout = POLL_S
            waiting = 0
            try:
                waiting = self.serial.in_waiting
            except (OSError, serial.SerialException):
                waiting = 0
            data = self.serial.read(max(1, min(waiting, 4096)))
        except BoardGoneError:
            raise
        except (OSError, serial.SerialException, HwError) as exc:  # unplugged; the twin stopped
            raise self._gone(exc) from exc
        damaged: tuple[str, int, int] | None = None
        for item in self._parser.feed(data):
            if isinstance(item, tuple):
                self._damaged += 1
                damaged = damaged or item
            elif item.seq == 0 and item.type == P.BRIDGE_RECV:
                self._bridge_rx += item.payload
            else:
                self._frames.append(item)
        if damaged is not None and not self._tolerate_damage:  # after keeping every good frame
            kind, typ, seq = damaged
            reason = "CRC mismatch" if kind == "crc" else "impossible length"
            raise GarbledReplyError(
                self.name, "frame", f"type=0x{typ:02X} seq={seq}",
                f"{reason}: the reply was damaged on the way (loose USB cable? wrong baud "
                f"rate? the firmware speaks at {P.HOST_BAUD} baud)",
            )
        return True

    def _next_frame(self, deadline: float) -> P.Frame | None:
        while not self._frames:
            if not self._fill(deadline):
                return None
        return self._frames.popleft()

    def read_frame(self, timeout: float | None = None) -> P.Frame | None:
        """The next frame from the board, or None when none came within ``timeout`` seconds.

        Bytes from the wire are not frames here: they wait for :meth:`bridge_recv`.
        """
        return self._next_frame(self.clock() + (self.timeout if timeout is None else timeout))

    def send(self, typ: int, payload: bytes = b"") -> int:
        """Send one command frame; returns its sequence number."""
        seq = self._next_seq()
        try:
            self.serial.write(P.Frame(typ, seq, bytes(payload)).pack())
        except serial.SerialTimeoutException:
            raise ReplyTimeoutError(
                f"{self.name}: the port took no bytes for 2 s (the board's USB chip is stuck: "
                "unplug the board and plug it back in)"
            ) from None
        except (OSError, serial.SerialException) as exc:
            raise self._gone(exc) from exc
        return seq

    def _reset_error(self, waiting_for: str) -> BoardResetError:
        self._armed = None
        self._receiving = None
        self._scoping = None
        self._bridge_rate = 0.0
        return BoardResetError(
            f"{self.name}: the board restarted while waiting for {waiting_for} (another "
            "program opened the port, or the supply dipped)"
        )

    def _unasked(self, f: P.Frame, waiting_for: str) -> None:
        """A frame the board sent with seq 0 (BRIDGE_RECV never gets here)."""
        if f.type == P.BANNER:
            raise self._reset_error(waiting_for)
        if f.type == P.ERROR:  # a damaged frame whose seq the board never read
            try:
                self.unasked_errors.append(P.ErrorReply.parse(f.payload))
            except ParseError:
                pass

    def _take_unasked(self, waiting_for: str) -> None:
        """Handle the seq-0 frames read so far; replies stay queued for :meth:`wait_reply`."""
        if any(f.seq == 0 for f in self._frames):
            frames, self._frames = self._frames, deque()
            for f in frames:
                if f.seq == 0:
                    self._unasked(f, waiting_for)
                else:
                    self._frames.append(f)

    def _pump(self, deadline: float, done: Callable[[], bool] = lambda: False) -> None:
        """Read until ``done()`` or ``deadline``, every frame going where it belongs."""
        while not done():
            self._take_unasked("bytes from the wire")
            if not self._fill(deadline):
                break
        self._take_unasked("bytes from the wire")

    def wait_reply(self, seq: int, command: int, timeout: float, *, resync: bool = False) -> P.Frame:
        """Wait for the reply to ``seq``; every other frame read meanwhile goes where it belongs.

        With ``resync``, a framing error from the board (a damaged frame dropped, which may
        have swallowed this command) ends the wait early (internal :class:`_Resync`).
        """
        deadline = self.clock() + timeout
        name = P.TYPE_NAMES.get(command, f"0x{command:02X}")
        kept: list[P.Frame] = []  # the reply to a pending capture, for fetch()
        try:
            while True:
                f = self._next_frame(deadline)
                if f is None:
                    raise ReplyTimeoutError(
                        f"{self.name}: no reply to {name} within {timeout:g} s (is the board "
                        "still connected? `labkit hw doctor` checks)"
                    )
                if f.seq == 0:
                    self._unasked(f, name)
                    if resync and f.type == P.ERROR and f.payload[:1] and f.payload[0] in FRAMING_ERRORS:
                        raise _Resync
                    continue
                if f.seq != seq:
                    if self._armed is not None and f.seq == self._armed[0]:
                        kept.append(f)
                    elif resync and f.type == P.ERROR and f.payload[:1] and f.payload[0] in FRAMING_ERRORS:
                        raise _Resync
                    continue  # a late reply to an earlier command that timed out
                if f.type == P.ERROR:
                    self._raise_error(f, name)
                return f
        finally:
            self._frames.extendleft(reversed(kept))

    def _raise_error(self, f: P.Frame, name: str) -> None:
        err = self._parse(f, P.ERROR, P.ErrorReply)
        if err.code == P.E_TRIGGER_TIMEOUT:
            raise LinkSilentError(
                f"{self.name}: no edge reached the receiver in time (trigger timeout). Check "
                "the wire: transmitter D7 to receiver D8 (and A0), and a common ground (GND to "
                "GND); did the transmitter really send?"
            )
        cmd = P.TYPE_NAMES.get(err.command, name)
        raise BoardError(self.name, err.code, cmd, err.text, err.field_name)

    def request(self, typ: int, payload: bytes = b"", *, timeout: float | None = None) -> P.Frame:
        """Send a command and return its reply frame (an ERROR reply raises)."""
        seq = self.send(typ, payload)
        return self.wait_reply(seq, typ, self.timeout if timeout is None else timeout)

    def _parse(self, f: P.Frame, typ: int, cls: _ReplyType[_Reply]) -> _Reply:
        """The reply's payload as ``cls``, or GarbledReplyError naming what was wrong."""
        payload = self._expect(f, typ)
        try:
            return cls.parse(payload)
        except ParseError as exc:
            raise GarbledReplyError(self.name, exc.field, exc.value, exc.reason) from None

    def _expect(self, f: P.Frame, typ: int) -> bytes:
        if f.type != typ:
            raise GarbledReplyError(
                self.name, "type", f.name, f"expected {P.TYPE_NAMES[typ]} for this command"
            )
        return f.payload

    # ------------------------------------------------------------------ handshake

    def connect(self) -> P.Banner:
        """Wait for the start-up banner (or ask for it) and check the protocol version.

        A board that answers HELLO with a framing error (a stray byte had begun a frame
        that swallowed the HELLO) is asked again, up to :data:`HELLO_TRIES` times. A board
        that stays silent, or whose bytes arrive garbled, is asked at other baud rates
        (:data:`PROBE_BAUDS`), so that a baud mismatch is named as one.
        """
        self._tolerate_damage = True
        try:
            banner_frame = self._handshake(self.reset_wait)
            if banner_frame is None:
                raise self._no_banner()
        finally:
            self._tolerate_damage = False
        banner = self._check_banner(banner_frame)
        self.banner = banner
        return banner

    def _handshake(self, banner_wait: float) -> P.Frame | None:
        """The BANNER frame: sent after the reset, or in reply to HELLO; None if neither came."""
        deadline = self.clock() + banner_wait
        while True:
            f = self._next_frame(deadline)
            if f is None:
                break
            if f.type == P.BANNER:
                return f
            if f.seq == 0:
                self._unasked(f, "the banner")
        # The banner came before we opened the port (open() flushes it), or the board
        # did not reset: ask.
        for _ in range(HELLO_TRIES):
            seq = self.send(P.HELLO)
            try:
                return self.wait_reply(seq, P.HELLO, self.timeout, resync=True)
            except _Resync:
                continue  # the board has dropped the damaged frame: it listens again
            except ReplyTimeoutError:
                return None
            except BoardError as exc:
                if exc.code not in FRAMING_ERRORS:
                    raise
        return None

    def _no_banner(self) -> HwError:
        """Why no banner came: a baud mismatch, another sketch, or no firmware at all."""
        seen = bytes(self._parser.skipped[-200:])
        text = seen.decode("ascii", "replace").strip()
        printable = sum(32 <= c < 127 or c in (9, 10, 13) for c in seen)
        if seen and printable >= 0.9 * len(seen) and text:  # another sketch, at this very rate
            return NoFirmwareError(
                self.name, f"{self.name}: this board does not run labkit firmware; it printed "
                f"{text[:60]!r}. Flash it: labkit hw flash {self.name}", seen,
            )
        host_baud = getattr(self.serial, "baudrate", None)
        if isinstance(host_baud, int):
            found = self._probe_bauds(host_baud)
            if found == P.HOST_BAUD:
                return BaudMismatchError(
                    self.name, f"{self.name}: baud mismatch: the board answers at {found} baud "
                    f"(PROTOCOL.md's rate), this port was opened at {host_baud}: open it at "
                    f"{found} baud (Board.open's default)", host_baud, found, seen,
                )
            if found is not None:
                return BaudMismatchError(
                    self.name, f"{self.name}: baud mismatch: the board answers at {found} baud, "
                    f"this port was opened at {host_baud}. Its labkit firmware was built for "
                    f"{found} baud (make HOST_BAUD={found}); flash the firmware from this labkit "
                    f"(labkit hw flash {self.name}), which speaks {P.HOST_BAUD}, or "
                    f"open it at its rate: Board.open({self.name!r}, baudrate={found})",
                    host_baud, found, seen,
                )
        if seen or self._damaged:
            rate = host_baud if isinstance(host_baud, int) else P.HOST_BAUD
            return BaudMismatchError(
                self.name, f"{self.name}: baud mismatch: bytes arrive but garbled "
                f"({seen[:12].hex(' ') or 'damaged frames'}) at {rate} baud, and no labkit "
                "banner came at any other common rate: the board talks at another rate (a sketch "
                f"of its own?). Flash the labkit firmware: labkit hw flash {self.name}",
                rate, None, seen,
            )
        return NoFirmwareError(
            self.name, f"{self.name}: the board said nothing in {self.reset_wait + self.timeout:g}"
            f" s: no labkit firmware (flash it: labkit hw flash {self.name}), or not "
            "a board at all", seen,
        )

    def _probe_bauds(self, host_baud: int) -> int | None:
        """The baud rate at which the board answers HELLO with a banner, if another one does."""
        port: Any = self.serial  # a pyserial port: the caller saw its int baudrate
        found = None
        for rate in PROBE_BAUDS:
            if rate == host_baud:
                continue
            try:
                port.baudrate = rate
            except (ValueError, OSError, serial.SerialException):
                continue  # a rate this port cannot make
            self._parser = P.FrameParser(P.MAX_REPLY_PAYLOAD)
            self._frames.clear()
            seq = self.send(P.HELLO)
            try:
                f = self.wait_reply(seq, P.HELLO, PROBE_WAIT_S, resync=True)
            except _Resync:
                seq = self.send(P.HELLO)
                try:
                    f = self.wait_reply(seq, P.HELLO, PROBE_WAIT_S)
                except HwError:
                    continue
            except HwError:
                continue
            if f.type == P.BANNER:
                found = rate
                break
        try:
            port.baudrate = host_baud
        except (ValueError, OSError, serial.SerialException):
            pass
        return found

    def _check_banner(self, f: P.Frame) -> P.Banner:
        banner = self._parse(f, P.BANNER, P.Banner)
        if banner.name != P.FIRMWARE_NAME:
            raise NoFirmwareError(
                self.name, f"{self.name}: the board runs {banner.name!r}, not labkit-hw firmware"
            )
        if banner.proto_major != P.PROTO_MAJOR:
            raise VersionMismatchError(
                self.name, banner.protocol, f"{P.PROTO_MAJOR}.{P.PROTO_MINOR}"
            )
        return banner

    def hello(self) -> P.Banner:
        """Ask the board who it is (HELLO -> BANNER)."""
        banner = self._check_banner(self.request(P.HELLO))
        self.banner = banner
        return banner

    def ping(self, data: bytes = b"") -> bytes:
        """Echo up to 64 bytes (PING -> PONG); checks that they come back unchanged."""
        if not isinstance(data, (bytes, bytearray)) or len(data) > P.PING_MAX:
            raise LabkitValueError(f"data: up to {P.PING_MAX} bytes, got {data!r:.40}")
        back = self._expect(self.request(P.PING, bytes(data)), P.PONG)
        if back != bytes(data):
            raise GarbledReplyError(self.name, "PONG", back.hex(), "the echo differs from the ping")
        return back

    # ------------------------------------------------------------------ transmit

    def transmit(
        self,
        bits: object,
        bit_rate: int,
        code: str = "manchester",
        *,
        idle: int | None = None,
    ) -> P.TxDone:
        """Put ``bits`` on the wire (pin D7) at ``bit_rate`` bit/s with a line code."""
        b = _validate.bits(bits)
        c = _choice(code, P.CODES, "code")
        rate = _int_in(bit_rate, P.TX_MIN_RATE, P.TX_MAX_RATE, "bit_rate", " bit/s")
        _int_in(b.size, 1, self.max_tx_bits, "len(bits)")
        if idle is None:
            idle = default_idle(b, P.CODES[c])
        idle = _int_in(idle, 0, 1, "idle")
        cmd = P.Transmit.from_bits(b, rate, P.CODES[c], idle)
        duration = (b.size + 1) / rate
        f = self.request(P.TRANSMIT, cmd.pack(), timeout=self.timeout + duration * 1.1)
        return replace(self._parse(f, P.TX_DONE, P.TxDone), f_cpu=self.f_cpu)

    # ------------------------------------------------------------------ sample

    def arm(
        self,
        rate: int,
        count: int,
        *,
        mode: str = "digital",
        trigger: str = "now",
        timeout_ms: int = 2000,
    ) -> P.Armed:
        """Start a capture (SAMPLE -> ARMED); collect it with :meth:`fetch`.

        ``mode``: ``"digital"`` (pin D8, 0/1) or ``"analog"`` (pin A0, 8-bit ADC).
        ``trigger``: ``"now"``, or wait up to ``timeout_ms`` for an ``"any"``,
        ``"rising"`` or ``"falling"`` edge on D8; the edge is sample 0.
        """
        m = _choice(mode, P.MODES, "mode")
        t = _choice(trigger, P.TRIGGERS, "trigger")
        analog = m == 1
        r = _int_in(rate, P.SAMPLE_MIN_RATE, P.ANALOG_MAX_RATE if analog else P.DIGITAL_MAX_RATE,
                    "rate", " samples/s")
        n = _int_in(count, 1, self.max_analog_samples if analog else self.max_digital_samples, "count")
        ms = _int_in(timeout_ms, 1 if t else 0, P.MAX_TIMEOUT_MS, "timeout_ms", " ms")
        cmd = P.Sample(m, t, r, n, ms)
        seq = self.send(P.SAMPLE, cmd.pack())
        f = self.wait_reply(seq, P.SAMPLE, self.timeout)
        armed = self._parse(f, P.ARMED, P.Armed)
        self._armed = (seq, cmd, armed)
        return armed

    def fetch(self) -> P.Samples:
        """Wait for the capture started by :meth:`arm` and return its samples."""
        if self._armed is None:
            raise LabkitValueError("fetch(): no capture is armed; call arm() first")
        seq, cmd, armed = self._armed
        self._armed = None
        wait = (cmd.timeout_ms / 1000 if cmd.trigger else 0) + (cmd.count + 2) / cmd.rate
        f = self.wait_reply(seq, P.SAMPLE, self.timeout + wait * 1.1)
        samples = replace(self._parse(f, P.SAMPLES, P.Samples), f_cpu=self.f_cpu)
        if samples.count != cmd.count or samples.mode != cmd.mode:
            raise GarbledReplyError(
                self.name, "SAMPLES.count", samples.count, f"asked for {cmd.count} samples"
            )
        return samples

    def sample(
        self, rate: int, count: int, *, mode: str = "digital", trigger: str = "now", timeout_ms: int = 2000
    ) -> P.Samples:
        """Capture samples and wait for them (:meth:`arm` then :meth:`fetch`)."""
        self.arm(rate, count, mode=mode, trigger=trigger, timeout_ms=timeout_ms)
        return self.fetch()

    # ------------------------------------------------------------------ scope

    def scope_arm(
        self,
        delay_cycles: int,
        period_cycles: int,
        count: int,
        *,
        trigger: str = "rising",
        timeout_ms: int = 2000,
    ) -> P.Scope:
        """Start SCOPE (-> ARMED): ``count`` ADC samples of A0, ``delay_cycles`` CPU cycles after
        the ``trigger`` edge on D8, then one every ``period_cycles``; collect with
        :meth:`scope_fetch`. Equivalent-time captures: :mod:`labkit.hw.scope`."""
        t = _choice(trigger, P.TRIGGERS, "trigger")
        if t == 0:
            raise LabkitValueError("trigger='now': SCOPE needs an edge to time its samples from")
        d = _int_in(delay_cycles, P.SCOPE_MIN_DELAY, 65_535, "delay_cycles", " cycles")
        p = _int_in(period_cycles, P.SCOPE_MIN_PERIOD, 65_535, "period_cycles", " cycles")
        n = _int_in(count, 1, self.max_analog_samples, "count")
        ms = _int_in(timeout_ms, 1, P.MAX_TIMEOUT_MS, "timeout_ms", " ms")
        cmd = P.Scope(t, d, p, n, ms)
        seq = self.send(P.SCOPE, cmd.pack())
        f = self.wait_reply(seq, P.SCOPE, self.timeout)
        self._parse(f, P.ARMED, P.Armed)
        self._scoping = (seq, cmd)
        return cmd

    def scope_fetch(self) -> P.Samples:
        """Wait for the samples of :meth:`scope_arm` (SAMPLES, analog)."""
        if self._scoping is None:
            raise LabkitValueError("scope_fetch(): no scope is armed; call scope_arm() first")
        seq, cmd = self._scoping
        self._scoping = None
        wait = cmd.timeout_ms / 1000 + (cmd.delay_cycles + cmd.count * cmd.period_cycles) / self.f_cpu
        f = self.wait_reply(seq, P.SCOPE, self.timeout + wait * 1.1)
        samples = replace(self._parse(f, P.SAMPLES, P.Samples), f_cpu=self.f_cpu)
        if samples.count != cmd.count or samples.mode != 1:
            raise GarbledReplyError(
                self.name, "SAMPLES.count", samples.count, f"asked for {cmd.count} analog samples"
            )
        return samples

    # ------------------------------------------------------------------ receive

    def receive_arm(
        self, bit_rate: int, nbits: int, code: str = "manchester", *, idle: int = 0, timeout_ms: int = 2000
    ) -> P.Receive:
        """Start the board's own receiver (RECEIVE -> ARMED); collect the bits with :meth:`receive_fetch`.

        The board timestamps every edge on D8 with Timer1's input capture and decodes
        ``nbits`` bits of ``code`` from the first edge away from ``idle`` on.
        """
        c = _choice(code, P.CODES, "code")
        rate = _int_in(bit_rate, P.RX_MIN_RATE, P.TX_MAX_RATE, "bit_rate", " bit/s")
        n = _int_in(nbits, 1, self.max_tx_bits, "nbits")
        i = _int_in(idle, 0, 1, "idle")
        ms = _int_in(timeout_ms, 1, P.MAX_TIMEOUT_MS, "timeout_ms", " ms")
        cmd = P.Receive(c, i, rate, n, ms)
        seq = self.send(P.RECEIVE, cmd.pack())
        f = self.wait_reply(seq, P.RECEIVE, self.timeout)
        self._parse(f, P.ARMED, P.Armed)
        self._receiving = (seq, cmd)
        return cmd

    def receive_fetch(self) -> P.Received:
        """Wait for the frame armed by :meth:`receive_arm` and return the decoded bits."""
        if self._receiving is None:
            raise LabkitValueError("receive_fetch(): no receiver is armed; call receive_arm() first")
        seq, cmd = self._receiving
        self._receiving = None
        wait = cmd.timeout_ms / 1000 + (cmd.nbits + 12) / cmd.bit_rate
        f = self.wait_reply(seq, P.RECEIVE, self.timeout + wait * 1.1)
        payload = self._expect(f, P.RECEIVED)
        try:
            return P.Received.parse(payload, cmd.nbits)
        except ParseError as exc:
            raise GarbledReplyError(self.name, exc.field, exc.value, exc.reason) from None

    # ------------------------------------------------------------------ bridge

    def bridge_start(self, bit_rate: int = 9600) -> float:
        """Enter byte-bridge mode; returns the bit rate the timer really makes."""
        rate = _int_in(bit_rate, P.BRIDGE_MIN_RATE, P.BRIDGE_MAX_RATE, "bit_rate", " bit/s")
        f = self.request(P.BRIDGE, rate.to_bytes(4, "little"))
        payload = self._expect(f, P.BRIDGE_ON)
        if len(payload) != 4:
            raise GarbledReplyError(self.name, "BRIDGE_ON.length", len(payload), "4 bytes expected")
        cycles = int.from_bytes(payload, "little")
        self._bridge_rx.clear()
        self._bridge_rate = self.f_cpu / (4 * cycles) if cycles else float(rate)
        self._bridge_queued = 0
        return self._bridge_rate

    def bridge_send(self, data: bytes, *, timeout: float | None = None) -> None:
        """Queue bytes for the wire, 64 at a time, waiting while the board's queue is full."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        pos = 0
        resends = 0
        while pos < len(data):
            chunk = data[pos : pos + P.BRIDGE_MAX_CHUNK]
            try:
                f = self.request(P.BRIDGE_DATA, chunk)
            except BoardError as exc:
                if exc.code in FRAMING_ERRORS and resends < BRIDGE_RESENDS:
                    # The frame reached the board damaged or in pieces (a loaded host can
                    # stall mid-frame past the firmware's 100 ms): it queued nothing.
                    resends += 1
                    continue
                if exc.code != P.E_BUSY:
                    raise
                if self.clock() >= deadline:
                    raise ReplyTimeoutError(
                        f"{self.name}: the bridge queue stayed full; {len(data) - pos} bytes "
                        "not sent (is the bit rate very low?)"
                    ) from None
                # Let the chunk's worth of bytes leave on the wire; what arrives meanwhile
                # (bytes from the other board) goes to bridge_recv's buffer.
                room = len(chunk) * 10 / self._bridge_rate if self._bridge_rate else 0.02
                self._pump(min(deadline, self.clock() + max(room, 0.002)))
                continue
            ack = self._parse(f, P.BRIDGE_ACK, P.BridgeAck)
            resends = 0
            self._bridge_queued = ack.queued
            self._bridge_queued_at = self.clock()
            pos += len(chunk)

    def bridge_drain(self) -> None:
        """Wait until the bytes queued by :meth:`bridge_send` have left on the wire.

        BRIDGE_STOP drops what is still queued, so call this before it. Bytes that
        arrive meanwhile are kept for :meth:`bridge_recv`.
        """
        queued = self._bridge_queued
        if not queued or not self._bridge_rate:
            return
        # 10 bit times per byte, plus one byte for the one on the wire, plus 10 %.
        deadline = self._bridge_queued_at + (queued + 1) * 10 / self._bridge_rate * 1.1
        self._pump(deadline)
        self._bridge_queued = 0

    def bridge_recv(self, size: int | None = None, *, timeout: float | None = None) -> bytes:
        """Bytes that arrived over the wire: wait for ``size`` of them (or any) until timeout."""
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        want = 1 if size is None else size
        self._pump(deadline, lambda: len(self._bridge_rx) >= want)
        n = len(self._bridge_rx) if size is None else min(size, len(self._bridge_rx))
        out = bytes(self._bridge_rx[:n])
        del self._bridge_rx[:n]
        return out

    def bridge_stop(self) -> P.BridgeStats:
        """Leave bridge mode; returns the board's counters. Late bytes stay readable."""
        f = self.request(P.BRIDGE_STOP)
        return self._parse(f, P.BRIDGE_STATS, P.BridgeStats)
