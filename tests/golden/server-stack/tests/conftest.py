"""Test fixtures: a fresh app per test, against the services this project is configured with."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from acme_notes import create_app
from acme_notes.berth.config import (
    load_config,
    use_throwaway_secret_key,
)
from acme_notes.berth.orm import alembic_config

# Importing the package read the service addresses from .env, as for `python src/app.py`;
# without a SECRET_KEY there, the tests sign with a throwaway one.
use_throwaway_secret_key()


@pytest.fixture(scope="session")
def database_url() -> str:
    """The PostgreSQL database of the tests: TEST_DATABASE_URL, else DATABASE_URL.

    Tests only ever delete rows they created, so pointing them at a dev database is safe.
    """
    from sqlalchemy import create_engine, text

    url = os.environ.get("TEST_DATABASE_URL") or load_config()["DATABASE_URL"]
    try:
        with create_engine(url, connect_args={"connect_timeout": 3}).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(
            f"the test database is not reachable ({exc.__class__.__name__}: {exc}).\n"
            "Start it (README: Quick start: local) or point TEST_DATABASE_URL at one.",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    from redis import Redis
    from redis.exceptions import RedisError

    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://localhost"
    try:
        Redis.from_url(url, socket_connect_timeout=3).ping()
    except RedisError as exc:
        pytest.fail(
            f"Redis at {url} is not reachable ({exc}).\n"
            "Start it (README: Quick start: local) or point TEST_REDIS_URL at one.",
            pytrace=False,
        )
    return url


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
) -> dict[str, Any]:
    """Configuration overrides for the app under test (a test may change them); its
    database is migrated to the newest revision."""
    overrides: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test",
        "DATA_DIR": tmp_path,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # A queue of its own, so tests never pick up (or leave) anyone else's jobs.
        "JOB_QUEUE": f"test-{uuid.uuid4().hex}",
        # Whatever .env says: a test that keeps uploads asks for it.
        "UPLOAD_DIR": tmp_path / "uploads",
        "UPLOAD_RETENTION_HOURS": 0,
    }
    from alembic import command

    command.upgrade(alembic_config(overrides["DATABASE_URL"]), "head")
    return overrides


@pytest.fixture
def app(settings: dict[str, Any]) -> Iterator[Flask]:
    yield create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
