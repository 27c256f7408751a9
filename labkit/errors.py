"""One error hierarchy for the whole package.

Everything labkit raises on bad input is a :class:`LabkitError`, so a notebook
can catch every problem labkit reports with one ``except`` clause, and a test
can tell labkit's own, explained errors from a bug (an ``IndexError`` or a
``struct.error`` leaking out of a parser is always a bug).
"""

from __future__ import annotations

__all__ = ["LabkitError", "LabkitValueError", "ParseError", "parse_input"]


class LabkitError(Exception):
    """Root of every error labkit raises on purpose."""


class LabkitValueError(LabkitError, ValueError):
    """An argument has a value labkit cannot work with.

    The message names the argument and the value, and says what would be
    accepted. It is also a ``ValueError``, so code written against the
    standard library's conventions catches it too.
    """


class ParseError(LabkitError, ValueError):
    """Bytes (or samples) could not be parsed as the protocol says.

    ``layer`` names the protocol (``"ethernet"``, ``"ipv4"``, ``"phy"``...),
    ``field`` the header field or quantity that was wrong, and ``value`` what
    was found there.
    """

    def __init__(self, layer: str, field: str, value: object, reason: str) -> None:
        self.layer = layer
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{layer}: {field}={value!r}: {reason}")


def parse_input(data: object, layer: str, minimum: int, short: str) -> bytes:
    """What a parser is given, as bytes: the opening every ``parse(data)`` shares.

    ``data`` must be bytes, a bytearray or a memoryview (anything else: a
    :class:`LabkitValueError` naming ``data`` and the type it got), at least
    ``minimum`` bytes long (shorter: ``ParseError(layer, "length", n, short)``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) < minimum:
        raise ParseError(layer, "length", len(raw), short)
    return raw
