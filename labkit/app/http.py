"""A small HTTP/1.0 and HTTP/1.1 codec, server and client (RFC 9110, RFC 9112).

HTTP is a text protocol on a byte stream. A message is a start line, header
lines, an empty line, then a body whose length the headers give::

    GET /hello HTTP/1.1\\r\\n            request line: method, target, version
    Host: 127.0.0.1\\r\\n                header lines: name ":" value
    \\r\\n                               the empty line ends the header
                                        (a body of Content-Length bytes would follow)

    HTTP/1.1 200 OK\\r\\n                status line: version, status code, reason
    Content-Length: 5\\r\\n
    \\r\\n
    hello

Like a length-prefixed frame (``labkit.app.framing``), ``Content-Length``
tells the reader where the body ends on the stream. What is supported:

- HTTP/1.0 and HTTP/1.1; persistent connections ("keep-alive": the default in
  1.1 unless ``Connection: close``; in 1.0 only with ``Connection: keep-alive``);
- bodies with ``Content-Length``, and a response body that runs to the end of
  the connection when a response has none;
- ``Transfer-Encoding`` (chunked) is refused clearly: 501 from the server, an
  :class:`HttpError` in the client.

Everything a peer sends is bounded (:class:`HttpLimits`: line length, header
count and size, body size) and checked; bad input is an :class:`HttpError`
(a ``labkit`` ``ParseError``) naming the field, the value and the HTTP status
a server answers with (400, 413, 431, 501, 505). Conflicting
``Content-Length`` headers are refused (the root of request smuggling).

:func:`serve_connection` and :class:`HttpClient` run on any socket-like
object with ``sendall`` and ``recv``: real sockets, and labkit's simulated
TCP sockets with the same code. Inside the simulation a server cannot block
in a loop, so :class:`HttpEventServer` serves from callbacks
(``on_connection``/``on_data``), with the same reader and the same
:func:`respond`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol

from labkit.app._html import message_html
from labkit.errors import LabkitError, LabkitValueError, ParseError

__all__ = [
    "DEFAULT_LIMITS",
    "EventListener",
    "EventSocket",
    "HttpClient",
    "HttpError",
    "HttpEventConnection",
    "HttpEventServer",
    "HttpLimits",
    "HttpReader",
    "HttpTimeout",
    "Request",
    "Response",
    "VERSIONS",
    "respond",
    "serve_connection",
    "static_site",
]

#: The HTTP versions this codec speaks.
VERSIONS = ("HTTP/1.0", "HTTP/1.1")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # RFC 9110 5.6.2
_VERSION = re.compile(r"HTTP/\d\.\d\Z")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls other than tab (RFC 9110 5.5)
_BAD_TARGET = re.compile(r"[^\x21-\x7e]")  # a request target is visible ASCII (RFC 3986)
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_NO_BODY_STATUS = (204, 304)
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*(\d+)[ \t]*\r?$")


class HttpError(ParseError):
    """Bytes that are not acceptable HTTP; ``status`` is what a server answers (400, 413, ...)."""

    def __init__(self, field: str, value: object, reason: str, status: int = 400) -> None:
        self.status = status
        super().__init__("http", field, value, reason)


class HttpTimeout(LabkitError, TimeoutError):
    """The peer stopped sending in the middle of a message (or sent nothing in time)."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How much a peer may send: each limit is checked before the bytes are kept."""

    max_line: int = 8190  #: longest request/status line or header line, bytes
    max_headers: int = 100  #: most header lines
    max_header_bytes: int = 64 * 1024  #: longest header block (start line to empty line)
    max_body: int = 1 << 20  #: longest body, bytes

    def __post_init__(self) -> None:
        for name in ("max_line", "max_headers", "max_header_bytes", "max_body"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LabkitValueError(f"HttpLimits.{name}={value!r}: expected an int >= 1")


DEFAULT_LIMITS = HttpLimits()

Headers = tuple[tuple[str, str], ...]


def _headers(value: Iterable[tuple[str, str]] | Mapping[str, str]) -> Headers:
    items = value.items() if isinstance(value, Mapping) else value
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise LabkitValueError(f"headers: expected (name, value) pairs, got {item!r}")
        name, val = item
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise LabkitValueError(f"header name {name!r}: expected a token (letters, digits, -)")
        if not isinstance(val, str) or _BAD_VALUE.search(val) or not _latin1(val):
            raise LabkitValueError(f"header {name}={val!r}: expected Latin-1 text without CR, LF "
                                   "or NUL (encode other characters, e.g. as percent-escapes)")
        out.append((name, val.strip(" \t")))
    return tuple(out)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _find(headers: Headers, name: str) -> list[str]:
    lower = name.lower()
    return [v for k, v in headers if k.lower() == lower]


def _connection_tokens(headers: Headers) -> set[str]:
    return {t.strip().lower() for v in _find(headers, "Connection") for t in v.split(",")}


def _body(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise LabkitValueError(f"body: expected bytes or str, got {type(value).__name__}")


def _check_version(version: object) -> str:
    if version not in VERSIONS:
        raise LabkitValueError(f"version={version!r}: expected one of {VERSIONS}")
    return version


class _Message:
    __slots__ = ()
    headers: Headers
    version: str
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (case-insensitive), its last one if repeated."""
        found = _find(self.headers, name)
        return found[-1] if found else default

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after this message (RFC 9112 9.3)."""
        tokens = _connection_tokens(self.headers)
        if "close" in tokens:
            return False
        return self.version == "HTTP/1.1" or "keep-alive" in tokens

    def _head_lines(self, start: str, length: int | None) -> bytes:
        lines = [start]
        have_length = bool(_find(self.headers, "Content-Length"))
        lines += [f"{k}: {v}" for k, v in self.headers]
        if length is not None and not have_length:
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True, slots=True)
class Request(_Message):
    """An HTTP request. ``headers`` is a tuple of ``(name, value)`` pairs, in order."""

    method: str
    target: str
    headers: Headers = ()
    body: bytes = b""
    version: str = "HTTP/1.1"

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not _TOKEN.match(self.method):
            raise LabkitValueError(f"method={self.method!r}: expected a token such as 'GET'")
        if not isinstance(self.target, str) or not self.target or _BAD_TARGET.search(self.target):
            raise LabkitValueError(f"target={self.target!r}: expected a path such as '/index.html'"
                                   " in visible ASCII (percent-encode spaces and other bytes)")
        object.__setattr__(self, "headers", _headers(self.headers))
        object.__setattr__(self, "body", _body(self.body))
        _check_version(self.version)

    def pack(self) -> bytes:
        """The request's bytes; ``Content-Length`` is added when there is a body and none is given."""
        length = len(self.body) if self.body else None
        return self._head_lines(f"{self.method} {self.target} {self.version}", length) + self.body

    @classmethod
    def parse(cls, data: bytes, limits: HttpLimits = DEFAULT_LIMITS) -> Request:
        """Parse exactly one complete request from ``data``."""
        reader = HttpReader(_BytesSource(data), limits)
        request = reader.read_request()
        if request is None:
            raise HttpError("request", b"", "empty input: no request line")
        reader.expect_end()
        return request

    def summary(self) -> str:
        return f"{self.method} {self.target} {self.version} ({len(self.body)} body bytes)"

    def _repr_html_(self) -> str:
        fields: list[tuple[str, object]] = [
            ("method", self.method), ("target", self.target), ("version", self.version),
            *self.headers, ("body", f"{len(self.body)} bytes")]
        return message_html("HTTP request", fields, self.pack())


@dataclass(frozen=True, slots=True)
class Response(_Message):
    """An HTTP response; ``reason`` defaults to the standard phrase of ``status``."""

    status: int
    headers: Headers = ()
    body: bytes = b""
    reason: str = ""
    version: str = "HTTP/1.1"

    def __post_init__(self) -> None:
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not (
            100 <= self.status <= 599
        ):
            raise LabkitValueError(f"status={self.status!r}: expected an int from 100 to 599")
        if not self.reason:
            try:
                phrase = HTTPStatus(self.status).phrase
            except ValueError:
                phrase = ""
            object.__setattr__(self, "reason", phrase)
        if not isinstance(self.reason, str) or _BAD_VALUE.search(self.reason) or not _latin1(
            self.reason
        ):
            raise LabkitValueError(f"reason={self.reason!r}: expected text without CR or LF")
        object.__setattr__(self, "headers", _headers(self.headers))
        object.__setattr__(self, "body", _body(self.body))
        _check_version(self.version)
        if self.body and (self.status < 200 or self.status in _NO_BODY_STATUS):
            raise LabkitValueError(f"status={self.status}: this status has no body "
                                   f"(got {len(self.body)} bytes)")

    @property
    def has_body(self) -> bool:
        return not (self.status < 200 or self.status in _NO_BODY_STATUS)

    def pack(self, head_only: bool = False) -> bytes:
        """The response's bytes (``head_only`` for a reply to HEAD); ``Content-Length`` is added."""
        length = len(self.body) if self.has_body else None
        head = self._head_lines(f"{self.version} {self.status} {self.reason}".rstrip(), length)
        return head if head_only else head + self.body

    @classmethod
    def parse(cls, data: bytes, limits: HttpLimits = DEFAULT_LIMITS, method: str = "GET") -> Response:
        """Parse exactly one complete response (to a request with ``method``) from ``data``."""
        reader = HttpReader(_BytesSource(data), limits)
        response = reader.read_response(method)
        reader.expect_end()
        return response

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def summary(self) -> str:
        return f"{self.version} {self.status} {self.reason} ({len(self.body)} body bytes)"

    def _repr_html_(self) -> str:
        fields: list[tuple[str, object]] = [
            ("version", self.version), ("status", self.status), ("reason", self.reason),
            *self.headers, ("body", f"{len(self.body)} bytes")]
        return message_html("HTTP response", fields, self.pack())


class _Source(Protocol):
    def recv(self, bufsize: int, /) -> bytes: ...


class _Connection(_Source, Protocol):
    """A connected socket-like object: a real socket, or labkit's simulated TCP one."""

    def sendall(self, data: bytes, /) -> object: ...


class EventSocket(Protocol):
    """A connected event-driven socket, as :class:`HttpEventServer` uses it (labkit.transport.sockets)."""

    def on_data(self, handler: Callable[[bytes], object], /) -> None: ...

    def on_close(self, handler: Callable[[], object], /) -> None: ...

    def sendall(self, data: bytes, /) -> object: ...

    def close(self) -> None: ...


class EventListener(Protocol):
    """A listening event-driven socket: it hands each new connection to a handler."""

    def on_connection(self, handler: Callable[[EventSocket, tuple[str, int]], object], /) -> None: ...

    def close(self) -> None: ...


class _BytesSource:
    """A socket-like object over bytes already in memory (for ``parse``)."""

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        self._data = bytes(data)

    def recv(self, bufsize: int) -> bytes:
        chunk, self._data = self._data[:bufsize], self._data[bufsize:]
        return chunk


class HttpReader:
    """Reads HTTP messages from a stream socket, keeping bytes that belong to the next one.

    One reader per connection: with keep-alive, a recv can return the end of
    one request and the start of the next (the same 粘包 as in framing).
    """

    def __init__(self, sock: _Source, limits: HttpLimits = DEFAULT_LIMITS) -> None:
        self.sock = sock
        self.limits = limits
        self._buffer = bytearray()
        self._eof = False

    def _fill(self, what: str) -> bool:
        """Read more bytes; False at the end of the stream."""
        if self._eof:
            return False
        try:
            chunk = self.sock.recv(64 * 1024)
        except TimeoutError:
            raise HttpTimeout(f"http: timed out waiting for the {what} "
                              f"({len(self._buffer)} bytes buffered)") from None
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _read_head(self) -> list[str] | None:
        limit = self.limits.max_header_bytes
        while True:
            while self._buffer.startswith((b"\r\n", b"\n")):
                # RFC 9112 2.2: empty lines before a start line are ignored
                del self._buffer[: 2 if self._buffer.startswith(b"\r") else 1]
            end = _HEAD_END.search(self._buffer)
            if end is not None:
                break
            if len(self._buffer) > limit:
                raise HttpError("header", f"{len(self._buffer)}+ bytes",
                                f"header block longer than {limit} bytes", 431)
            if not self._fill("header"):
                if not self._buffer:
                    return None
                raise HttpError("header", bytes(self._buffer[:40]),
                                f"the connection closed after {len(self._buffer)} bytes, in the "
                                "middle of the header")
        if end.start() > limit:
            raise HttpError("header", f"{end.start()} bytes", f"header block longer than {limit} "
                            "bytes", 431)
        raw = bytes(self._buffer[: end.start()])
        del self._buffer[: end.end()]
        lines = [line.rstrip(b"\r") for line in raw.split(b"\n")]
        if len(lines) - 1 > self.limits.max_headers:
            raise HttpError("header", f"{len(lines) - 1} lines",
                            f"more than {self.limits.max_headers} header lines", 431)
        for line in lines:
            if len(line) > self.limits.max_line:
                raise HttpError("line", line[:40] + b"...", f"line longer than "
                                f"{self.limits.max_line} bytes", 431 if line is not lines[0] else 414)
        return [line.decode("latin-1") for line in lines]

    def _parse_headers(self, lines: list[str]) -> Headers:
        out = []
        for line in lines:
            if line[:1] in (" ", "\t"):
                raise HttpError("header", line, "obsolete line folding (a line starting with "
                                "whitespace) is not accepted")
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.match(name):
                raise HttpError("header", line, "expected 'Name: value' with a token name and no "
                                "space before the colon")
            value = value.strip(" \t")
            if _BAD_VALUE.search(value):
                raise HttpError("header", line, "control character in the value")
            out.append((name, value))
        return tuple(out)

    def _content_length(self, headers: Headers) -> int | None:
        if _find(headers, "Transfer-Encoding"):
            raise HttpError("Transfer-Encoding", _find(headers, "Transfer-Encoding")[-1],
                            "transfer codings (chunked) are not supported: send Content-Length", 501)
        values = _find(headers, "Content-Length")
        if not values:
            return None
        parts = {p.strip() for v in values for p in v.split(",")}
        if len(parts) != 1:
            raise HttpError("Content-Length", ", ".join(values), "conflicting lengths")
        (text,) = parts
        if not text.isascii() or not text.isdigit():
            raise HttpError("Content-Length", text, "expected a decimal number of bytes")
        length = int(text)
        if length > self.limits.max_body:
            raise HttpError("Content-Length", length,
                            f"body larger than max_body={self.limits.max_body}", 413)
        return length

    def _read_body(self, length: int | None) -> bytes:
        if length is None:  # until the end of the connection (responses only)
            while self._fill("body"):
                if len(self._buffer) > self.limits.max_body:
                    raise HttpError("body", f"{len(self._buffer)}+ bytes",
                                    f"body larger than max_body={self.limits.max_body}", 413)
            length = len(self._buffer)
        while len(self._buffer) < length:
            if not self._fill("body"):
                raise HttpError("body", f"{len(self._buffer)} of {length} bytes",
                                "the connection closed in the middle of the body")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    @staticmethod
    def _version(text: str, where: str) -> str:
        if not _VERSION.match(text):
            raise HttpError("version", text, f"malformed HTTP version in the {where}")
        if text not in VERSIONS:
            raise HttpError("version", text, f"only {' and '.join(VERSIONS)} are supported", 505)
        return text

    def read_request(self) -> Request | None:
        """The next request; ``None`` if the peer closed cleanly before sending one."""
        lines = self._read_head()
        if lines is None:
            return None
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise HttpError("request-line", lines[0], "expected 'METHOD target HTTP/1.x' "
                            "(three parts separated by single spaces)")
        method, target, version = parts
        if not _TOKEN.match(method):
            raise HttpError("method", method, "expected a token such as GET")
        if not target or _BAD_TARGET.search(target):
            raise HttpError("target", target, "expected visible ASCII (no spaces, controls or "
                            "raw non-ASCII bytes: percent-encode them)")
        version = self._version(version, "request line")
        headers = self._parse_headers(lines[1:])
        if version == "HTTP/1.1" and len(_find(headers, "Host")) != 1:
            raise HttpError("Host", _find(headers, "Host"), "an HTTP/1.1 request needs exactly "
                            "one Host header (RFC 9112 3.2)")
        length = self._content_length(headers)
        body = self._read_body(length or 0)
        return Request(method, target, headers, body, version)

    def read_response(self, method: str = "GET") -> Response:
        """The next response, to a request made with ``method`` (HEAD responses have no body)."""
        lines = self._read_head()
        if lines is None:
            raise HttpError("status-line", b"", "the connection closed before a response")
        version, _, rest = lines[0].partition(" ")
        version = self._version(version, "status line")
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isascii() or not code.isdigit() or not 100 <= int(code) <= 599:
            raise HttpError("status", code, "expected a three-digit status code 100..599")
        status = int(code)
        headers = self._parse_headers(lines[1:])
        if method == "HEAD" or status < 200 or status in _NO_BODY_STATUS:
            body = b""
        else:
            body = self._read_body(self._content_length(headers))
        if _BAD_VALUE.search(reason):
            raise HttpError("reason", reason, "control character in the reason phrase")
        try:
            return Response(status, headers, body, reason, version)
        except LabkitValueError as exc:  # e.g. a 1xx with a body
            raise HttpError("status", status, str(exc)) from None

    def expect_end(self) -> None:
        """Check that nothing follows the message (for parsing one message from bytes)."""
        if self._buffer or self._fill("end"):
            raise HttpError("trailing", bytes(self._buffer[:40]),
                            f"{len(self._buffer)} bytes after the end of the message")


Handler = Callable[[Request], Response]


def _error_response(status: int, text: str) -> Response:
    return Response(status, (("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")),
                    f"{status} {HTTPStatus(status).phrase}: {text}\n".encode())


def serve_connection(sock: _Connection, handler: Handler, limits: HttpLimits = DEFAULT_LIMITS,
                     max_requests: int = 100) -> int:
    """Serve HTTP requests on one connected socket until either side ends it; return the count.

    ``handler`` maps a :class:`Request` to a :class:`Response`. Bad requests
    get their 4xx/5xx reply (and the connection is closed); a handler that
    raises gets a plain 500, without the traceback. The caller closes
    ``sock``. Keep-alive is honoured up to ``max_requests`` requests.
    """
    reader = HttpReader(sock, limits)
    served = 0
    while served < max_requests:
        try:
            request = reader.read_request()
        except HttpError as exc:
            try:
                sock.sendall(_error_response(exc.status, str(exc)).pack())
            except OSError:
                pass
            return served
        except (HttpTimeout, OSError):
            return served
        if request is None:
            return served
        served += 1
        reply, keep = respond(request, handler, served < max_requests)
        try:
            sock.sendall(reply)
        except OSError:
            return served
        if not keep:
            return served
    return served


def respond(request: Request, handler: Handler, may_keep: bool = True) -> tuple[bytes, bool]:
    """The bytes answering ``request`` and whether the connection stays open after them.

    The server's one decision, shared by the blocking :func:`serve_connection`
    and the event-driven :class:`HttpEventServer`: call the handler (a handler
    that raises gives a plain 500), and add ``Connection: close`` or
    ``keep-alive`` as the versions require.
    """
    try:
        response = handler(request)
        if not isinstance(response, Response):
            raise LabkitValueError(f"handler returned {type(response).__name__}, not Response")
    except Exception:  # the handler's bug: the client gets a 500, the server keeps running
        response = _error_response(500, "the handler failed")
    keep = request.keep_alive and response.keep_alive and may_keep
    extra: tuple[tuple[str, str], ...] = ()
    if not _connection_tokens(response.headers):
        if not keep:
            extra = (("Connection", "close"),)
        elif request.version == "HTTP/1.0":
            extra = (("Connection", "keep-alive"),)
    if extra:
        response = Response(response.status, response.headers + extra, response.body,
                            response.reason, response.version)
    return response.pack(head_only=request.method == "HEAD"), keep


class _NeedMore(Exception):
    """The bytes so far end in the middle of a message."""


class _Arrived:
    """A socket-like view of bytes that have arrived: recv raises _NeedMore when they run out."""

    def __init__(self, data: bytes, eof: bool) -> None:
        self.data = data
        self.eof = eof

    def recv(self, bufsize: int) -> bytes:
        if self.data:
            chunk, self.data = self.data[:bufsize], self.data[bufsize:]
            return chunk
        if self.eof:
            return b""
        raise _NeedMore


class HttpEventConnection:
    """One connection of an :class:`HttpEventServer`: bytes in as they arrive, replies out.

    When a request may be complete (its header has ended and as many bytes as
    its ``Content-Length`` have arrived), the same :class:`HttpReader` as the
    blocking server's parses it. Bytes arriving one at a time cost a scan of
    the new bytes only, not a new parse: a slow sender cannot make the server
    do quadratic work. The limits are checked as in the blocking server.
    """

    def __init__(self, server: HttpEventServer, sock: EventSocket, peer: tuple[str, int]) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.served = 0
        self._buffer = bytearray()
        self._eof = False
        self._done = False
        self._scanned = 0  # bytes searched for the end of the header so far
        self._need: int | None = None  # bytes the current request needs, once its header ended
        #: how many times a request was parsed (once per request, and once per bad one)
        self.parses = 0
        sock.on_data(self.data_received)
        sock.on_close(self.connection_lost)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._buffer += data
        self._serve()

    def connection_lost(self) -> None:
        self._eof = True
        if not self._done:
            self._serve()
        self._finish()

    def _complete(self) -> bool:
        """Whether the buffered bytes may hold a whole request (or must be refused now)."""
        if self._eof:
            return True
        if self._need is None:
            end = _HEAD_END.search(self._buffer, max(0, self._scanned - 3))
            self._scanned = len(self._buffer)
            if end is None:
                return len(self._buffer) > self.server.limits.max_header_bytes
            found = _CONTENT_LENGTH.search(self._buffer, 0, end.start())
            length = int(found.group(1)) if found and len(found.group(1)) < 16 else 0
            self._need = end.end() + (length if length <= self.server.limits.max_body else 0)
        return len(self._buffer) >= self._need

    def _serve(self) -> None:
        server = self.server
        while not self._done and (self._buffer or self._eof):
            if not self._complete():
                return
            source = _Arrived(bytes(self._buffer), self._eof)
            reader = HttpReader(source, server.limits)
            self.parses += 1
            try:
                request = reader.read_request()
            except _NeedMore:  # e.g. a header that is not what the quick scan took it for
                self._need = len(self._buffer) + 1
                return
            except HttpError as exc:
                server.log.append((self.peer, "", exc.status))
                self._send(_error_response(exc.status, str(exc)).pack())
                self._finish()
                return
            if request is None:  # the peer closed between requests
                self._finish()
                return
            self._buffer = reader._buffer + source.data  # what follows this request
            self._scanned, self._need = 0, None
            self.served += 1
            server.served += 1
            reply, keep = respond(request, server.handler, self.served < server.max_requests)
            server.log.append((self.peer, f"{request.method} {request.target}",
                               int(reply[9:12]) if reply[9:12].isdigit() else 0))
            self._send(reply)
            if not keep:
                self._finish()

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self._done = True

    def _finish(self) -> None:
        if not self._done:
            self._done = True
        try:
            self.sock.close()
        except OSError:
            pass


class HttpEventServer:
    """An HTTP server for event-driven sockets: labkit's simulated TCP sockets.

    ``listener`` is a listening socket with ``on_connection(fn(sock, peer))``
    whose connected sockets offer ``on_data(fn(data))``, ``on_close(fn())``,
    ``sendall`` and ``close`` (:mod:`labkit.transport.sockets`). Requests are
    parsed by the same :class:`HttpReader` and answered by the same
    :func:`respond` as :func:`serve_connection` on a real socket.
    :attr:`log` keeps ``(peer, "METHOD target", status)`` per reply.
    """

    def __init__(self, listener: EventListener, handler: Handler, limits: HttpLimits = DEFAULT_LIMITS,
                 max_requests: int = 100) -> None:
        if not callable(getattr(listener, "on_connection", None)):
            raise LabkitValueError(f"listener={listener!r}: expected a listening socket with "
                                   "on_connection() (labkit.transport.sockets)")
        if not callable(handler):
            raise LabkitValueError(f"handler={handler!r}: expected a function Request -> Response")
        self.listener = listener
        self.handler = handler
        self.limits = limits
        self.max_requests = max_requests
        self.served = 0
        self.connections: list[HttpEventConnection] = []
        self.log: list[tuple[tuple[str, int], str, int]] = []
        listener.on_connection(self._accept)

    def _accept(self, sock: EventSocket, peer: tuple[str, int]) -> None:
        self.connections.append(HttpEventConnection(self, sock, peer))

    def close(self) -> None:
        """Stop accepting (connections already open finish on their own)."""
        self.listener.close()


def static_site(pages: Mapping[str, bytes | str], content_type: str = "text/html; charset=utf-8",
                ) -> Handler:
    """A handler serving fixed pages by path: 200, 404 for other paths, 405 for other methods."""
    table = {path: _body(body) for path, body in pages.items()}

    def handle(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, (("Allow", "GET, HEAD"),), b"only GET and HEAD\n")
        path = request.target.split("?", 1)[0]
        if path not in table:
            return Response(404, (("Content-Type", "text/plain; charset=utf-8"),),
                            f"no page at {path}\n".encode())
        return Response(200, (("Content-Type", content_type),), table[path])

    return handle


@dataclass
class HttpClient:
    """An HTTP client on one connected socket-like object, reusing it while the server agrees."""

    sock: _Connection
    host: str = "127.0.0.1"
    version: str = "HTTP/1.1"
    limits: HttpLimits = DEFAULT_LIMITS
    open: bool = field(default=True, init=False)
    _reader: HttpReader = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_version(self.version)
        self._reader = HttpReader(self.sock, self.limits)

    def request(self, method: str, target: str, headers: Iterable[tuple[str, str]] = (),
                body: bytes | str = b"") -> Response:
        """Send a request and read its response. ``Host`` is added when missing."""
        if not self.open:
            raise LabkitError("http: the server closed this connection; open a new one")
        head = _headers(headers)
        if not _find(head, "Host"):
            head = (("Host", self.host),) + head
        req = Request(method, target, head, _body(body), self.version)
        self.sock.sendall(req.pack())
        response = self._reader.read_response(method)
        if not (req.keep_alive and response.keep_alive):
            self.open = False
        return response

    def get(self, target: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        return self.request("GET", target, headers)
