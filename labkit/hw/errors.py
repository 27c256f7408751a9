"""What can go wrong between a computer and a board, each with its own error.

Every error says what happened and what to try. All are
:class:`labkit.LabkitError`, so one ``except LabkitError`` catches them.
"""

from __future__ import annotations

from labkit.errors import LabkitError, ParseError

__all__ = [
    "HwError",
    "PortError",
    "PortNotFoundError",
    "PortBusyError",
    "PortPermissionError",
    "NoFirmwareError",
    "VersionMismatchError",
    "GarbledReplyError",
    "ReplyTimeoutError",
    "LinkSilentError",
    "BoardError",
    "BoardResetError",
    "BoardGoneError",
    "BaudMismatchError",
    "OPEN_IN_THIS_PROCESS",
]

#: What a simulated or twin port says when this Python process already holds it; the
#: back-ends put it in their refusal and :func:`labkit.hw.board.port_error` looks for it.
OPEN_IN_THIS_PROCESS = "already open in this Python process"


class HwError(LabkitError):
    """Something went wrong with a board or its serial port."""


class PortError(HwError, OSError):
    """The serial port could not be opened."""

    def __init__(self, port: str, message: str) -> None:
        self.port = port
        super().__init__(message)

    def __str__(self) -> str:  # OSError's own __str__ would print the args tuple
        return str(self.args[0])


class PortNotFoundError(PortError):
    """No such port: the board is unplugged, or the name is wrong."""


class PortBusyError(PortError):
    """Another program holds the port (the Arduino IDE's serial monitor, another notebook)."""


class PortPermissionError(PortError):
    """The operating system does not let this user open the port (Linux: the dialout group)."""


class NoFirmwareError(HwError):
    """The port answers, but not with labkit firmware (nothing, or some other sketch's output)."""

    def __init__(self, port: str, message: str, seen: bytes = b"") -> None:
        self.port = port
        self.seen = seen
        super().__init__(message)


class VersionMismatchError(HwError):
    """The board runs labkit firmware speaking another major version of the protocol."""

    def __init__(self, port: str, board: str, host: str) -> None:
        self.port = port
        self.board_version = board
        self.host_version = host
        super().__init__(
            f"{port}: the board speaks protocol {board}, this labkit speaks {host}; flash "
            f"this labkit's own firmware onto it: labkit hw flash {port}"
        )


class GarbledReplyError(HwError, ParseError):
    """A reply arrived damaged (CRC mismatch, impossible length or contents)."""

    def __init__(self, port: str, field: str, value: object, reason: str) -> None:
        self.port = port
        ParseError.__init__(self, "hw", field, value, f"{reason} (from {port})")


class ReplyTimeoutError(HwError, TimeoutError):
    """The board did not answer in time."""


class LinkSilentError(HwError):
    """The wire delivered nothing: no edge reached the receiver, or no byte arrived."""


class BoardError(HwError):
    """The board answered with an ERROR frame (PROTOCOL.md, "Errors")."""

    def __init__(self, port: str, code: int, command: str, text: str, field: str | None) -> None:
        self.port = port
        self.code = code
        self.command = command
        self.text = text
        self.field = field
        where = f" (field {field})" if field else ""
        super().__init__(f"{port}: board refused {command}: error {code}, {text}{where}")


class BoardResetError(HwError):
    """The board sent its start-up banner in the middle of a conversation: it was reset."""


class BoardGoneError(HwError, ConnectionError):
    """The port went away while the board was in use (USB cable pulled, board reset hard)."""

    def __init__(self, port: str, message: str) -> None:
        self.port = port
        super().__init__(message)

    def __str__(self) -> str:  # ConnectionError's own __str__ would print the args tuple
        return str(self.args[0])


class BaudMismatchError(HwError):
    """The board talks, but at another baud rate than the host (``board_baud``, if found)."""

    def __init__(
        self, port: str, message: str, host_baud: int, board_baud: int | None, seen: bytes = b""
    ) -> None:
        self.port = port
        self.host_baud = host_baud
        self.board_baud = board_baud
        self.seen = seen
        super().__init__(message)
