"""Prometheus metrics of the app: requests by endpoint and status, their latency, requests in
flight, and the job queue by state (the worker serves those).

They are served on a port of their own (METRICS_PORT, by the server process, not by the app's
routes), so neither the published port nor a reverse proxy exposes them. Where the server forks
worker processes, each writes its values to PROMETHEUS_MULTIPROC_DIR and the port serves their
sum (prometheus_client's multiprocess mode). The server's settings set that folder, before
anything imports prometheus_client; other processes (the worker, tests, commands) keep their
own values.

Run as a module (`python -m`), it serves the sum of what PROMETHEUS_MULTIPROC_DIR holds on
METRICS_PORT. Here a daemon of uWSGI's master (`python -m acme_notes.berth.metrics`, uwsgi.ini) serves them.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, endpoint (the route's rule) and status.",
    ["method", "endpoint", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival in the app to its response, by method and endpoint.",
    ["method", "endpoint"],
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests the app is answering now.",
    multiprocess_mode="livesum",
)


def init_app(app: Flask) -> None:
    app.before_request(_started)
    app.after_request(_answered)
    app.teardown_request(_finished)


def _endpoint() -> str:
    # The rule, not the path: /orders/<int:order_id> is one series, whatever the id.
    return request.url_rule.rule if request.url_rule else "unmatched"


def _started() -> None:
    g.metrics_started = time.perf_counter()
    IN_FLIGHT.inc()


def _answered(response: Response) -> Response:
    endpoint = _endpoint()
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    if "metrics_started" in g:
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - g.metrics_started)
    return response


def _finished(_exc: BaseException | None) -> None:
    if g.pop("metrics_started", None) is not None:
        IN_FLIGHT.dec()


def registry() -> CollectorRegistry:
    """What the metrics port serves: the sum over the server's processes, or this process."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def serve(port: int | None = None) -> None:
    """Serve /metrics on `port` (METRICS_PORT by default), from a thread of this process. A
    port that is taken is logged, and the app serves on without metrics."""
    if port is None:
        port = int(os.environ.get("METRICS_PORT", "9464"))
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - inside a container
    try:
        start_http_server(port, host, registry())
    except OSError as error:
        log.error("metrics not served: port %s: %s (set METRICS_PORT to a free one)", port, error)


def mark_process_dead(pid: int) -> None:
    """A server worker exited: its requests in flight no longer count."""
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    serve()
    threading.Event().wait()  # until the server stops this process
