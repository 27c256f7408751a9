"""Finding frames in a byte stream: COBS byte stuffing with a zero delimiter.

A serial line (the hardware lab's byte bridge, a UART) delivers a stream of
bytes with no gaps that mark where one frame ends. The sender must mark the
boundaries in the bytes themselves, in a way that data can never imitate.

We use **COBS** (Consistent Overhead Byte Stuffing, Cheshire and Baker, 1999)
rather than SLIP (RFC 1055) because:

- its overhead is bounded and small: at most one byte per 254 bytes of data
  plus the delimiter, whatever the data (SLIP doubles a frame made of its
  special bytes, so a 1518-byte Ethernet frame could need 3036 bytes);
- the delimiter, ``0x00``, never appears inside an encoded frame, so a
  receiver that starts listening in the middle, or loses bytes, resynchronises
  at the next zero byte, without any escape state to get confused by.

How it works: the frame is cut at each zero byte. Each piece becomes a
*code byte* (1 + the piece's length) followed by the piece, so the code byte
says where the next (removed) zero was. A piece longer than 254 bytes is
split with the code byte 0xFF, which means "254 bytes follow and no zero".
The encoded frame then has no zero bytes, and one ``0x00`` ends it.

:func:`encode` / :func:`decode` work on one frame (without the delimiter);
:func:`frame` adds the delimiter; :class:`StreamDecoder` takes bytes as they
arrive, in chunks of any size, and returns whole frames.
"""

from __future__ import annotations

from labkit.errors import LabkitValueError, ParseError

__all__ = ["DELIMITER", "encode", "decode", "frame", "max_encoded_length", "StreamDecoder"]

#: The byte that ends every frame on the wire.
DELIMITER = b"\x00"
_LAYER = "cobs"


def _as_bytes(data: object, name: str = "data") -> bytes:
    if isinstance(data, str):
        raise LabkitValueError(f"{name}={data[:20]!r}: expected bytes; encode text first")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LabkitValueError(f"{name}: expected bytes, got {type(data).__name__}")
    return bytes(data)


def max_encoded_length(n: int) -> int:
    """The most bytes COBS makes of ``n`` bytes (without the delimiter): ``n + 1 + n // 254``."""
    return n + 1 + n // 254


def encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode one frame. The result contains no zero byte.

    >>> encode(b"\\x11\\x00\\x22").hex(" ")
    '02 11 02 22'
    """
    raw = _as_bytes(data)
    out = bytearray()
    start = 0
    n = len(raw)
    while True:
        zero = raw.find(0, start, start + 254)
        if zero < 0:
            end = min(n, start + 254)
            piece = raw[start:end]
            if len(piece) == 254:
                out.append(0xFF)  # 254 bytes and no zero: the next block starts right after
                out += piece
                start = end
                if start == n:
                    # A full block ending the data still needs a final (empty) block, unless
                    # the data was exactly a multiple of 254 bytes long: then the 0xFF block
                    # ends the frame by itself.
                    break
                continue
            out.append(len(piece) + 1)
            out += piece
            break
        out.append(zero - start + 1)
        out += raw[start:zero]
        start = zero + 1
    return bytes(out)


def decode(encoded: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS frame (without its delimiter); raise ParseError if it is not valid COBS."""
    raw = _as_bytes(encoded, "encoded")
    if not raw:
        raise ParseError(_LAYER, "length", 0, "an empty frame has no code byte")
    out = bytearray()
    pos = 0
    n = len(raw)
    while pos < n:
        code = raw[pos]
        if code == 0:
            raise ParseError(
                _LAYER, "code", 0,
                f"a zero byte at offset {pos} inside a frame (zero is the delimiter)",
            )
        end = pos + code
        if end > n:
            raise ParseError(
                _LAYER, "code", code,
                f"the code byte at offset {pos} announces {code - 1} data bytes but only "
                f"{n - pos - 1} follow: the frame was truncated",
            )
        block = raw[pos + 1 : end]
        if 0 in block:
            raise ParseError(
                _LAYER, "data", 0,
                f"a zero byte at offset {pos + 1 + block.index(0)} inside a frame "
                "(zero is the delimiter)",
            )
        out += block
        pos = end
        if code != 0xFF and pos < n:
            out.append(0)  # the zero this block boundary stands for
    return bytes(out)


def frame(data: bytes | bytearray | memoryview) -> bytes:
    """Encode ``data`` and append the delimiter: the bytes to write to the serial line."""
    return encode(data) + DELIMITER


class StreamDecoder:
    """Reassemble frames from a byte stream that arrives in arbitrary chunks.

    ``feed(chunk)`` returns the frames completed by that chunk. Bytes before
    the first delimiter are a partial frame the receiver joined halfway through
    unless ``synced=True`` (the line has just been opened and nothing was
    missed). Garbage never stops the decoder: an invalid frame is dropped and
    its :class:`ParseError` appended to :attr:`errors` (the newest
    ``keep_errors``), and decoding resumes after the next delimiter. A frame
    growing past ``max_frame`` encoded bytes without a delimiter is dropped
    too, so noise on the line cannot grow the buffer without bound.
    Consecutive delimiters (empty frames) are ignored: senders may put one
    before each frame to flush any garbage.
    """

    def __init__(
        self, max_frame: int = 2048, *, synced: bool = True, keep_errors: int = 100
    ) -> None:
        if isinstance(max_frame, bool) or not isinstance(max_frame, int) or max_frame < 1:
            raise LabkitValueError(f"max_frame={max_frame!r}: expected a positive int")
        if isinstance(keep_errors, bool) or not isinstance(keep_errors, int) or keep_errors < 0:
            raise LabkitValueError(f"keep_errors={keep_errors!r}: expected an int >= 0")
        self.max_frame = max_frame
        self.keep_errors = keep_errors
        self._buffer = bytearray()
        self._discarding = not synced
        self._overflow = False
        self.errors: list[ParseError] = []
        self.frames = 0
        self.dropped = 0

    def _error(self, err: ParseError) -> None:
        self.dropped += 1
        self.errors.append(err)
        del self.errors[: max(0, len(self.errors) - self.keep_errors)]

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Take the next bytes from the line; return the frames they complete, in order."""
        data = _as_bytes(chunk, "chunk")
        out: list[bytes] = []
        start = 0
        while True:
            zero = data.find(0, start)
            piece = data[start:] if zero < 0 else data[start:zero]
            if not self._discarding and not self._overflow:
                self._buffer += piece
                if len(self._buffer) > self.max_frame:
                    self._error(ParseError(
                        _LAYER, "length", len(self._buffer),
                        f"no delimiter within max_frame={self.max_frame} bytes; dropping until "
                        "the next delimiter",
                    ))
                    self._buffer.clear()
                    self._overflow = True
            if zero < 0:
                return out
            # A delimiter: the frame (if any) ends here.
            if self._discarding:
                self._discarding = False
            elif self._overflow:
                self._overflow = False
            elif self._buffer:
                try:
                    out.append(decode(self._buffer))
                    self.frames += 1
                except ParseError as err:
                    self._error(err)
            self._buffer.clear()
            start = zero + 1

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held back until its delimiter arrives."""
        return len(self._buffer)
