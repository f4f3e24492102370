"""gunicorn settings, read from the environment:

    gunicorn --config gunicorn.conf.py acme_notes.wsgi:app

gunicorn also finds this file in the working directory on its own.
"""

import importlib
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
# Pre-fork workers; cpu_count() would see the host's cores inside a container, so be explicit.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# On SIGTERM workers finish in-flight requests for up to this many seconds (keep it shorter
# than the container's stop grace period).
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
# Heartbeat files in memory: on overlayfs a disk-backed tmp dir can stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# gunicorn has no request body limit: the app refuses bodies above MAX_REQUEST_MB (413).
# No control socket: the container is managed with signals, and its default path lies in a
# home directory the app user does not have.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# The slowest of the app's dependencies to import (see preload_dependencies).
PRELOADED = ["sqlalchemy.orm", "alembic", "flask"]


def on_starting(server):
    preload_dependencies(server)


def preload_dependencies(server):
    # With --reload (compose.watch.yaml), a saved change replaces the workers. The dependencies
    # imported once here come with each new worker's fork, which then imports only this
    # project's own modules: the change is served in a fraction of a second. Never the app
    # itself: a forked worker would run its old code.
    if server.cfg.reload:
        for module in PRELOADED:
            importlib.import_module(module)
