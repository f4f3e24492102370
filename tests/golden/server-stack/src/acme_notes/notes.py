"""`/api/notes`: a small JSON resource that proves the database works end to end."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, jsonify, url_for
from sqlalchemy import select

from .berth import inputs, orm
from .note_model import Note

bp = Blueprint("notes", __name__, url_prefix="/api/notes")

MAX_TITLE = 200
# 10 000 characters fit the TEXT column of every supported database (the smallest: 64 KB).
MAX_BODY = 10_000
MAX_LIMIT = 1000
# A page of the list stops growing at this many bytes of JSON (a "next" link gives the rest),
# so no number of large notes can make one response exhaust a worker's memory.
MAX_PAGE_BYTES = 1_000_000
# Note ids are INTEGER columns: larger ids cannot exist (a 404, not a database overflow).
MAX_ID = 2**31 - 1


def _note_or_404(note_id: int) -> Note:
    note = orm.session().get(Note, note_id) if note_id <= MAX_ID else None
    if note is None:
        abort(404, description=f"note {note_id} does not exist")
    return note


@bp.post("")
def create_note() -> Response:
    payload = inputs.json_object(example='{"title": "...", "body": "..."}')
    title = inputs.text(payload, "title", MAX_TITLE, required=True)
    body = inputs.text(payload, "body", MAX_BODY)
    session = orm.session()
    note = Note(title=title.strip(), body=body)
    session.add(note)
    session.commit()
    session.refresh(note)
    response = jsonify(note.to_dict())
    response.status_code = 201
    response.headers["Location"] = url_for("notes.get_note", note_id=note.id)
    return response


@bp.get("")
def list_notes() -> Response:
    """Newest first: ?limit=N (1-1000, default 100), ?before=ID for the next page."""
    limit = inputs.int_arg("limit", 100, 1, MAX_LIMIT)
    before = inputs.int_arg("before", MAX_ID, 1, MAX_ID)
    query = select(Note).where(Note.id < before).order_by(Note.id.desc()).limit(limit)
    notes: list[dict[str, Any]] = []
    size = 0
    # Streamed in batches: rows past the page's byte budget are never loaded.
    for note in orm.session().scalars(query.execution_options(yield_per=50)):
        item = note.to_dict()
        size += len(json.dumps(item))
        if notes and size > MAX_PAGE_BYTES:
            break
        notes.append(item)
    more = len(notes) == limit or size > MAX_PAGE_BYTES
    next_page = url_for("notes.list_notes", limit=limit, before=notes[-1]["id"]) if more else None
    return jsonify(notes=notes, next=next_page)


@bp.get("/<int:note_id>")
def get_note(note_id: int) -> Response:
    return jsonify(_note_or_404(note_id).to_dict())


@bp.delete("/<int:note_id>")
def delete_note(note_id: int) -> tuple[str, int]:
    session = orm.session()
    session.delete(_note_or_404(note_id))
    session.commit()
    return "", 204
