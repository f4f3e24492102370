"""Clients that hold a server's connections open, and a probe that times `/health` meanwhile.

The patterns of the docker tier's edge tests (tests/test_docker.py) and of
bench/slow_clients.py, all on 127.0.0.1 and bounded in number and time:

- slow headers: a request line, then one header line every 5 s, never the blank line;
- idle keep-alive: one complete request, its answer read, then silence on the open connection;
- stalled body: headers announcing a body, a few bytes of it, then silence;
- slow reader: a request for a large answer that is never read.

A connection the server closes is opened again at the next beat, as an attacker would: the
server has to keep answering while `count` connections are held at all times.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

BEAT = 5.0  # seconds between two header lines of a slow client

# Routes added to the app under test (health.py's blueprint) for the patterns: a stalled body
# goes to /edge/body, a slow reader asks /edge/large; /edge/whoami shows how the app sees a
# request that came through a proxy.
APP_ROUTES = '''

@bp.post("/edge/body")
def edge_body():
    """Added by berth's edge tests: reads its whole body."""
    from flask import request

    return jsonify(bytes=len(request.get_data()))


@bp.get("/edge/large")
def edge_large():
    """Added by berth's edge tests: an answer of `mb` megabytes."""
    from flask import request

    return b"x" * (int(request.args.get("mb", "1")) * 2**20)


@bp.get("/edge/whoami")
def edge_whoami():
    """Added by berth's edge tests: how the app sees the request; sets a session cookie."""
    from flask import request, session, url_for

    session["seen"] = True
    return jsonify(
        scheme=request.scheme,
        client=request.remote_addr,
        url=url_for("health.liveness", _external=True),
        text="words " * 400,
    )
'''

PATTERNS = ("slow headers", "idle keep-alive", "stalled body", "slow reader")


@dataclass(frozen=True)
class Target:
    """Where the clients connect: a published port, over TLS when `tls` is given."""

    port: int
    tls: ssl.SSLContext | None = None
    server_name: str = "127.0.0.1"  # the Host header, and the certificate's name over TLS
    host: str = "127.0.0.1"

    def connect(self, timeout: float, receive_buffer: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        # As curl and browsers do: else the request waits for the ACK of the TLS handshake's
        # last message, which the server delays (about 40 ms on Linux).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if receive_buffer:  # before connect, so that the window stays small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        try:
            sock.connect((self.host, self.port))
            if self.tls:
                sock = self.tls.wrap_socket(sock, server_hostname=self.server_name)
        except OSError:
            sock.close()
            raise
        return sock

    def request(self, method: str, path: str, headers: str = "") -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nHost: {self.server_name}:{self.port}\r\n{headers}"
        ).encode()


@dataclass
class Probe:
    """`/health` once a second: how long each answer took, and what went wrong instead."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("inf"))

    @property
    def p99(self) -> float:
        if len(self.latencies) < 2:
            return self.worst
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98]

    def summary(self) -> str:
        times = ", ".join(f"{1000 * s:.0f}" for s in self.latencies)
        return f"{len(self.latencies)} answers (ms: {times}); failures: {self.failures}"


def probe(target: Target, seconds: float, interval: float = 1.0, timeout: float = 2.0) -> Probe:
    """GET /health every `interval` seconds for `seconds`, each on a new connection."""
    result = Probe()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        try:
            with target.connect(timeout) as sock:
                sock.sendall(target.request("GET", "/health", "Connection: close\r\n\r\n"))
                status = _read_status(sock)
            if status == 200:
                result.latencies.append(time.monotonic() - began)
            else:
                result.failures.append(f"status {status}")
        except (OSError, ssl.SSLError) as error:
            result.failures.append(f"{type(error).__name__}: {error}")
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    return result


def _read_status(sock: socket.socket) -> int | None:
    line = sock.makefile("rb").readline()
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


class Hold:
    """`count` connections in one of PATTERNS, kept open (reopened when closed) until exit.

    `body_path` is where a stalled body goes (a route that reads its body); `large_path` is
    what a slow reader asks for (an answer larger than the socket buffers).
    """

    def __init__(
        self,
        target: Target,
        pattern: str,
        count: int,
        body_path: str = "/",
        large_path: str = "/",
    ) -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"unknown pattern {pattern!r}: one of {PATTERNS}")
        self.target, self.pattern, self.count = target, pattern, count
        self.body_path, self.large_path = body_path, large_path
        self.sockets: list[socket.socket] = []
        self.opened = 0  # connections opened in all, first ones and reopened
        self.refused = 0  # connections the server did not accept at all
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._beats = threading.Thread(target=self._beat, daemon=True)
        self._answered = pattern == "slow reader"

    def __enter__(self) -> Hold:
        _allow_descriptors(2 * self.count + 64)
        for _ in range(self.count):
            self._open()
        self._beats.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._beats.join(timeout=BEAT + 5)
        with self._lock:
            for sock in self.sockets:
                sock.close()
            self.sockets.clear()

    def held(self) -> int:
        """How many of the connections are open now (the server has not closed them)."""
        with self._lock:
            return sum(1 for sock in self.sockets if _is_open(sock, self._answered))

    def _open(self) -> None:
        start: Callable[[socket.socket], None] = {
            "slow headers": self._slow_headers,
            "idle keep-alive": self._keep_alive,
            "stalled body": self._stalled_body,
            "slow reader": self._slow_reader,
        }[self.pattern]
        try:
            sock = self.target.connect(
                timeout=5, receive_buffer=4096 if self.pattern == "slow reader" else None
            )
            start(sock)
        except (OSError, ssl.SSLError):
            self.refused += 1
            return
        with self._lock:
            self.sockets.append(sock)
            self.opened += 1

    def _slow_headers(self, sock: socket.socket) -> None:
        sock.sendall(self.target.request("GET", "/health"))

    def _keep_alive(self, sock: socket.socket) -> None:
        sock.sendall(self.target.request("GET", "/health", "\r\n"))
        response = sock.makefile("rb")
        length = 0
        while (line := response.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        response.read(length)

    def _stalled_body(self, sock: socket.socket) -> None:
        headers = "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        sock.sendall(self.target.request("POST", self.body_path, headers) + b'{"text": "')

    def _slow_reader(self, sock: socket.socket) -> None:
        sock.sendall(self.target.request("GET", self.large_path, "\r\n"))

    def _beat(self) -> None:
        line = 0
        while not self._stop.wait(BEAT):
            line += 1
            with self._lock:
                alive = [sock for sock in self.sockets if _is_open(sock, self._answered)]
                for sock in set(self.sockets) - set(alive):
                    sock.close()
                self.sockets[:] = alive
            if self.pattern == "slow headers":
                for sock in alive:
                    with contextlib.suppress(OSError):  # closed meanwhile: reopened next beat
                        sock.sendall(b"X-Slow-%d: %d\r\n" % (line, line))
            for _ in range(self.count - len(alive)):
                if self._stop.is_set():
                    break
                self._open()


def _is_open(sock: socket.socket, answer_expected: bool = False) -> bool:
    """Whether the server still holds the connection. Anything it sent (an error status) or a
    close ends a held request; only a slow reader's answer is expected, and waits unread (over
    TLS one byte of it is read: the records before it, such as session tickets, must be)."""
    sock.setblocking(False)
    try:
        tls = isinstance(sock, ssl.SSLSocket)
        data = sock.recv(1) if tls else sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
        return True
    except OSError:  # ssl.SSLError included
        return False
    finally:
        sock.settimeout(5)
    return bool(data) and answer_expected


def _allow_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(needed, soft), hard), hard))
