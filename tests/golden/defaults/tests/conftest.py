"""Test fixtures: a fresh app per test, against the services this project is configured with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from acme_notes import create_app
from acme_notes.berth.config import (
    use_throwaway_secret_key,
)
from acme_notes.berth.orm import alembic_config

# Importing the package read the service addresses from .env, as for `python src/app.py`;
# without a SECRET_KEY there, the tests sign with a throwaway one.
use_throwaway_secret_key()


@pytest.fixture
def settings(
    tmp_path: Path,
) -> dict[str, Any]:
    """Configuration overrides for the app under test (a test may change them); its
    database is migrated to the newest revision."""
    overrides: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test",
        "DATA_DIR": tmp_path,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
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
