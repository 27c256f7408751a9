"""The HTTP/1.x codec: golden messages, bad input as labkit errors, round trips, server and client."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit import LabkitError, LabkitValueError
from labkit.app.http import (
    HttpClient,
    HttpError,
    HttpLimits,
    HttpReader,
    HttpTimeout,
    Request,
    Response,
    serve_connection,
    static_site,
)
from labkit.app.servers import ThreadedServer

GOLDEN_GET = (b"GET /index.html?q=1 HTTP/1.1\r\n"
              b"Host: 127.0.0.1:8080\r\n"
              b"User-Agent: labkit\r\n"
              b"Accept: */*\r\n\r\n")
GOLDEN_POST = (b"POST /submit HTTP/1.0\r\nHost: example\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 11\r\n\r\nhello world")
GOLDEN_RESPONSE = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
                   b"\r\nnot here\n")


def test_golden_get():
    r = Request.parse(GOLDEN_GET)
    assert (r.method, r.target, r.version, r.body) == ("GET", "/index.html?q=1", "HTTP/1.1", b"")
    assert r.header("host") == "127.0.0.1:8080" and r.header("ACCEPT") == "*/*"
    assert r.header("missing", "-") == "-"
    assert r.keep_alive
    assert r.pack() == GOLDEN_GET


def test_golden_post_and_response():
    r = Request.parse(GOLDEN_POST)
    assert (r.method, r.version, r.body, r.keep_alive) == ("POST", "HTTP/1.0", b"hello world", False)
    assert r.pack() == GOLDEN_POST
    resp = Response.parse(GOLDEN_RESPONSE)
    assert (resp.status, resp.reason, resp.text) == (404, "Not Found", "not here\n")
    assert resp.pack() == GOLDEN_RESPONSE


def test_pack_adds_content_length_and_reason():
    assert Response(200, body="hi").pack() == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    assert Response(204).pack() == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert Request("POST", "/", (("Host", "h"),), b"abc").pack().endswith(
        b"Content-Length: 3\r\n\r\nabc")
    assert Response(200, body="hello").pack(head_only=True).endswith(b"Content-Length: 5\r\n\r\n")


def test_lf_only_lines_and_leading_empty_lines_accepted():
    r = Request.parse(b"\r\n\nGET / HTTP/1.0\nX-A: 1\n\n")
    assert (r.target, r.header("x-a")) == ("/", "1")


def test_response_without_length_runs_to_end_of_stream():
    resp = Response.parse(b"HTTP/1.0 200 OK\r\n\r\nall of this")
    assert resp.body == b"all of this" and not resp.keep_alive


def test_head_and_304_responses_have_no_body():
    assert Response.parse(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", method="HEAD").body == b""
    assert Response.parse(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n").body == b""


@pytest.mark.parametrize(
    ("data", "field", "status"),
    [
        (b"GET /\r\n\r\n", "request-line", 400),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request-line", 400),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "method", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "version", 505),
        (b"GET / HTTP/one\r\nHost: a\r\n\r\n", "version", 400),
        (b"GET / HTTP/1.1\r\n\r\n", "Host", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Host", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         "Content-Length", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n", "Content-Length", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", "Content-Length", 413),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "header", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "header", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", "header", 400),
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", "header", 400),
        (b"GET /\xe4 HTTP/1.1\r\nHost: a\r\n\r\n", "target", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", "body", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nEXTRA", "trailing", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", "header", 400),
        (b"", "request", 400),
    ],
)
def test_bad_requests(data, field, status):
    with pytest.raises(HttpError) as info:
        Request.parse(data)
    assert info.value.field == field and info.value.status == status
    assert info.value.layer == "http"


def test_limits():
    limits = HttpLimits(max_line=50, max_headers=3, max_header_bytes=200, max_body=10)
    many = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 5 + b"\r\n"
    with pytest.raises(HttpError, match="more than 3 header lines") as info:
        Request.parse(many, limits)
    assert info.value.status == 431
    with pytest.raises(HttpError) as info:
        Request.parse(b"GET /" + b"a" * 60 + b" HTTP/1.1\r\nHost: a\r\n\r\n", limits)
    assert info.value.status == 414
    with pytest.raises(HttpError, match="header block longer") as info:
        Request.parse(b"GET / HTTP/1.1\r\n" + b"X: yyyyyyyyyy\r\n" * 30, limits)
    assert info.value.status == 431
    with pytest.raises(LabkitValueError, match="max_body"):
        HttpLimits(max_body=0)


def test_bad_responses():
    for data in (b"HTTP/1.1 2000 OK\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"FTP/1.0 200 OK\r\n\r\n",
                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b""):
        with pytest.raises(HttpError):
            Response.parse(data)


def test_constructors_validate():
    with pytest.raises(LabkitValueError, match="method"):
        Request("GE T", "/")
    with pytest.raises(LabkitValueError, match="target"):
        Request("GET", "/a b")
    with pytest.raises(LabkitValueError, match="target"):
        Request("GET", "/你好")
    with pytest.raises(LabkitValueError, match="Latin-1"):
        Request("GET", "/", (("X-Name", "你好"),))
    with pytest.raises(LabkitValueError, match="header"):
        Request("GET", "/", (("X", "a\r\nInjected: 1"),))
    with pytest.raises(LabkitValueError, match="version"):
        Request("GET", "/", version="HTTP/2")
    with pytest.raises(LabkitValueError, match="status"):
        Response(99)
    with pytest.raises(LabkitValueError, match="no body"):
        Response(204, body=b"x")


def test_keep_alive_rules():
    assert Request("GET", "/", version="HTTP/1.1").keep_alive
    assert not Request("GET", "/", (("Connection", "close"),)).keep_alive
    assert not Request("GET", "/", version="HTTP/1.0").keep_alive
    assert Request("GET", "/", (("Connection", "Keep-Alive"),), version="HTTP/1.0").keep_alive


_token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1,
                 max_size=12)
_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


@given(
    method=_token,
    target=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
    headers=st.lists(st.tuples(_token.filter(lambda n: n.lower() not in (
        "host", "content-length", "transfer-encoding")), _value), max_size=8),
    body=st.binary(max_size=200),
    version=st.sampled_from(["HTTP/1.0", "HTTP/1.1"]),
)
def test_request_round_trip(method, target, headers, body, version):
    req = Request(method, target, (("Host", "h"), *headers), body, version)
    back = Request.parse(req.pack())
    assert (back.method, back.target, back.version, back.body) == (method, target, version, body)
    assert back.headers[: len(req.headers)] == req.headers


@given(st.integers(100, 599), st.binary(max_size=100), st.lists(st.tuples(_token, _value), max_size=5))
def test_response_round_trip(status, body, headers):
    headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
    resp = Response(status, headers, body if status >= 200 and status not in (204, 304) else b"")
    back = Response.parse(resp.pack())
    assert (back.status, back.body, back.reason) == (resp.status, resp.body, resp.reason)


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.one_of(st.binary(max_size=300), st.builds(
    lambda data, i, b: data[:i] + bytes([b]) + data[i + 1:],
    st.sampled_from([GOLDEN_GET, GOLDEN_POST]), st.integers(0, 120), st.integers(0, 255))))
def test_fuzz_requests_only_http_errors(data):
    try:
        request = Request.parse(data)
    except HttpError:  # what serve_connection answers with a 4xx/5xx; anything else is a bug
        return
    assert Request.parse(request.pack()).method == request.method


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.binary(max_size=300))
def test_fuzz_responses_only_http_errors(data):
    try:
        Response.parse(b"HTTP/1.1 " + data)
    except HttpError:
        pass


# --- server and client on socket-like objects -------------------------------------------------

SITE = static_site({"/": "<h1>home</h1>", "/a": b"page a"})


def _serve_pair(handler=SITE):
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    return a, b


def test_pipelined_requests_on_one_connection():
    client, server = _serve_pair()
    client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
    assert serve_connection(server, SITE) == 2
    server.close()
    data = b""
    while chunk := client.recv(4096):
        data += chunk
    first, rest = data.split(b"page a", 1)
    assert first.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 6" in first
    assert rest.startswith(b"HTTP/1.1 404 Not Found") and b"Connection: close" in rest
    client.close()


def test_bad_request_gets_400_and_close():
    client, server = _serve_pair()
    client.sendall(b"BAD\r\n\r\n")
    assert serve_connection(server, SITE) == 0
    server.close()
    resp = Response.parse(client.recv(4096))
    assert resp.status == 400 and not resp.keep_alive and "request-line" in resp.text
    client.close()


def test_chunked_request_gets_501():
    client, server = _serve_pair()
    client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    serve_connection(server, SITE)
    server.close()
    assert Response.parse(client.recv(4096)).status == 501
    client.close()


def test_handler_failure_is_a_plain_500():
    def broken(request):
        raise RuntimeError("secret internals")

    client, server = _serve_pair()
    client.sendall(b"GET / HTTP/1.0\r\n\r\n")
    serve_connection(server, broken)
    server.close()
    resp = Response.parse(client.recv(4096))
    assert resp.status == 500 and "secret" not in resp.text
    client.close()


def test_http10_closes_and_head_has_no_body():
    client, server = _serve_pair()
    client.sendall(b"HEAD / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
    assert serve_connection(server, SITE) == 1  # 1.0 without keep-alive: one request
    server.close()
    data = client.recv(4096)
    assert data.endswith(b"\r\n\r\n") and b"Content-Length: 13" in data
    client.close()


def test_silent_client_times_out_quietly():
    client, server = _serve_pair()
    server.settimeout(0.05)
    client.sendall(b"GET / HT")
    assert serve_connection(server, SITE) == 0  # gives up without a reply
    with pytest.raises(HttpTimeout, match="timed out waiting for the header") as info:
        HttpReader(server).read_request()
    assert isinstance(info.value, TimeoutError)
    client.close()
    server.close()


def test_client_and_server_over_loopback_with_keep_alive():
    server = ThreadedServer(lambda conn: serve_connection(conn, SITE), timeout=5)
    with server, socket.create_connection(server.address, timeout=5) as sock:
        client = HttpClient(sock)
        assert client.get("/").text == "<h1>home</h1>"
        assert client.get("/a").body == b"page a"
        assert client.request("POST", "/a", body=b"x").status == 405
        assert client.request("HEAD", "/a").body == b""
        last = client.get("/nope", headers=[("Connection", "close")])
        assert last.status == 404 and not client.open
        with pytest.raises(LabkitError, match="open a new one"):
            client.get("/")
    assert server.accepted == 1  # five requests, one TCP connection


def test_html_views_escape_and_show_bytes():
    from labkit.app.chat import ChatMessage

    html = Request("GET", "/", (("X-Tag", "<script>"),))._repr_html_()
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "47 45 54 20" in html  # "GET " in hex
    assert "404" in Response(404)._repr_html_()
    assert "SAY (0x03)" in ChatMessage.say("hi", 1)._repr_html_()


def test_http10_keep_alive_and_request_limit():
    client, server = _serve_pair()
    keep = b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    client.sendall(keep * 3)
    assert serve_connection(server, SITE, max_requests=2) == 2
    server.close()
    data = b""
    while chunk := client.recv(4096):
        data += chunk
    first, second = data.split(b"page a")[:2]
    assert b"Connection: keep-alive" in first  # a 1.0 client asked for it: say yes
    assert b"Connection: close" in second  # the second request reached max_requests
    client.close()
