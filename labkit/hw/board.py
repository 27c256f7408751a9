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
from typing import TYPE_CHECKING, Protocol, TypedDict, TypeVar

import numpy as np
import serial

from labkit.errors import LabkitValueError, ParseError
from labkit.hw import protocol as P
from labkit.hw.errors import (
    BoardError,
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


def open_serial(port: str, *, timeout: float = 0.1, platform: str | None = None) -> serial.Serial:
    """Open ``port`` (a device name or a URL) with pyserial, turning failures into labkit errors."""
    platform = platform or sys.platform
    # exclusive: a second program opening a device gets "busy", as on Windows (None: pyserial's default).
    exclusive = True if "://" not in port and platform != "win32" else None
    try:
        return serial.serial_for_url(port, baudrate=P.HOST_BAUD, timeout=timeout, write_timeout=2.0,
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
        if "this python process" in lower:  # a simulated port, opened twice
            return PortBusyError(port, f"{port}: already open in this Python process; close "
                                 "the Board that holds it (board.close()) first")
        return PortBusyError(
            port, f"{port}: the port is in use by another program (the Arduino IDE's serial "
            "monitor, another notebook or terminal). Close it there, then try again."
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


class Board:
    """One board running the labkit firmware, reached through a serial port."""

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
        self.clock = clock or virtual or time.monotonic
        # A port with its own (virtual) clock lets time pass by exactly the read timeout;
        # a real port polls in short reads, so that its timeout is set once, not per read
        # (pyserial reconfigures the port whenever the timeout changes).
        self._exact_timeouts = virtual is not None
        self._parser = P.FrameParser(P.MAX_REPLY_PAYLOAD)
        self._frames: deque[P.Frame] = deque()
        self._bridge_rx = bytearray()
        self._bridge_rate = 0.0  # bit/s, once bridge_start() has run
        self._bridge_queued = 0  # bytes the board had queued at its last BRIDGE_ACK...
        self._bridge_queued_at = 0.0  # ...and when
        self._seq = 0
        self._armed: tuple[int, P.Sample, P.Armed] | None = None
        self.banner: P.Banner | None = None
        if connect:
            self.connect()

    @classmethod
    def open(cls, port: str, **kwargs: Unpack[BoardOptions]) -> Board:
        """Open a port by name (``/dev/ttyACM0``, ``COM3``, ``labkit-sim://lab/0``) and connect."""
        import labkit.hw  # noqa: F401  (registers the labkit-sim:// handler)

        ser = open_serial(port)
        try:
            return cls(ser, name=port, **kwargs)
        except BaseException:
            ser.close()
            raise

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = self.banner.summary() if self.banner else "not connected"
        return f"<Board {self.name}: {who}>"

    # ------------------------------------------------------------------ frames

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; 0 marks frames the board sends unasked
        return self._seq

    def _fill(self, deadline: float) -> bool:
        """Read what the port has (waiting at most until ``deadline``); False on timeout."""
        remaining = deadline - self.clock()
        if remaining <= 0:
            return False
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
        for item in self._parser.feed(data):
            if isinstance(item, tuple):
                kind, typ, seq = item
                reason = "CRC mismatch" if kind == "crc" else "impossible length"
                raise GarbledReplyError(
                    self.name, "frame", f"type=0x{typ:02X} seq={seq}",
                    f"{reason}: the reply was damaged on the way (loose USB cable? wrong baud "
                    f"rate? the firmware speaks at {P.HOST_BAUD} baud)",
                )
            self._frames.append(item)
        return True

    def read_frame(self, timeout: float | None = None) -> P.Frame | None:
        """The next frame from the board, or None when none came within ``timeout`` seconds."""
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        while not self._frames:
            if not self._fill(deadline):
                return None
        return self._frames.popleft()

    def send(self, typ: int, payload: bytes = b"") -> int:
        """Send one command frame; returns its sequence number."""
        seq = self._next_seq()
        self.serial.write(P.Frame(typ, seq, bytes(payload)).pack())
        return seq

    def wait_reply(self, seq: int, command: int, timeout: float) -> P.Frame:
        """Wait for the reply to ``seq``; board-initiated frames are handled on the way."""
        deadline = self.clock() + timeout
        name = P.TYPE_NAMES.get(command, f"0x{command:02X}")
        while True:
            while not self._frames:
                if not self._fill(deadline):
                    raise ReplyTimeoutError(
                        f"{self.name}: no reply to {name} within {timeout:g} s (is the board "
                        "still connected? `labkit hw doctor` checks)"
                    )
            f = self._frames.popleft()
            if f.seq == 0:
                if f.type == P.BRIDGE_RECV:
                    self._bridge_rx += f.payload
                    continue
                if f.type == P.BANNER:
                    raise BoardResetError(
                        f"{self.name}: the board restarted while waiting for {name} (another "
                        "program opened the port, or the supply dipped)"
                    )
            if f.seq != seq:
                continue  # a late reply to an earlier command that timed out
            if f.type == P.ERROR:
                self._raise_error(f, name)
            return f

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
        """Wait for the start-up banner (or ask for it) and check the protocol version."""
        deadline = self.clock() + self.reset_wait
        banner_frame = None
        while banner_frame is None:
            while self._frames:
                f = self._frames.popleft()
                if f.type == P.BANNER:
                    banner_frame = f
                    break
            if banner_frame is None and not self._fill(deadline):
                break
        if banner_frame is None:
            # The banner came before we opened the port (open() flushes it), or the
            # board did not reset: ask again.
            seq = self.send(P.HELLO)
            try:
                banner_frame = self.wait_reply(seq, P.HELLO, self.timeout)
            except ReplyTimeoutError:
                seen = bytes(self._parser.skipped[-200:])
                if seen:
                    text = seen.decode("ascii", "replace").strip()
                    msg = (
                        f"{self.name}: this board does not run labkit firmware; it printed "
                        f"{text[:60]!r}. Flash it: make -C hardware flash PORT={self.name}"
                    )
                else:
                    msg = (
                        f"{self.name}: the board said nothing in {self.reset_wait + self.timeout:g}"
                        f" s: no labkit firmware (flash it: make -C hardware flash "
                        f"PORT={self.name}), or not a board at all"
                    )
                raise NoFirmwareError(self.name, msg, seen) from None
        banner = self._check_banner(banner_frame)
        self.banner = banner
        return banner

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
        _int_in(b.size, 1, P.TX_MAX_BITS, "len(bits)")
        if idle is None:
            idle = default_idle(b, P.CODES[c])
        idle = _int_in(idle, 0, 1, "idle")
        cmd = P.Transmit.from_bits(b, rate, P.CODES[c], idle)
        duration = (b.size + 1) / rate
        f = self.request(P.TRANSMIT, cmd.pack(), timeout=self.timeout + duration * 1.1)
        return self._parse(f, P.TX_DONE, P.TxDone)

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
        n = _int_in(count, 1, P.ANALOG_MAX_COUNT if analog else P.DIGITAL_MAX_COUNT, "count")
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
        samples = self._parse(f, P.SAMPLES, P.Samples)
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
        self._bridge_rate = P.F_CPU / (4 * cycles) if cycles else float(rate)
        self._bridge_queued = 0
        return self._bridge_rate

    def bridge_send(self, data: bytes, *, timeout: float | None = None) -> None:
        """Queue bytes for the wire, 64 at a time, waiting while the board's queue is full."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        pos = 0
        while pos < len(data):
            chunk = data[pos : pos + P.BRIDGE_MAX_CHUNK]
            try:
                f = self.request(P.BRIDGE_DATA, chunk)
            except BoardError as exc:
                if exc.code != P.E_BUSY:
                    raise
                if self.clock() >= deadline:
                    raise ReplyTimeoutError(
                        f"{self.name}: the bridge queue stayed full; {len(data) - pos} bytes "
                        "not sent (is the bit rate very low?)"
                    ) from None
                self.read_frame(timeout=0.02)  # let time pass (and collect received bytes)
                continue
            ack = self._parse(f, P.BRIDGE_ACK, P.BridgeAck)
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
        while self.clock() < deadline:
            if not self._frames and not self._fill(deadline):
                break
            self._take_bridge_frames()
        self._bridge_queued = 0

    def _take_bridge_frames(self) -> None:
        """Move the bytes of every BRIDGE_RECV frame read so far into the receive buffer."""
        while self._frames:
            f = self._frames.popleft()
            if f.type == P.BRIDGE_RECV:
                self._bridge_rx += f.payload

    def bridge_recv(self, size: int | None = None, *, timeout: float | None = None) -> bytes:
        """Bytes that arrived over the wire: wait for ``size`` of them (or any) until timeout."""
        deadline = self.clock() + (self.timeout if timeout is None else timeout)
        want = 1 if size is None else size
        while len(self._bridge_rx) < want:
            if not self._frames and not self._fill(deadline):
                break
            self._take_bridge_frames()
        n = len(self._bridge_rx) if size is None else min(size, len(self._bridge_rx))
        out = bytes(self._bridge_rx[:n])
        del self._bridge_rx[:n]
        return out

    def bridge_stop(self) -> P.BridgeStats:
        """Leave bridge mode; returns the board's counters. Late bytes stay readable."""
        f = self.request(P.BRIDGE_STOP)
        return self._parse(f, P.BRIDGE_STATS, P.BridgeStats)
