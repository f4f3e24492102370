"""Error responses: JSON for API clients, Flask's HTML pages for browsers.

A request gets JSON unless it prefers HTML (a browser) and is not under /api/ or /health, so
curl, fetch() and API clients never parse an HTML page, while an app with HTML views keeps
Flask's error pages and any handlers it registers for them.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

JSON_PATHS = ("/api/", "/health")


def error_response(status: int, name: str, message: str) -> tuple[Response, int]:
    return jsonify(error={"status": status, "name": name, "message": message}), status


def wants_json() -> bool:
    if request.path.startswith(JSON_PATHS):
        return True
    accepted = request.accept_mimetypes
    return accepted.quality("application/json") >= accepted.quality("text/html")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> HTTPException | tuple[Response, int]:
        if not wants_json():
            return exc
        body, status = error_response(exc.code or 500, exc.name, exc.description or exc.name)
        # Headers the error carries (Allow of a 405, Retry-After of a 503) stay on the answer.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def handle_unexpected_error(exc: Exception) -> HTTPException | tuple[Response, int]:
        log.exception("unhandled error")
        error = InternalServerError()
        if not wants_json():
            return error
        return error_response(500, error.name, "The server hit an unexpected error.")
