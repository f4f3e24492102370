"""Background jobs (RQ on Redis): `enqueue()`, `describe()` a job's state, `attempt()` inside
a job.

A job is any importable function: `enqueue(send_report, 42)` or
`enqueue("acme_notes.reports.send_report", 42)`; the worker runs it. Jobs run at least
once: one that raised, or whose worker died under it (kill -9, out of memory), runs again, up
to RETRIES more times, also when the app enqueued it itself with RQ's `Queue.enqueue()` (the
worker gives such jobs this policy). So a job must be safe to run twice: `attempt()` says which
run it is. Results and failures are kept JOB_RESULT_TTL seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from . import redis_client

# A job whose worker died under it (kill -9, out of memory) or that raised is run again, up
# to this many times; the worker finds abandoned jobs within about a minute.
RETRIES = 3


def queue_names(setting: str) -> list[str]:
    """JOB_QUEUE: one queue name, or several separated by commas, in priority order."""
    return [name.strip() for name in setting.split(",") if name.strip()]


def queue(name: str | None = None) -> Queue:
    """The queue `name`, by default the first one JOB_QUEUE lists."""
    default = queue_names(current_app.config["JOB_QUEUE"])[0]
    return Queue(name or default, connection=redis_client.client())


def enqueue(function: Callable[..., Any] | str, *args: Any, queue_name: str | None = None) -> Job:
    """Enqueue a job with this app's policy: run again if it raised or its worker died (up to
    RETRIES times), its result or failure kept JOB_RESULT_TTL seconds. A worker must read
    `queue_name` (JOB_QUEUE), or the job waits (`worker --check` says so)."""
    ttl = current_app.config["JOB_RESULT_TTL"]
    job: Any = function  # RQ takes the function or its dotted path
    return queue(queue_name).enqueue(
        job, *args, retry=Retry(max=RETRIES), result_ttl=ttl, failure_ttl=ttl
    )


def attempt() -> int:
    """Inside a job: which run of it this is, 1 for the first (the worker counts them)."""
    job = get_current_job()
    return int(job.meta.get("attempt", 1)) if job is not None else 1


def describe(job: Job | str) -> dict[str, object] | None:
    """The state, result, error and runs so far of a job (its handle or id); None if Redis does
    not hold it (never enqueued, or its record expired)."""
    try:
        # Status and runs read together, now: read apart, a job that started and finished
        # in between would show as finished after 0 runs.
        job = Job.fetch(job if isinstance(job, str) else job.id, connection=redis_client.client())
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    error = None
    if status == "failed" and job.exc_info:
        error = job.exc_info.strip().splitlines()[-1]  # the exception line of the traceback
    return {
        "id": job.id,
        "status": getattr(status, "value", status),
        "result": job.return_value() if status == "finished" else None,
        "error": error,
        "attempts": int(job.meta.get("attempt", 0)),
    }
