"""Liveness and readiness probes.

`/health` says the process serves requests and touches nothing else (a container healthcheck
must not restart the app because a dependency is down). `/health/ready` runs every readiness
check and names the ones that fail (only names: the reasons go to the log). The app adds its
own with `register_check(app, "name", check)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/health")
def liveness() -> Response:
    return jsonify(status="ok")


def register_check(app: Flask, name: str, check: Callable[[], None]) -> None:
    """Add a readiness check: `check()` raises when the app cannot serve yet. /health/ready
    runs every check and answers 503 naming each one that failed."""
    app.extensions.setdefault("readiness_checks", {})[name] = check


def init_app(app: Flask) -> None:
    """The checks of the dependencies this service was configured with, and the endpoints."""
    app.register_blueprint(bp)


@bp.get("/health/ready")
def readiness() -> ResponseReturnValue:
    """200 when every dependency works, else 503 naming the failing checks. The reasons
    (hostnames, driver errors) go to the log only: this endpoint answers anyone who asks."""
    results: dict[str, str] = {}
    for name, check in current_app.extensions.get("readiness_checks", {}).items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"
            log.warning("readiness check %s failed: %r", name, exc, extra={"check": name})
            results[name] = "failing"
        else:
            results[name] = "ok"
    failing = [name for name, result in results.items() if result != "ok"]
    if failing:
        return jsonify(status="unavailable", failing=failing, checks=results), 503
    current_app.logger.debug("ready")
    return jsonify(status="ready", checks=results)
