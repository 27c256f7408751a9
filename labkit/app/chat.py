"""LCP, the labkit chat protocol: a protocol of our own, specified here.

Protocols are agreements, and anyone can make one. HTTP was written by
people; so is this. A protocol needs the same few things every time: how a
message is delimited on the stream, how the receiver knows which version and
which command it got, what the body of each command holds, and what happens
on bad input. This docstring is LCP's whole specification.

1. Transport and framing
------------------------
LCP runs over TCP. Each LCP message is carried in one frame of
``labkit.app.framing``: a 4-byte big-endian length, then the message. A
message is at most :data:`MAX_MESSAGE` bytes; a larger frame is a protocol
error and the server closes the connection.

2. Message layout
-----------------
::

     0               1               2               3
     0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
    +---------------+---------------+-------------------------------+
    |  version = 1  |    command    |     request id (big-endian)   |
    +---------------+---------------+-------------------------------+
    |  body: depends on the command (UTF-8 text unless said)  ...   |

*version* comes first so that a future version may change everything after
it: a receiver reads one byte and knows whether it can understand the rest.
*request id* is chosen by the client for each request and copied into the
server's reply (``WELCOME``, ``OK``, ``USERS``, ``ERROR``), so a client can
tell its replies from notifications, which carry request id 0.

3. Commands
-----------
======  =========  ====  ==================================================
code    name       from  body
======  =========  ====  ==================================================
0x01    HELLO      C     nickname: 1-32 of ``A-Z a-z 0-9 _ -``
0x02    WELCOME    S     the nickname, now registered
0x03    SAY        C     text, 1-1000 bytes of UTF-8, no control characters
0x04    MESSAGE    S     1 byte nickname length, nickname, text
0x05    WHO        C     empty
0x06    USERS      S     nicknames, sorted, separated by ``\\n``
0x07    BYE        C/S   empty; the server answers BYE and closes
0x08    JOINED     S     nickname of a new member
0x09    LEFT       S     nickname of a member who left
0x0A    OK         S     empty: the request (by id) was done
0x7F    ERROR      S     2-byte error code (big-endian), then a reason text
======  =========  ====  ==================================================

4. Rules
--------
- A client sends ``HELLO`` first; anything else but ``BYE`` before it is
  answered with ``ERROR NOT_REGISTERED``. A second ``HELLO`` gets
  ``ERROR ALREADY_REGISTERED``; a nickname in use gets ``ERROR NICK_TAKEN``.
- ``SAY`` is answered with ``OK`` to the sender and delivered as ``MESSAGE``
  to every other member, in the order the server received them.
- A member joining or leaving (``BYE`` or a closed connection) is announced
  to the others with ``JOINED`` / ``LEFT``.
- Errors about one request (``UNKNOWN_COMMAND``, ``BAD_BODY``, ...) leave the
  connection open. Errors that mean the stream cannot be trusted any more
  (``BAD_VERSION``, a message shorter than the 4-byte header, a frame over
  the size limit) are answered with ``ERROR`` and the connection is closed.
- An ``ERROR`` reply is always sent in version 1, whatever version the
  request had, so an old client can read why it was refused.
- Bodies are data, never code: no ``eval``, no ``pickle``.

:class:`ChatMessage` parses and packs one message; :class:`ChatRoom` is the
server's logic on messages (no sockets); :class:`ChatService` adds framing
and runs in a ``labkit.app.servers.SelectorServer``; :class:`ChatClient` is a
client on any socket-like object.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from labkit.app._html import message_html
from labkit.app.framing import MessageDecoder, MessageTooLarge, StreamSocket, pack_msg, recv_msg, send_msg
from labkit.errors import LabkitError, LabkitValueError, ParseError

__all__ = [
    "VERSION",
    "MAX_MESSAGE",
    "ChatClient",
    "ChatError",
    "ChatMessage",
    "ChatRefused",
    "ChatRoom",
    "ChatService",
    "Command",
    "ErrorCode",
]

VERSION = 1
MAX_MESSAGE = 4096
MAX_TEXT = 1000
HEADER = struct.Struct("!BBH")  # version, command, request id
_ERROR_HEAD = struct.Struct("!H")
_NICK = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Command(IntEnum):
    HELLO = 0x01
    WELCOME = 0x02
    SAY = 0x03
    MESSAGE = 0x04
    WHO = 0x05
    USERS = 0x06
    BYE = 0x07
    JOINED = 0x08
    LEFT = 0x09
    OK = 0x0A
    ERROR = 0x7F


class ErrorCode(IntEnum):
    BAD_VERSION = 1
    UNKNOWN_COMMAND = 2
    BAD_BODY = 3
    NOT_REGISTERED = 4
    NICK_TAKEN = 5
    ALREADY_REGISTERED = 6
    TOO_LARGE = 7
    NOT_ALLOWED = 8


#: Errors after which the server closes the connection.
FATAL = frozenset({ErrorCode.BAD_VERSION, ErrorCode.TOO_LARGE})


class ChatError(ParseError):
    """Bytes that are not a valid LCP message; ``code`` is the ERROR a server replies with."""

    def __init__(self, field: str, value: object, reason: str, code: ErrorCode,
                 request_id: int = 0) -> None:
        self.code = code
        self.request_id = request_id
        super().__init__("chat", field, value, reason)


class ChatRefused(LabkitError):
    """The server answered a request with ERROR."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
        super().__init__(f"chat: the server refused: {name}: {reason}")


