"""The worker process: `python -m acme_notes worker`.

RQ's worker forks a work horse per job and handles SIGTERM as a warm shutdown: the job in
progress finishes, then the worker exits. A worker that dies mid-job (kill -9, out of memory)
cannot say so: its job's heartbeat stops, and the next maintenance run of any worker puts the
job back on the queue if it has retries left. The intervals below bound that to
about a minute (with RQ's defaults it can take half an hour), and this worker gives
every job it starts the app's policy unless the job has its own (jobs.RETRIES,
JOB_RESULT_TTL): jobs the app enqueued with RQ's plain `Queue.enqueue()` come back too.
While `worker --check` passes, a thread of the worker touches ALIVE_FILE (the container's
healthcheck reads its age).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue
from rq import Worker as RQWorker
from rq.job import Job

from .config import load_config
from .jobs import RETRIES, queue_names
from .logging_config import configure_logging

log = logging.getLogger(__name__)

# Touched every HEARTBEAT seconds while this worker is registered and no queue is unread.
# Named after the project's package: compose's healthcheck reads it by that name.
ALIVE_FILE = Path(tempfile.gettempdir()) / f"{__name__.partition('.')[0]}-worker.alive"
HEARTBEAT = 10


class Worker(RQWorker):
    """RQ's worker, counting each job's runs (`jobs.attempt()`) and giving a job without a retry
    policy or lifetimes of its own the app's, before it runs: RQ then re-queues it, too, when a
    worker dies under it."""

    def __init__(self, *args: Any, record_ttl: int = 86400, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_ttl = record_ttl  # JOB_RESULT_TTL

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        job.meta["attempt"] = int(job.meta.get("attempt", 0)) + 1
        if job.retries_left is None:
            job.retries_left = RETRIES
        if job.result_ttl is None:
            job.result_ttl = self.record_ttl
        if job.failure_ttl is None:
            job.failure_ttl = self.record_ttl
        job.save(include_result=False)
        super().prepare_job_execution(job, remove_from_intermediate_queue)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # RQ counts a running job as abandoned 60 s after its last heartbeat; three heartbeats
        # missed in a row are as sure a sign, and bring a dead worker's job back sooner.
        ttl: int = super().get_heartbeat_ttl(job, working_time)
        return min(ttl, 3 * int(self.job_monitoring_interval))

    def subscribe(self) -> None:
        # RQ's own, but the thread that listens for commands wakes every second, not every 60:
        # redis-py 8 waits for that thread when the worker stops, so an idle worker took a
        # minute to stop, and was killed at the end of its grace period. (RQ types the thread
        # attribute as None.)
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )


def run_worker(burst: bool = False) -> None:
    config = load_config()
    configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])
    connection = Redis.from_url(config["REDIS_URL"])
    names = queue_names(config["JOB_QUEUE"])
    log.info("worker reads the queues %s (JOB_QUEUE)", ", ".join(names))
    from .metrics import serve

    REGISTRY.register(QueueStates(connection, names))
    serve(int(os.environ.get("WORKER_METRICS_PORT", "9465")))
    worker = Worker(
        [Queue(name, connection=connection) for name in names],
        connection=connection,
        record_ttl=config["JOB_RESULT_TTL"],
        # Heartbeat of a running job every 10 s; abandoned jobs are looked for every 30 s.
        job_monitoring_interval=10,
        maintenance_interval=30,
        # The idle wait for a job ends every 30 s (worker_ttl - 15), so maintenance runs.
        worker_ttl=45,
    )
    stopped = threading.Event()
    if not burst:
        beat = threading.Thread(target=_beat, args=(config["REDIS_URL"], stopped), daemon=True)
        beat.start()
    try:
        worker.work(burst=burst, logging_level=config["LOG_LEVEL"])
    finally:
        stopped.set()
        ALIVE_FILE.unlink(missing_ok=True)


def _beat(redis_url: str, stopped: threading.Event) -> None:
    """Touch ALIVE_FILE while the worker's own check passes: every 2 s until it first does
    (the worker registers once it starts), then every HEARTBEAT seconds."""
    alive = False
    while not stopped.wait(HEARTBEAT if alive else 2):
        try:
            alive = worker_is_registered(redis_url) and not unread_queues(redis_url)
        except Exception as exc:  # Redis is down: the file ages, the container turns unhealthy
            log.warning("worker heartbeat failed: %r", exc)
            alive = False
        if alive:
            ALIVE_FILE.touch()


def unread_queues(redis_url: str) -> dict[str, int]:
    """Queues holding waiting jobs that no registered worker reads: {name: waiting jobs}.
    (Jobs enqueued under a name no JOB_QUEUE lists would otherwise wait for ever, unseen.)"""
    connection = Redis.from_url(redis_url)
    read = {name for worker in RQWorker.all(connection=connection) for name in worker.queue_names()}
    return {
        queue.name: queue.count
        for queue in Queue.all(connection=connection)
        if queue.name not in read and queue.count
    }


def worker_is_registered(redis_url: str | None = None) -> bool:
    """True while a worker of this host is registered in Redis: RQ keeps the registration
    alive with heartbeats and lets it expire when the worker dies (the compose healthcheck)."""
    connection = Redis.from_url(redis_url or load_config()["REDIS_URL"])
    hostname = socket.gethostname()
    return any(worker.hostname == hostname for worker in RQWorker.all(connection=connection))


class QueueStates(Collector):
    """Prometheus metric `jobs`: the jobs of each queue by state, read from RQ's registries
    when scraped (finished and failed jobs count while RQ keeps them: 1 h and 1 day)."""

    def __init__(self, connection: Redis, names: list[str]) -> None:
        self.connection, self.names = connection, names

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("jobs", "Jobs by queue and state.", labels=["queue", "state"])
        for name in self.names:
            queue = Queue(name, connection=self.connection)
            family.add_metric([name, "queued"], queue.count)
            for state, registry in (
                ("started", queue.started_job_registry),
                ("scheduled", queue.scheduled_job_registry),
                ("deferred", queue.deferred_job_registry),
                ("finished", queue.finished_job_registry),
                ("failed", queue.failed_job_registry),
            ):
                family.add_metric([name, state], registry.count)
        yield family
