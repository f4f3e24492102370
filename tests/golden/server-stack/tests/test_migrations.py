from __future__ import annotations

from alembic import command
from flask import Flask

from acme_notes.berth.orm import alembic_config


def test_migrations_match_the_models(app: Flask) -> None:
    """After `db upgrade head` autogenerate finds nothing: no model change lacks a migration.
    In the app's context, as `db` commands run: the models of its own Flask-SQLAlchemy count."""
    with app.app_context():
        command.check(alembic_config(app.config["DATABASE_URL"]))