def _text(body: bytes, field: str, request_id: int, limit: int = MAX_TEXT) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChatError(field, body[:40], f"not UTF-8 ({exc.reason} at byte {exc.start})",
                        ErrorCode.BAD_BODY, request_id) from None
    if not 1 <= len(body) <= limit:
        raise ChatError(field, len(body), f"expected 1 to {limit} bytes", ErrorCode.BAD_BODY,
                        request_id)
    if _CONTROL.search(text):
        raise ChatError(field, text[:40], "control characters are not allowed", ErrorCode.BAD_BODY,
                        request_id)
    return text


def _nick(value: str | bytes, request_id: int = 0) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not isinstance(text, str) or not _NICK.match(text):
        raise ChatError("nickname", text, "expected 1-32 of A-Z a-z 0-9 _ -", ErrorCode.BAD_BODY,
                        request_id)
    return text


def _check_body(command: Command, body: bytes, request_id: int) -> None:
    if command in (Command.HELLO, Command.WELCOME, Command.JOINED, Command.LEFT):
        _nick(body, request_id)
    elif command is Command.SAY:
        _text(body, "text", request_id)
    elif command is Command.MESSAGE:
        if not body or len(body) < 1 + body[0]:
            raise ChatError("message", body[:40], "expected a nickname length byte, the nickname "
                            "and the text", ErrorCode.BAD_BODY, request_id)
        _nick(body[1 : 1 + body[0]], request_id)
        _text(body[1 + body[0] :], "text", request_id)
    elif command in (Command.WHO, Command.BYE, Command.OK):
        if body:
            raise ChatError("body", body[:40], f"{command.name} has an empty body",
                            ErrorCode.BAD_BODY, request_id)
    elif command is Command.USERS:
        if body:
            for name in body.split(b"\n"):
                _nick(name, request_id)
    elif command is Command.ERROR:
        if len(body) < _ERROR_HEAD.size:
            raise ChatError("error code", body, "ERROR needs a 2-byte code", ErrorCode.BAD_BODY,
                            request_id)
        try:
            body[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise ChatError("reason", body[2:42], "not UTF-8", ErrorCode.BAD_BODY,
                            request_id) from None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One LCP message (without its frame)."""

    command: Command
    body: bytes = b""
    request_id: int = 0
    version: int = VERSION

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "command", Command(self.command))
        except ValueError:
            raise LabkitValueError(f"command={self.command!r}: expected one of "
                                   f"{[c.name for c in Command]}") from None
        if not isinstance(self.request_id, int) or not 0 <= self.request_id <= 0xFFFF:
            raise LabkitValueError(f"request_id={self.request_id!r}: expected 0..65535")
        if not isinstance(self.version, int) or not 0 <= self.version <= 0xFF:
            raise LabkitValueError(f"version={self.version!r}: expected 0..255")
        if not isinstance(self.body, bytes):
            raise LabkitValueError(f"body: expected bytes, got {type(self.body).__name__}")
        if HEADER.size + len(self.body) > MAX_MESSAGE:
            raise LabkitValueError(f"body: {len(self.body)} bytes; a message is at most "
                                   f"{MAX_MESSAGE} bytes")
        if self.version == VERSION:
            try:
                _check_body(self.command, self.body, self.request_id)
            except ChatError as exc:
                raise LabkitValueError(str(exc)) from None

    @classmethod
    def parse(cls, data: bytes) -> ChatMessage:
        """Parse one message; a :class:`ChatError` names the field and the error to reply."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < HEADER.size:
            raise ChatError("header", data, f"{len(data)} bytes; a message has at least "
                            f"{HEADER.size}", ErrorCode.BAD_BODY)
        version, command, request_id = HEADER.unpack_from(data)
        if version != VERSION:
            raise ChatError("version", version, f"this implementation speaks version {VERSION}",
                            ErrorCode.BAD_VERSION, request_id)
        if len(data) > MAX_MESSAGE:
            raise ChatError("length", len(data), f"a message is at most {MAX_MESSAGE} bytes",
                            ErrorCode.TOO_LARGE, request_id)
        if command not in Command._value2member_map_:
            raise ChatError("command", command, "unknown command", ErrorCode.UNKNOWN_COMMAND,
                            request_id)
        body = data[HEADER.size :]
        _check_body(Command(command), body, request_id)
        return cls(Command(command), body, request_id, version)

    def pack(self) -> bytes:
        return HEADER.pack(self.version, self.command, self.request_id) + self.body

    # -- readable views of the body --
    @property
    def text(self) -> str:
        """The body as text (for MESSAGE: the text after the nickname; ERROR: the reason)."""
        if self.command is Command.MESSAGE:
            return self.body[1 + self.body[0] :].decode("utf-8")
        if self.command is Command.ERROR:
            return self.body[2:].decode("utf-8")
        return self.body.decode("utf-8")

    @property
    def sender(self) -> str | None:
        """The nickname a MESSAGE is from."""
        if self.command is Command.MESSAGE:
            return self.body[1 : 1 + self.body[0]].decode("ascii")
        return None

    @property
    def error_code(self) -> int | None:
        if self.command is Command.ERROR:
            return _ERROR_HEAD.unpack_from(self.body)[0]
        return None

    def summary(self) -> str:
        rid = f" #{self.request_id}" if self.request_id else ""
        if self.command is Command.MESSAGE:
            detail = f" <{self.sender}> {self.text}"
        elif self.command is Command.ERROR:
            code = self.error_code
            name = ErrorCode(code).name if code is not None and code in ErrorCode._value2member_map_ else code
            detail = f" {name}: {self.text}"
        elif self.body:
            detail = " " + self.body.decode("utf-8", "replace").replace("\n", ",")
        else:
            detail = ""
        return f"LCP/{self.version} {self.command.name}{rid}{detail}"

    def _repr_html_(self) -> str:
        fields = [("version", self.version), ("command", f"{self.command.name} ({self.command:#04x})"),
                  ("request id", self.request_id), ("body", self.body)]
        return message_html("LCP message", fields, self.pack())

    # -- constructors --
    @classmethod
    def hello(cls, nickname: str, request_id: int = 0) -> ChatMessage:
        return cls(Command.HELLO, str(nickname).encode("utf-8"), request_id)

    @classmethod
    def say(cls, text: str, request_id: int = 0) -> ChatMessage:
        return cls(Command.SAY, text.encode("utf-8"), request_id)

    @classmethod
    def message(cls, sender: str, text: str) -> ChatMessage:
        nick = str(sender).encode("utf-8")[:255]
        return cls(Command.MESSAGE, bytes([len(nick)]) + nick + text.encode("utf-8"))

    @classmethod
    def error(cls, code: ErrorCode, reason: str, request_id: int = 0) -> ChatMessage:
        return cls(Command.ERROR, _ERROR_HEAD.pack(code) + reason.encode("utf-8")[:1000], request_id)


Outgoing = list[tuple[int, "ChatMessage | None"]]


class ChatRoom:
    """The server's side of LCP on messages: who is in the room, and who gets what.

    ``handle(cid, message)`` returns ``(connection id, message)`` pairs to
    send, where ``None`` means "then close that connection". No sockets, no
    clock: the same room runs on real sockets, simulated ones, or in a test.
    """

    def __init__(self) -> None:
        self.members: dict[int, str] = {}  # connection id -> nickname

    def _others(self, cid: int, message: ChatMessage) -> Outgoing:
        return [(other, message) for other in self.members if other != cid]

    def handle(self, cid: int, message: ChatMessage) -> Outgoing:
        rid = message.request_id
        nick = self.members.get(cid)
        cmd = message.command
        if cmd is Command.BYE:
            return [(cid, ChatMessage(Command.BYE, request_id=rid)), (cid, None)] + self.leave(cid)
        if cmd is Command.HELLO:
            wanted = message.body.decode()
            if nick is not None:
                return [(cid, ChatMessage.error(ErrorCode.ALREADY_REGISTERED,
                                                f"you are already {nick}", rid))]
            if wanted in self.members.values():
                return [(cid, ChatMessage.error(ErrorCode.NICK_TAKEN, f"{wanted} is taken", rid))]
            self.members[cid] = wanted
            return [(cid, ChatMessage(Command.WELCOME, message.body, rid))] + self._others(
                cid, ChatMessage(Command.JOINED, message.body))
        if cmd not in (Command.SAY, Command.WHO):
            return [(cid, ChatMessage.error(ErrorCode.NOT_ALLOWED,
                                            f"{cmd.name} is sent by servers, not clients", rid))]
        if nick is None:
            return [(cid, ChatMessage.error(ErrorCode.NOT_REGISTERED, "send HELLO first", rid))]
        if cmd is Command.WHO:
            names = "\n".join(sorted(self.members.values())).encode()
            return [(cid, ChatMessage(Command.USERS, names, rid))]
        return [(cid, ChatMessage(Command.OK, request_id=rid))] + self._others(
            cid, ChatMessage.message(nick, message.text))

    def leave(self, cid: int) -> Outgoing:
        """A connection ended: tell the others, if it had joined."""
        nick = self.members.pop(cid, None)
        if nick is None:
            return []
        return self._others(cid, ChatMessage(Command.LEFT, nick.encode()))

    def handle_bytes(self, cid: int, data: bytes) -> Outgoing:
        """Parse ``data`` as a message and handle it; invalid input gets its ERROR reply."""
        try:
            message = ChatMessage.parse(data)
        except ChatError as exc:
            out: Outgoing = [(cid, ChatMessage.error(exc.code, str(exc), exc.request_id))]
            if exc.code in FATAL or exc.field == "header":
                out.append((cid, None))
                out += self.leave(cid)
            return out
        return self.handle(cid, message)


class ChatService:
    """LCP with framing, as a ``SelectorServer`` service: bytes in, framed bytes out."""

    def __init__(self, room: ChatRoom | None = None) -> None:
        self.room = ChatRoom() if room is None else room
        self._decoders: dict[int, MessageDecoder] = {}

    @staticmethod
    def _encode(out: Outgoing) -> list[tuple[int, bytes | None]]:
        return [(cid, None if m is None else pack_msg(m.pack())) for cid, m in out]

    def connected(self, cid: int) -> list[tuple[int, bytes | None]]:
        self._decoders[cid] = MessageDecoder(MAX_MESSAGE)
        return []

    def received(self, cid: int, data: bytes) -> list[tuple[int, bytes | None]]:
        decoder = self._decoders.get(cid)
        if decoder is None:  # already being closed
            return []
        out: Outgoing = []
        try:
            frames = decoder.feed(data)
        except MessageTooLarge as exc:
            frames = []
            out = [(cid, ChatMessage.error(ErrorCode.TOO_LARGE, str(exc))), (cid, None)]
        for frame in frames:
            replies = self.room.handle_bytes(cid, frame)
            out += replies
            if (cid, None) in replies:
                del self._decoders[cid]
                break
        if out and out[-1] == (cid, None) and cid in self._decoders:
            del self._decoders[cid]
            out += self.room.leave(cid)
        return self._encode(out)

    def closed(self, cid: int) -> list[tuple[int, bytes | None]]:
        self._decoders.pop(cid, None)
        return self._encode(self.room.leave(cid))


class ChatClient:
    """An LCP client on any connected socket-like object (``sendall``, ``recv``).

    Replies are matched to requests by request id; notifications that arrive
    meanwhile (MESSAGE, JOINED, LEFT) wait in :attr:`inbox`.
    """

    def __init__(self, sock: StreamSocket) -> None:
        self.sock = sock
        self.inbox: deque[ChatMessage] = deque()
        self._next_id = 1

    def _request(self, message: ChatMessage) -> ChatMessage:
        send_msg(self.sock, message.pack(), MAX_MESSAGE)
        while True:
            reply = self._read()
            if reply.request_id == message.request_id and reply.command not in (
                Command.MESSAGE, Command.JOINED, Command.LEFT
            ):
                if reply.command is Command.ERROR:
                    raise ChatRefused(reply.error_code or 0, reply.text)
                return reply
            self.inbox.append(reply)

    def _read(self) -> ChatMessage:
        data = recv_msg(self.sock, MAX_MESSAGE)
        if data is None:
            raise LabkitError("chat: the server closed the connection")
        return ChatMessage.parse(data)

    def _rid(self) -> int:
        rid = self._next_id
        self._next_id = self._next_id % 0xFFFF + 1
        return rid

    def hello(self, nickname: str) -> str:
        """Join the room as ``nickname``; returns the registered name."""
        return self._request(ChatMessage.hello(nickname, self._rid())).text

    def say(self, text: str) -> None:
        self._request(ChatMessage.say(text, self._rid()))

    def who(self) -> list[str]:
        body = self._request(ChatMessage(Command.WHO, request_id=self._rid())).body
        return body.decode().split("\n") if body else []

    def bye(self) -> None:
        self._request(ChatMessage(Command.BYE, request_id=self._rid()))

    def receive(self) -> ChatMessage:
        """The next notification (waits, up to the socket's timeout)."""
        if self.inbox:
            return self.inbox.popleft()
        return self._read()
