from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_are_counted_by_endpoint_status_and_latency(client: FlaskClient) -> None:
    health = {"method": "GET", "endpoint": "/health"}
    before = sample("http_requests_total", **health, status="200")
    timed = sample("http_request_duration_seconds_count", **health)
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert sample("http_requests_total", **health, status="200") == before + 3
    assert sample("http_request_duration_seconds_count", **health) == timed + 3
    # A path no route matches is one series, whatever the path.
    unmatched = {"method": "GET", "endpoint": "unmatched", "status": "404"}
    before = sample("http_requests_total", **unmatched)
    client.get("/no-such-page")
    client.get("/another-one")
    assert sample("http_requests_total", **unmatched) == before + 2
    assert sample("http_requests_in_flight") == 0


def test_the_app_does_not_serve_its_metrics_on_its_own_port(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
