"""The example job and its API: `POST /api/jobs` enqueues a word count of a text,
`GET /api/jobs/<id>` reports its state and result. The worker runs `word_stats`."""

from __future__ import annotations

import re
from collections import Counter

from flask import Blueprint, Response, abort, jsonify, url_for

from .berth import inputs
from .berth.jobs import describe, enqueue

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")

MAX_TEXT = 100_000
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def word_stats(text: str) -> dict[str, object]:
    """Count the words of a text and list the most common ones."""
    words = [word.lower() for word in WORD.findall(text)]
    return {
        "words": len(words),
        "unique": len(set(words)),
        "top": Counter(words).most_common(5),
    }


@bp.post("")
def enqueue_job() -> Response:
    payload = inputs.json_object(example='{"text": "the text whose words the job counts"}')
    text = inputs.text(payload, "text", MAX_TEXT, required=True)
    job = enqueue(word_stats, text)
    response = jsonify(describe(job))
    response.status_code = 202
    response.headers["Location"] = url_for("jobs.get_job", job_id=job.id)
    return response


@bp.get("/<job_id>")
def get_job(job_id: str) -> Response:
    report = describe(job_id)
    if report is None:
        abort(404, description=f"job {job_id} does not exist (or its record expired)")
    return jsonify(report)
