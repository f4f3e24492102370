"""The Redis connection, configured from REDIS_URL (cache and job-queue backend)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis


def init_app(app: Flask) -> None:
    app.extensions["redis"] = Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=3, socket_timeout=5
    )


def client() -> Redis:
    redis: Redis = current_app.extensions["redis"]
    return redis


def check() -> None:
    client().ping()
