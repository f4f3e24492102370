"""The container's healthcheck (the Dockerfile's HEALTHCHECK): GET /health from the server on
this container's PORT; exit status 0 on a 200, else 1 with the reason, which
`docker inspect --format '{{json .State.Health}}' <container>` shows.

Docker runs it as a script with `python -I -S`: it imports nothing of the app or its
dependencies (about 15 ms of CPU). While nothing listens on the port yet, it keeps trying
instead of failing at once. Docker probes first one interval after the container starts; a
server that starts listening after that moment is healthy as soon as it answers, not one
interval later, on every engine (Docker 25's `start_interval` is refused by older ones).
"""

import os
import socket
import sys
import time

# Below the HEALTHCHECK's --timeout (3 s): a probe Docker kills counts as failed, without a reason.
WAIT_SECONDS = 2.5
RETRY_SECONDS = 0.05
REQUEST = b"GET /health HTTP/1.0\r\n\r\n"


def status_line(port: int, give_up: float) -> bytes:
    """The first line of the server's answer to GET /health."""
    while True:
        try:
            server = socket.create_connection(
                ("127.0.0.1", port), max(give_up - time.monotonic(), RETRY_SECONDS)
            )
            break
        except ConnectionRefusedError:
            if time.monotonic() + RETRY_SECONDS >= give_up:
                raise
            time.sleep(RETRY_SECONDS)
    with server:
        server.settimeout(max(give_up - time.monotonic(), RETRY_SECONDS))
        server.sendall(REQUEST)
        answer = b""
        while b"\r\n" not in answer and len(answer) < 1024:
            chunk = server.recv(1024)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def main() -> int:
    port = int(os.environ["PORT"])
    try:
        line = status_line(port, time.monotonic() + WAIT_SECONDS)
    except ConnectionRefusedError:
        sys.stderr.write(f"nothing listens on port {port} (waited {WAIT_SECONDS} s)\n")
        return 1
    except TimeoutError:
        sys.stderr.write(f"GET /health on port {port}: no answer within {WAIT_SECONDS} s\n")
        return 1
    except OSError as error:
        sys.stderr.write(f"GET /health on port {port}: {error}\n")
        return 1
    if line[9:12] == b"200":
        return 0
    shown = line.decode("latin-1") or "the connection closed without an answer"
    sys.stderr.write(f"GET /health on port {port}: {shown}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
