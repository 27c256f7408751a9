"""pyserial URL handler for ``labkit-sim://PAIR/INDEX``: a port onto a simulated board.

``serial.serial_for_url("labkit-sim://lab/0")`` opens board 0 of the pair
called ``lab`` (created on first use, dropped when both its ports are
closed); ``.../1`` is the other board. Query parameters set the wire (for the
whole pair, on the first open) and the board:

=============================  ==============================================
``rc_us``, ``noise_mv``,        the wire, see :class:`labkit.hw.sim.WireModel`
``ppm0``, ``ppm1``, ``seed``,
``v_high``, ``v_low``,
``threshold``, ``delay_us``
``firmware=labkit|none|text``  what the board runs: labkit firmware, nothing
                               (a blank or crashed board), or another sketch
                               that prints text
``proto=MAJOR.MINOR``          the protocol version the board announces
``reset=0``                    opening the port does not reset the board (no
                               banner: the host has to ask with HELLO)
``boot_s=1.0``                 seconds from reset to the banner (bootloader)
=============================  ==============================================

Like a real port, a simulated port can be open only once at a time.
pyserial finds this module as ``protocol_labkit-sim`` (the URL scheme);
``labkit/hw/protocol_labkit-sim.py`` re-exports :class:`Serial` from here.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, TypedDict

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from labkit.hw import sim
from labkit.hw.errors import OPEN_IN_THIS_PROCESS
from labkit.hw.urls import PairURLError, split_pair_url

_PAIR_KEYS = {
    "rc_us": float, "noise_mv": float, "ppm0": float, "ppm1": float, "seed": int,
    "v_high": float, "v_low": float, "threshold": float, "delay_us": float,
}
_BOARD_KEYS = ("firmware", "proto", "reset", "boot_s")
UNPLUGGED = ("device reports readiness to read but returned no data (device disconnected or "
             "multiple access on port?)")

if TYPE_CHECKING:
    from typing_extensions import Buffer


class BoardOptions(TypedDict, total=False):
    """The board's options in a ``labkit-sim://`` URL (the rest set the wire)."""

    firmware: str
    proto: tuple[int, int]
    reset: bool
    boot_s: float


def parse_url(url: str) -> tuple[str, int, dict[str, Any], BoardOptions]:
    """Split ``labkit-sim://NAME/INDEX?k=v`` into (name, index, wire options, board options)."""
    try:
        name, index, options = split_pair_url(url, "labkit-sim")
    except PairURLError as exc:
        if exc.index:
            raise SerialException(
                errno.ENOENT, f"could not open port {url}: a simulated pair has boards 0 and 1"
            ) from None
        raise SerialException(str(exc)) from None
    wire: dict[str, Any] = {}  # WireModel's keyword arguments, converted by _PAIR_KEYS
    board: BoardOptions = {}
    for key, value in options:
        try:
            if key in _PAIR_KEYS:
                wire[key] = _PAIR_KEYS[key](value)
            elif key == "firmware":
                if value not in ("labkit", "none", "text"):
                    raise ValueError("firmware is labkit, none or text")
                board["firmware"] = value
            elif key == "proto":
                major, minor = value.split(".")
                board["proto"] = (int(major), int(minor))
            elif key == "reset":
                board["reset"] = value not in ("0", "false", "no")
            elif key == "boot_s":
                board["boot_s"] = float(value)
            else:
                known = sorted(_PAIR_KEYS) + list(_BOARD_KEYS)
                raise ValueError(f"unknown option (known: {known})")
        except ValueError as exc:
            raise SerialException(f"{url}: option {key}={value!r}: {exc}") from None
    return name, index, wire, board


class Serial(SerialBase):
    """A pyserial port whose other end is a :class:`labkit.hw.sim.SimBoard`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pyserial's SerialBase arguments
        self._board: sim.SimBoard | None = None
        super().__init__(*args, **kwargs)

    # -------------------------------------------------------------- open/close

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        url = self.portstr
        if self.port is None or url is None:
            raise SerialException("Port must be configured before it can be used.")
        name, index, wire, opts = parse_url(url)
        model = sim.WireModel(**wire) if wire else None
        try:
            pair = sim.get_pair(name, model)
        except ValueError as exc:
            raise SerialException(str(exc)) from None
        board = pair.boards[index]
        if board.is_open:
            raise SerialException(
                errno.EBUSY,
                f"could not open port {self.portstr}: [Errno 16] Device or resource busy "
                f"({OPEN_IN_THIS_PROCESS}: close the Board that holds it first)",
            )
        board.firmware = opts.get("firmware", board.firmware)
        board.proto = opts.get("proto", board.proto)
        board.reset_on_open = opts.get("reset", board.reset_on_open)
        board.boot_s = opts.get("boot_s", board.boot_s)
        board.is_open = True
        self._board = board
        self.is_open = True
        # Opening the port pulses DTR, which resets an Arduino (the "auto-reset").
        if board.reset_on_open:
            board.reset(pair.now)

    def close(self) -> None:
        board = self._board
        if board is not None:
            board.is_open = False
            pair = board.pair
            if not any(b.is_open for b in pair.boards):
                sim.drop_pair(pair.name)
            self._board = None
        self.is_open = False

    def from_url(self, url: str) -> str:
        parse_url(url)
        return url

    def _reconfigure_port(self) -> None:
        """Baud rate and framing do not matter to a simulated port."""

    # -------------------------------------------------------------- the clock

    @property
    def labkit_pair(self) -> sim.SimPair:
        return self._need().pair

    def labkit_clock(self) -> float:
        """The pair's virtual time in seconds (a Board uses it instead of the wall clock)."""
        return self._need().pair.now

    def _need(self) -> sim.SimBoard:
        if not self.is_open or self._board is None:
            raise PortNotOpenError()
        if self._board.unplugged:  # pyserial's own words when a device vanishes under a read
            raise SerialException(UNPLUGGED)
        return self._board

    # -------------------------------------------------------------- data

    @property
    def in_waiting(self) -> int:
        board = self._need()
        board.resolve(board.pair.now)
        board.deliver(board.pair.now)
        return len(board.host_buffer)

    def read(self, size: int = 1) -> bytes:
        board = self._need()
        board.pair.advance(board, size, self.timeout)
        data = bytes(board.host_buffer[:size])
        del board.host_buffer[:size]
        return data

    def write(self, b: Buffer, /) -> int:
        board = self._need()
        data = bytes(b)
        board.host_write(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        board = self._need()
        board.deliver(board.pair.now)
        board.host_buffer.clear()

    def reset_output_buffer(self) -> None:
        self._need()

    @property
    def out_waiting(self) -> int:
        self._need()
        return 0

    def flush(self) -> None:
        self._need()

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_break_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
