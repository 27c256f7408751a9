import socket
import threading

from labkit.app.chat import ChatError, ChatMessage, Command, ErrorCode

MAX_MESSAGE = 4096


def recv_exact(conn, n):
    """Exactly n bytes from conn, or None if the peer closed first."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _Server:
    """A listening socket on 127.0.0.1 and one thread per connection."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()
        self.running = False

    def start(self):
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            try:
                self.serve(conn)
            except OSError:
                pass

    def stop(self):
        self.running = False
        self.sock.close()


class ChatServer(_Server):
    """The course's chat protocol (labkit/app/chat.py), framed by a 4-byte length."""

    def __init__(self, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.lock = threading.Lock()   # guards members; never held while reading
        self.members = {}              # conn -> nickname

    def send(self, conn, message):
        data = message.pack()
        try:
            conn.sendall(len(data).to_bytes(4, "big") + data)
        except OSError:
            pass

    def others(self, conn, message, targets=None):
        if targets is None:
            with self.lock:
                targets = [c for c in self.members if c is not conn]
        for c in targets:
            self.send(c, message)

    def serve(self, conn):
        try:
            while True:
                head = recv_exact(conn, 4)
                if head is None:
                    return
                length = int.from_bytes(head, "big")
                if length > MAX_MESSAGE:
                    self.send(conn, ChatMessage.error(ErrorCode.TOO_LARGE, "frame too large"))
                    return
                data = recv_exact(conn, length)
                if data is None:
                    return
                if not self.handle(conn, data):
                    return
        finally:
            with self.lock:
                nick = self.members.pop(conn, None)
            if nick is not None:
                self.others(conn, ChatMessage(Command.LEFT, nick.encode()))

    def handle(self, conn, data):
        """Answer one message; False means close the connection."""
        try:
            msg = ChatMessage.parse(data)
        except ChatError as exc:
            self.send(conn, ChatMessage.error(exc.code, str(exc), exc.request_id))
            return exc.code not in (ErrorCode.BAD_VERSION, ErrorCode.TOO_LARGE) and exc.field != "header"
        rid = msg.request_id
        nick = self.members.get(conn)
        if msg.command == Command.BYE:
            self.send(conn, ChatMessage(Command.BYE, request_id=rid))
            return False
        if msg.command == Command.HELLO:
            wanted = msg.body.decode()
            with self.lock:
                if nick is not None:
                    reply = ChatMessage.error(ErrorCode.ALREADY_REGISTERED, "already registered", rid)
                elif wanted in self.members.values():
                    reply = ChatMessage.error(ErrorCode.NICK_TAKEN, f"{wanted} is taken", rid)
                else:
                    targets = [c for c in self.members]  # the members before me
                    self.members[conn] = wanted
                    reply = ChatMessage(Command.WELCOME, msg.body, rid)
            self.send(conn, reply)
            if reply.command == Command.WELCOME:
                self.others(conn, ChatMessage(Command.JOINED, msg.body), targets)
            return True
        if msg.command not in (Command.SAY, Command.WHO):
            self.send(conn, ChatMessage.error(ErrorCode.NOT_ALLOWED, "servers send that", rid))
        elif nick is None:
            self.send(conn, ChatMessage.error(ErrorCode.NOT_REGISTERED, "send HELLO first", rid))
        elif msg.command == Command.WHO:
            with self.lock:
                names = "\n".join(sorted(self.members.values()))
            self.send(conn, ChatMessage(Command.USERS, names.encode(), rid))
        else:
            self.send(conn, ChatMessage(Command.OK, request_id=rid))
            self.others(conn, ChatMessage.message(nick, msg.text))
        return True


class HTTPServer(_Server):
    """HTTP/1.1 GET for a few pages; persistent connections; 400, 404, 405."""

    def __init__(self, pages, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.pages = pages  # path -> bytes

    def respond(self, conn, status, reason, body, close):
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n")
        conn.sendall(head.encode() + body)

    def serve(self, conn):
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                if len(buffer) > 8192:
                    self.respond(conn, 431, "Request Header Fields Too Large", b"", True)
                    return
                chunk = conn.recv(4096)
                if not chunk:
                    return  # the client closed (or half-closed) with no request pending
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self.respond(conn, 400, "Bad Request", b"bad request line\n", True)
                return
            method, path, version = parts
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    self.respond(conn, 400, "Bad Request", b"bad header\n", True)
                    return
                headers[name.strip().lower()] = value.strip()
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            if method != "GET":
                self.respond(conn, 405, "Method Not Allowed", b"GET only\n", close)
            elif path in self.pages:
                self.respond(conn, 200, "OK", self.pages[path], close)
            else:
                self.respond(conn, 404, "Not Found", b"not found\n", close)
            if close:
                return
