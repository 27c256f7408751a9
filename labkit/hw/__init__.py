"""Boards on a serial port: bits as real voltages on a wire between two Arduinos.

- :class:`Board` (:mod:`labkit.hw.board`): the driver for the firmware in
  ``hardware/firmware/``, speaking ``hardware/PROTOCOL.md``;
- :mod:`labkit.hw.protocol`: that protocol's frames and payloads, as bytes;
- :mod:`labkit.hw.sim`: two simulated boards and their wire, reached as the
  serial ports ``labkit-sim://PAIR/0`` and ``labkit-sim://PAIR/1``;
- :mod:`labkit.hw.twin`: the real firmware on two emulated boards (simavr),
  reached as ``labkit-twin://NAME/0`` and ``labkit-twin://NAME/1``;
- :mod:`labkit.hw.lab`: the experiments (send and capture, decode, bit error
  rate against bit rate), on real or simulated boards;
- :mod:`labkit.hw.discovery`: finding boards, and the doctor.

Importing this package registers the ``labkit-sim://`` and ``labkit-twin://``
URL schemes with pyserial.
"""

import serial

if "labkit.hw" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("labkit.hw")

from labkit.hw.board import Board, open_serial  # noqa: E402
from labkit.hw.errors import (  # noqa: E402
    BoardError,
    BoardResetError,
    GarbledReplyError,
    HwError,
    LinkSilentError,
    NoFirmwareError,
    PortBusyError,
    PortError,
    PortNotFoundError,
    PortPermissionError,
    ReplyTimeoutError,
    VersionMismatchError,
)

__all__ = [
    "Board",
    "BoardError",
    "BoardResetError",
    "GarbledReplyError",
    "HwError",
    "LinkSilentError",
    "NoFirmwareError",
    "PortBusyError",
    "PortError",
    "PortNotFoundError",
    "PortPermissionError",
    "ReplyTimeoutError",
    "VersionMismatchError",
    "open_serial",
]
