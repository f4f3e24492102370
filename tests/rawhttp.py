"""HTTP requests too large or too odd for urllib: a declared body that is never sent in full,
a chunked body, and the status (or the closed connection) the server answers with. Plain HTTP
to a port, or any edge.Target (HTTPS included)."""

from __future__ import annotations

import socket
import ssl

from edge import Target

CHUNK = 64 * 1024


def post_body(
    site: int | Target,
    path: str,
    size: int,
    *,
    chunked: bool = False,
    content_type: str = "application/json",
    timeout: float = 30,
) -> tuple[int | None, bytes]:
    """POST `size` bytes (of `{` ... to look like JSON); the response's status and body, or
    (None, b"") when the server closed the connection without one. Stops sending as soon as
    the server answers or closes: a server that refuses a large body early is not made to
    read it."""
    site = Target(site) if isinstance(site, int) else site
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = site.request(
        "POST", path, f"Content-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n"
    )
    with site.connect(timeout) as sock:
        sock.sendall(head)
        sent, early = 0, b""
        try:
            while sent < size:
                piece = b"{" + b" " * (min(CHUNK, size - sent) - 1)
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                answered, early = _answered(sock)
                if answered:
                    break
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server closed the connection before the body was sent
        return _response(sock, early)


def _answered(sock: socket.socket) -> tuple[bool, bytes]:
    """Whether the server has sent something or closed the connection, and what of its answer
    had to be read to tell (over TLS: a peek at the raw socket would see session tickets)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        if isinstance(sock, ssl.SSLSocket):
            return True, sock.recv(1)  # b"" at the end of the stream
        sock.recv(1, socket.MSG_PEEK)  # data, or b"" at the end of the stream
        return True, b""
    except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
        return False, b""
    except (ConnectionResetError, ssl.SSLError):
        return True, b""
    finally:
        sock.settimeout(timeout)


def _response(sock: socket.socket, early: bytes = b"") -> tuple[int | None, bytes]:
    try:
        reply = sock.makefile("rb")
        status_line = early + reply.readline()
        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            return None, b""
        length = 0
        while (header := reply.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return int(parts[1]), reply.read(length) if length else b""
    except (ConnectionResetError, TimeoutError, ssl.SSLError):
        return None, b""
