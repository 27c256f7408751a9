"""The application layer, and programs on real sockets.

- :mod:`labkit.app.framing`: length-prefixed messages on a byte stream
  (``send_msg``/``recv_msg``, :class:`MessageDecoder`), the cure for 粘包;
- :mod:`labkit.app.http`: a small HTTP/1.0 and 1.1 codec, server and client;
- :mod:`labkit.app.chat`: LCP, a chat protocol of our own, with its spec;
- :mod:`labkit.app.servers`: selectors, thread-per-client and UDP servers that
  a notebook can start and stop;
- :mod:`labkit.app.sockets`: a loopback TCP pair and other lesson helpers;
- :mod:`labkit.app.ping` and :mod:`labkit.app.traceroute`: the two diagnostic programs,
  on a simulated host's IP stack.

Everything else here works on any socket-like object (``sendall``, ``recv``,
``settimeout``): real sockets today, labkit's simulated TCP sockets too.
"""

from labkit.app.chat import ChatClient, ChatMessage, ChatRefused, ChatRoom, ChatService
from labkit.app.framing import (
    HEADER,
    MAX_MESSAGE_SIZE,
    FramingError,
    IncompleteMessage,
    MessageDecoder,
    MessageTimeout,
    MessageTooLarge,
    pack_msg,
    recv_exactly,
    recv_msg,
    send_msg,
)
from labkit.app.http import (
    HttpClient,
    HttpError,
    HttpEventServer,
    HttpLimits,
    HttpTimeout,
    Request,
    Response,
    serve_connection,
    static_site,
)
from labkit.app.servers import (
    EchoService,
    SelectorServer,
    ThreadedServer,
    UdpEchoServer,
    echo_handler,
    make_server_socket,
)
from labkit.app.sockets import tcp_pair, wait_buffered

__all__ = [
    "HEADER",
    "MAX_MESSAGE_SIZE",
    "ChatClient",
    "ChatMessage",
    "ChatRefused",
    "ChatRoom",
    "ChatService",
    "EchoService",
    "FramingError",
    "HttpClient",
    "HttpError",
    "HttpEventServer",
    "HttpLimits",
    "HttpTimeout",
    "IncompleteMessage",
    "MessageDecoder",
    "MessageTimeout",
    "MessageTooLarge",
    "Request",
    "Response",
    "SelectorServer",
    "ThreadedServer",
    "UdpEchoServer",
    "echo_handler",
    "make_server_socket",
    "pack_msg",
    "recv_exactly",
    "recv_msg",
    "send_msg",
    "serve_connection",
    "static_site",
    "tcp_pair",
    "wait_buffered",
]
