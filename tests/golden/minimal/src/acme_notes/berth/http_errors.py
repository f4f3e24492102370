"""Error responses: JSON for API clients, Flask's HTML pages for browsers.

A request gets JSON unless it prefers HTML (a browser) and is not under /api/ or /health, so
curl, fetch() and API clients never parse an HTML page, while an app with HTML views keeps
Flask's error pages and any handlers it registers for them.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

JSON_PATHS = ("/api/", "/health")


def error_response(
    status: int, name: str, message: str, details: Any = None
) -> tuple[Response, int]:
    error = {"status": status, "name": name, "message": message}
    if details is not None:
        error["details"] = details
    return jsonify(error=error), status


def wants_json() -> bool:
    if request.path.startswith(JSON_PATHS):
        return True
    accepted = request.accept_mimetypes
    return accepted.quality("application/json") >= accepted.quality("text/html")


def init_app(app: Flask) -> None:
    """JSON errors for API clients. These are the fallbacks: a handler the app registers for
    a status code (`@app.errorhandler(404)`, `(500)`) is more specific, and wins."""

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> HTTPException | tuple[Response, int]:
        if not wants_json():
            return exc
        body, status = error_response(
            exc.code or 500, exc.name, exc.description or exc.name, validation_details(exc)
        )
        # Headers the error carries (Allow of a 405, Retry-After of a 503) stay on the answer.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body, status

    # Flask logs the traceback of an unhandled exception, then answers it with this 500.
    @app.errorhandler(InternalServerError)
    def handle_unexpected_error(exc: InternalServerError) -> HTTPException | tuple[Response, int]:
        if not wants_json():
            return exc
        return error_response(500, exc.name, "The server hit an unexpected error.")


def validation_details(exc: HTTPException) -> Any:
    """What a validation library attached to its 4xx, e.g. webargs' per-field messages
    (`exc.data["messages"]`); None when there is nothing, or nothing JSON can carry."""
    data = getattr(exc, "data", None)
    messages = data.get("messages") if isinstance(data, dict) else None
    try:
        json.dumps(messages)
    except TypeError:  # an object JSON has no form for
        return None
    except ValueError:  # a circular structure
        return None
    return messages
