"""Reading client input. Malformed or hostile input gets a 4xx JSON error that says what is
wrong, never a 500: bodies too large (413, MAX_REQUEST_MB, on every route of the app), JSON
that is not an object or is nested too deeply (400), strings a database cannot store (422),
numbers out of range (400)."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, request


def init_app(app: Flask) -> None:
    app.before_request(refuse_a_chunked_body_over_the_limit)


def refuse_a_chunked_body_over_the_limit() -> None:
    """Flask refuses a body whose Content-Length is above MAX_CONTENT_LENGTH; a chunked body
    has none, and Flask silently cuts it off at the limit. Read it (the view reads it from
    the cache) and refuse one that reached the limit: it was cut off."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return
    if len(request.get_data(cache=True, parse_form_data=False)) >= limit:
        abort(413, description=f"the body is larger than {limit // 2**20} MB (MAX_REQUEST_MB)")


def json_object(example: str) -> dict[str, Any]:
    """The request's JSON body, which must be an object; `example` shows the client one."""
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # e.g. [[[[...]]]] 100 000 levels deep
        abort(400, description="the JSON body is nested too deeply")
    if not isinstance(payload, dict):
        abort(400, description=f"send a JSON object, e.g. {example}")
    return payload


def text(payload: dict[str, Any], name: str, max_length: int, required: bool = False) -> str:
    """A string field of a JSON object: present if required, bounded, storable anywhere."""
    value = payload.get(name, None if required else "")
    if required and (not isinstance(value, str) or not value.strip()):
        abort(422, description=f"{name} is required and must be a non-empty string")
    if not isinstance(value, str):
        abort(422, description=f"{name} must be a string")
    if len(value) > max_length:
        abort(422, description=f"{name} is longer than {max_length} characters")
    if "\x00" in value:
        abort(422, description=f"{name} contains a NUL character, which cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800" decodes from JSON
        abort(422, description=f"{name} is not valid Unicode (it contains a lone surrogate)")
    return value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; absent means `default`."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name} must be an integer from {low} to {high}")
    if not low <= value <= high:
        abort(400, description=f"{name} must be an integer from {low} to {high}, got {value}")
    return value
