"""LCP, the course's own chat protocol: wire format, room rules, errors, and real sockets."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit import LabkitError, LabkitValueError
from labkit.app.chat import (
    ChatClient,
    ChatError,
    ChatMessage,
    ChatRefused,
    ChatRoom,
    ChatService,
    Command,
    ErrorCode,
)
from labkit.app.framing import pack_msg, recv_msg, send_msg
from labkit.app.servers import SelectorServer


def test_golden_bytes():
    assert ChatMessage.hello("ann", 7).pack() == b"\x01\x01\x00\x07ann"
    assert ChatMessage.message("bob", "hi").pack() == b"\x01\x04\x00\x00\x03bobhi"
    assert ChatMessage.error(ErrorCode.NICK_TAKEN, "no", 2).pack() == b"\x01\x7f\x00\x02\x00\x05no"
    m = ChatMessage.parse(b"\x01\x04\x00\x00\x03bobhi")
    assert (m.command, m.sender, m.text, m.request_id) == (Command.MESSAGE, "bob", "hi", 0)
    assert m.summary() == "LCP/1 MESSAGE <bob> hi"
    assert ChatMessage.parse(b"\x01\x7f\x00\x02\x00\x05no").summary() == "LCP/1 ERROR #2 NICK_TAKEN: no"


@pytest.mark.parametrize(
    ("data", "field", "code", "rid"),
    [
        (b"\x01", "header", ErrorCode.BAD_BODY, 0),
        (b"\x02\x01\x00\x09ann", "version", ErrorCode.BAD_VERSION, 9),
        (b"\x01\x42\x00\x03", "command", ErrorCode.UNKNOWN_COMMAND, 3),
        (b"\x01\x01\x00\x01a b", "nickname", ErrorCode.BAD_BODY, 1),
        (b"\x01\x01\x00\x01" + b"a" * 33, "nickname", ErrorCode.BAD_BODY, 1),
        (b"\x01\x03\x00\x01", "text", ErrorCode.BAD_BODY, 1),
        (b"\x01\x03\x00\x01\xff\xfe", "text", ErrorCode.BAD_BODY, 1),
        (b"\x01\x03\x00\x01a\x00b", "text", ErrorCode.BAD_BODY, 1),
        (b"\x01\x05\x00\x01x", "body", ErrorCode.BAD_BODY, 1),
        (b"\x01\x04\x00\x00\x09bob", "message", ErrorCode.BAD_BODY, 0),
        (b"\x01\x7f\x00\x00\x01", "error code", ErrorCode.BAD_BODY, 0),
        (b"\x01\x03\x00\x01" + b"a" * 5000, "length", ErrorCode.TOO_LARGE, 1),
    ],
)
def test_bad_messages(data, field, code, rid):
    with pytest.raises(ChatError) as info:
        ChatMessage.parse(data)
    err = info.value
    assert (err.field, err.code, err.request_id, err.layer) == (field, code, rid, "chat")


def test_constructors_validate():
    with pytest.raises(LabkitValueError, match="nickname"):
        ChatMessage.hello("no spaces")
    with pytest.raises(LabkitValueError, match="command"):
        ChatMessage(0x42)
    with pytest.raises(LabkitValueError, match="request_id"):
        ChatMessage(Command.WHO, request_id=70000)
    with pytest.raises(LabkitValueError):
        ChatMessage.say("")


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.binary(max_size=64))
def test_fuzz_only_chat_errors(data):
    try:
        m = ChatMessage.parse(b"\x01" + data)
    except ChatError:
        return
    assert ChatMessage.parse(m.pack()) == m


def _room_script(room, steps):
    """Feed (cid, message) steps to the room; return every output as (cid, summary or 'close')."""
    out = []
    for cid, message in steps:
        out += [(c, "close" if m is None else m.summary()) for c, m in room.handle(cid, message)]
    return out


def test_room_rules():
    room = ChatRoom()
    out = _room_script(room, [
        (1, ChatMessage.say("early", 1)),
        (1, ChatMessage.hello("ann", 2)),
        (2, ChatMessage.hello("ann", 1)),
        (2, ChatMessage.hello("bob", 2)),
        (1, ChatMessage.hello("again", 3)),
        (1, ChatMessage.say("hi bob", 4)),
        (2, ChatMessage(Command.WHO, request_id=3)),
        (2, ChatMessage(Command.OK, request_id=4)),
        (2, ChatMessage(Command.BYE, request_id=5)),
    ])
    assert out == [
        (1, "LCP/1 ERROR #1 NOT_REGISTERED: send HELLO first"),
        (1, "LCP/1 WELCOME #2 ann"),
        (2, "LCP/1 ERROR #1 NICK_TAKEN: ann is taken"),
        (2, "LCP/1 WELCOME #2 bob"),
        (1, "LCP/1 JOINED bob"),
        (1, "LCP/1 ERROR #3 ALREADY_REGISTERED: you are already ann"),
        (1, "LCP/1 OK #4"),
        (2, "LCP/1 MESSAGE <ann> hi bob"),
        (2, "LCP/1 USERS #3 ann,bob"),
        (2, "LCP/1 ERROR #4 NOT_ALLOWED: OK is sent by servers, not clients"),
        (2, "LCP/1 BYE #5"),
        (2, "close"),
        (1, "LCP/1 LEFT bob"),
    ]
    assert room.members == {1: "ann"}


def test_room_bad_version_is_answered_in_version_1_then_closed():
    room = ChatRoom()
    room.handle(1, ChatMessage.hello("ann"))
    room.handle(2, ChatMessage.hello("bob"))
    out = room.handle_bytes(2, b"\x02\x01\x00\x05whatever")
    assert out[0][0] == 2 and out[0][1].version == 1 and out[0][1].error_code == ErrorCode.BAD_VERSION
    assert out[0][1].request_id == 5
    assert out[1] == (2, None)
    assert out[2][0] == 1 and out[2][1].command is Command.LEFT


def test_unknown_command_keeps_the_connection():
    out = ChatRoom().handle_bytes(1, b"\x01\x42\x00\x03")
    assert len(out) == 1 and out[0][1].error_code == ErrorCode.UNKNOWN_COMMAND


def test_service_refuses_an_oversized_frame():
    service = ChatService()
    service.connected(1)
    out = service.received(1, b"\x00\x10\x00\x00")
    assert out[-1] == (1, None)
    reply = ChatMessage.parse(out[0][1][4:])
    assert reply.error_code == ErrorCode.TOO_LARGE
    assert service.received(1, b"more") == []  # the connection is being closed


def test_service_reassembles_split_frames():
    service = ChatService()
    service.connected(1)
    stream = pack_msg(ChatMessage.hello("ann", 1).pack()) + pack_msg(
        ChatMessage(Command.WHO, request_id=2).pack())
    replies = []
    for byte in stream:
        replies += service.received(1, bytes([byte]))
    assert [ChatMessage.parse(data[4:]).summary() for _, data in replies] == [
        "LCP/1 WELCOME #1 ann", "LCP/1 USERS #2 ann"]


def test_chat_on_real_sockets():
    with SelectorServer(ChatService(), timeout=10) as server:
        socks = [socket.create_connection(server.address, timeout=5) for _ in range(3)]
        ann, bob, cat = (ChatClient(s) for s in socks)
        assert ann.hello("ann") == "ann"
        assert bob.hello("bob") == "bob"
        with pytest.raises(ChatRefused, match="NICK_TAKEN"):
            cat.hello("bob")
        assert cat.hello("cat") == "cat"
        ann.say("hello, 世界")
        assert bob.receive().summary() == "LCP/1 JOINED cat"
        got = bob.receive()
        assert (got.sender, got.text) == ("ann", "hello, 世界")
        assert cat.receive().text == "hello, 世界"
        assert ann.who() == ["ann", "bob", "cat"]
        cat.bye()
        assert socks[2].recv(10) == b""  # the server closed cat's connection after BYE
        assert [ann.receive().summary() for _ in range(3)] == [
            "LCP/1 JOINED bob", "LCP/1 JOINED cat", "LCP/1 LEFT cat"]
        socks[1].close()  # bob vanishes without BYE
        assert ann.receive().summary() == "LCP/1 LEFT bob"
        # a client speaking version 2 gets a version-1 ERROR, then the connection closes
        with socket.create_connection(server.address, timeout=5) as future:
            send_msg(future, b"\x02\x01\x00\x01zed")
            reply = ChatMessage.parse(recv_msg(future))
            assert reply.error_code == ErrorCode.BAD_VERSION and reply.version == 1
            assert recv_msg(future) is None
        for s in socks:
            s.close()
    assert server.error is None


def test_client_reports_a_closed_server():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.close()
    with pytest.raises(LabkitError):
        ChatClient(a).receive()
    a.close()
