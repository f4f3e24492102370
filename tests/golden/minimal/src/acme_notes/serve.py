"""Production server: waitress, configured from the environment.

    python -m acme_notes.serve

PORT (default 8080), WEB_CONCURRENCY (threads, default 4). Forwarded headers are
handled by the app (TRUSTED_PROXIES), not by the server. The app answers bodies above
MAX_REQUEST_MB with a JSON 413; waitress refuses any above twice that without buffering it.

Slow clients: waitress reads each request whole before a thread handles it, and writes answers
from its own buffers (beyond 1 MB in files in /tmp, a tmpfs in the container: memory), so
clients that send or read slowly hold connections, never threads. The connections are bounded
below: published without a proxy, the server stays up while up to a thousand are held.
"""

from __future__ import annotations

import os
import signal
import sys

from waitress import serve

from .wsgi import app


def _stop(signum: int, _frame: object) -> None:
    # As PID 1 in a container, Python has no default action for SIGTERM: exit explicitly.
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    serve(
        app,
        host=os.environ.get("HOST", "0.0.0.0"),  # noqa: S104 - serves inside a container
        port=int(os.environ.get("PORT", "8080")),
        threads=int(os.environ.get("WEB_CONCURRENCY", "4")),
        max_request_body_size=2 * int(os.environ.get("MAX_REQUEST_MB", "1")) * 2**20,
        # At most 1000 open connections (more wait in the backlog), watched with poll():
        # select() stops at 1024 file descriptors.
        connection_limit=1000,
        asyncore_use_poll=True,
        # A connection silent for 30 s (idle keep-alive, a body that stopped) is closed; the
        # check runs every 10 s.
        channel_timeout=30,
        cleanup_interval=10,
        # The app decides which X-Forwarded-* headers to trust (TRUSTED_PROXIES): waitress
        # passes them on instead of removing them.
        clear_untrusted_proxy_headers=False,
        ident=None,  # no Server header
    )


if __name__ == "__main__":
    main()
