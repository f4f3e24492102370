from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue, Worker
from rq.job import Job

from acme_notes.berth import cli
from acme_notes.berth.jobs import (
    RETRIES,
    attempt,
    enqueue,
)
from acme_notes.berth.worker import (
    Worker as AppWorker,
)
from acme_notes.berth.worker import (
    unread_queues,
    worker_is_registered,
)
from acme_notes.word_count import word_stats


def test_a_job_runs_on_a_worker_and_is_retried_if_its_worker_dies(app: Flask) -> None:
    """Any importable function is a job; RETRIES is what RQ spends on a worker killed mid-job."""
    with app.app_context():
        job = enqueue("builtins.len", "four")
    assert job.retries_left == RETRIES >= 1
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(app.config["JOB_QUEUE"], connection=connection)
    Worker([queue], connection=connection).work(burst=True)
    assert Job.fetch(job.id, connection=connection).return_value() == 4
    queue.delete(delete_jobs=True)


def test_the_worker_gives_a_plainly_enqueued_job_the_apps_policy(app: Flask) -> None:
    """A job the app enqueued with RQ's own Queue.enqueue() (no retries, RQ's lifetimes) gets
    RETRIES and JOB_RESULT_TTL when the worker starts it: RQ then re-queues it when a worker
    dies under it. The job sees which run it is."""
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(app.config["JOB_QUEUE"], connection=connection)
    job = queue.enqueue(attempt)
    assert job.retries_left is None
    ttl = 4321  # JOB_RESULT_TTL
    AppWorker([queue], connection=connection, record_ttl=ttl).work(burst=True)
    job = Job.fetch(job.id, connection=connection)
    assert job.return_value() == 1
    assert job.retries_left == RETRIES
    assert job.result_ttl == job.failure_ttl == ttl
    queue.delete(delete_jobs=True)


def test_a_running_jobs_heartbeat_lapses_after_three_missed_beats(app: Flask) -> None:
    """A worker killed mid-job stops its job's heartbeat: the job counts as abandoned (and runs
    again) three heartbeats later, not RQ's 60 s after the last one."""
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(app.config["JOB_QUEUE"], connection=connection)
    job = queue.enqueue("builtins.len", "four")
    ours = AppWorker([queue], connection=connection, job_monitoring_interval=10)
    rqs = Worker([queue], connection=connection, job_monitoring_interval=10)
    assert ours.get_heartbeat_ttl(job) == 30 < rqs.get_heartbeat_ttl(job)
    queue.delete(delete_jobs=True)


def test_word_stats() -> None:
    assert word_stats("The cat and the hat.") == {
        "words": 5,
        "unique": 4,
        "top": [("the", 2), ("cat", 1), ("and", 1), ("hat", 1)],
    }


def test_job_is_enqueued_run_by_a_worker_and_reported(app: Flask, client: FlaskClient) -> None:
    response = client.post("/api/jobs", json={"text": "one two two"})
    assert response.status_code == 202, response.json
    job_id = response.json["id"]
    assert response.json["status"] == "queued"
    assert client.get(f"/api/jobs/{job_id}").json["status"] == "queued"

    # A real worker, in burst mode: it runs what is queued, then returns.
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(app.config["JOB_QUEUE"], connection=connection)
    Worker([queue], connection=connection).work(burst=True)

    report = client.get(f"/api/jobs/{job_id}").json
    assert report["status"] == "finished"
    assert report["result"] == {"words": 3, "unique": 2, "top": [["two", 2], ["one", 1]]}
    queue.delete(delete_jobs=True)


def test_job_validation_and_unknown_jobs(client: FlaskClient) -> None:
    assert client.post("/api/jobs", json={"text": " "}).status_code == 422
    assert client.post("/api/jobs", json={"text": "x" * 100_001}).status_code == 422
    nested = client.post("/api/jobs", data="[" * 100_000, content_type="application/json")
    assert nested.status_code == 400
    assert client.get("/api/jobs/no-such-job").status_code == 404


def test_worker_check_is_true_only_while_a_worker_of_this_host_is_registered(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    connection = Redis.from_url(url)
    worker = Worker([Queue(app.config["JOB_QUEUE"], connection=connection)], connection=connection)
    assert not worker_is_registered(url)
    worker.register_birth()
    try:
        assert worker_is_registered(url)
    finally:
        worker.register_death()
    assert not worker_is_registered(url)


def test_the_worker_check_names_a_queue_with_jobs_that_no_worker_reads(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    connection = Redis.from_url(url)
    worker = Worker([Queue(app.config["JOB_QUEUE"], connection=connection)], connection=connection)
    unread = f"{app.config['JOB_QUEUE']}-unread"
    worker.register_birth()
    try:
        with app.app_context():
            enqueue("builtins.len", "x", queue_name=unread)
        assert unread_queues(url).get(unread) == 1
        check = app.test_cli_runner().invoke(cli.worker, ["--check"])
        assert check.exit_code == 1
        assert f"jobs wait in queues no worker reads: {unread} (1 jobs)" in check.output
    finally:
        worker.register_death()
        Queue(unread, connection=connection).delete(delete_jobs=True)
    assert unread not in unread_queues(url)


def test_the_worker_metrics_count_jobs_by_state(app: Flask) -> None:
    from acme_notes.berth.worker import (
        QueueStates,
    )

    connection = Redis.from_url(app.config["REDIS_URL"])
    name = app.config["JOB_QUEUE"]
    with app.app_context():
        enqueue("builtins.len", "four")
    (family,) = QueueStates(connection, [name]).collect()
    states = {sample.labels["state"]: sample.value for sample in family.samples}
    assert states["queued"] == 1 and states["finished"] == 0
    Worker([Queue(name, connection=connection)], connection=connection).work(burst=True)
    (family,) = QueueStates(connection, [name]).collect()
    states = {sample.labels["state"]: sample.value for sample in family.samples}
    assert states["queued"] == 0 and states["finished"] == 1
    Queue(name, connection=connection).delete(delete_jobs=True)
