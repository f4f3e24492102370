"""HTTP requests too large or too odd for urllib: a declared body that is never sent in full,
a chunked body, and the status (or the closed connection) the server answers with."""

from __future__ import annotations

import socket

CHUNK = 64 * 1024


def post_body(
    port: int,
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
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < size:
                piece = b"{" + b" " * (min(CHUNK, size - sent) - 1)
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                if _answered(sock):
                    break
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _response(sock)


def _answered(sock: socket.socket) -> bool:
    """True once the server has sent something or closed the connection."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # data, or b"" at the end of the stream
        return True
    except (BlockingIOError, InterruptedError):
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def _response(sock: socket.socket) -> tuple[int | None, bytes]:
    try:
        reply = sock.makefile("rb")
        status_line = reply.readline()
        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            return None, b""
        length = 0
        while (header := reply.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return int(parts[1]), reply.read(length) if length else b""
    except (ConnectionResetError, TimeoutError):
        return None, b""
