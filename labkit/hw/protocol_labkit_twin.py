"""pyserial URL handler for ``labkit-twin://NAME/INDEX``: a port onto an emulated board.

``serial.serial_for_url("labkit-twin://lab/0")`` starts the twin ``lab``
(:class:`labkit.hw.twin.Twin`: the real firmware on two simavr boards) if it
is not running yet, and opens board 0's pseudo-terminal; ``.../1`` is the
other board. Closing both ports stops the twin. Query parameters set the
wire on the first open (``rc_us``, ``noise_mv``, ``delay_us``, ``ppm0``,
``ppm1``, ``seed``, and ``host_baud``, the rate the firmware is built for);
``reset=0`` opens without resetting the board (then there is no banner, and
:class:`~labkit.hw.Board` asks with HELLO); ``bootloader=atmegaboot`` a board
with a blank flash and the Arduino bootloader, which DTR resets as it does an
Uno (for ``labkit hw flash``).

pyserial finds this module as ``protocol_labkit-twin`` (the URL scheme);
``labkit/hw/protocol_labkit-twin.py`` re-exports :class:`Serial` from here.
"""

from __future__ import annotations

import errno
import os
import select

import serial
from serial.serialutil import SerialException

from labkit.errors import LabkitError
from labkit.hw import twin as _twin
from labkit.hw.errors import OPEN_IN_THIS_PROCESS


class Serial(serial.Serial):
    """The pty of one of a twin's boards, opened like any serial port."""

    _labkit_twin: tuple[str, int] | None = None
    _labkit_twin_obj: _twin.Twin | None = None
    _port: str | None  # pyserial's own attribute behind ``port`` (its stubs leave it out)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        url = self._port
        if url is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            name, index, wire, reset, host_baud, bootloader = _twin.parse_url(url)
        except LabkitError as exc:
            raise SerialException(str(exc)) from None
        try:
            tw = _twin.acquire(name, index, wire, host_baud, bootloader)
        except _twin.TwinError as exc:
            if OPEN_IN_THIS_PROCESS in str(exc):
                raise SerialException(errno.EBUSY, f"could not open port {url}: {exc}") from None
            raise SerialException(f"{exc}") from None
        self._labkit_twin = (name, index)
        self._labkit_twin_obj = tw
        try:
            # PosixSerial opens self.portstr: the pty, then the name is the URL again.
            self.portstr = self._port = tw.ports[index]
            try:
                super().open()
            finally:
                self.portstr = self._port = self.name = url
            if reset:
                tw.reset(index)  # as DTR does to an Uno when its port opens
        except BaseException:
            self.close()
            raise

    _labkit_dtr = True  # DTR as the board last saw it (pyserial raises it on open)

    def _update_dtr_state(self) -> None:
        """DTR raised on an open port resets the board: an Uno's auto-reset (its 100 nF
        capacitor turns the edge into a pulse on RESET), what an uploader does to reach
        the bootloader. A pty has no modem lines, so nothing else is done."""
        tw, held = self._labkit_twin_obj, self._labkit_twin
        if not self.is_open or tw is None or held is None:
            return
        if self.dtr and not self._labkit_dtr:
            tw.reset(held[1])
        self._labkit_dtr = self.dtr

    def _update_rts_state(self) -> None:
        """RTS goes nowhere on an Uno's pty (the twin's boards reset on DTR)."""

    def close(self) -> None:
        super().close()
        held, self._labkit_twin = self._labkit_twin, None
        self._labkit_twin_obj = None
        if held is not None:
            _twin.release(*held)

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` seconds of *simulated* time.

        The emulated boards run faster or slower than the wall clock, so a wall-clock
        timeout would wait too long or too short; this waits on the twin's clock (in
        short polls of the pty), as a read on ``labkit-sim://`` waits on virtual time.
        """
        tw, timeout, fd = self._labkit_twin_obj, self.timeout, self.fd
        if tw is None or timeout is None or not self.is_open or fd is None:
            return super().read(size)
        deadline = tw.sim_time() + timeout
        out = bytearray()
        while len(out) < size:
            left = deadline - tw.sim_time()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], 0.0005 if left < 0.05 else 0.005)
            if ready:
                try:
                    out += os.read(fd, size - len(out))
                except BlockingIOError:
                    pass
        return bytes(out)

    def from_url(self, url: str) -> str:
        return url

    def labkit_clock(self) -> float:
        """The twin's simulated time: a Board's timeouts count it instead of wall time.

        The emulated boards run faster or slower than real time, depending on the
        computer; the firmware's own timeouts (100 ms frame timeout, trigger
        timeouts) are in simulated time, and so the host's are too.
        """
        return self.labkit_twin.sim_time()

    @property
    def labkit_twin(self) -> _twin.Twin:
        """The running twin this port belongs to."""
        if self._labkit_twin_obj is None:
            raise serial.PortNotOpenError()
        return self._labkit_twin_obj
