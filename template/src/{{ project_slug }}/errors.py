"""JSON error responses: clients of an API never get an HTML error page."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def error_response(status: int, name: str, message: str):
    return jsonify(error={"status": status, "name": name, "message": message}), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def handle_unexpected_error(exc: Exception):
        log.exception("unhandled error")
        error = InternalServerError()
        return error_response(500, error.name, "The server hit an unexpected error.")
