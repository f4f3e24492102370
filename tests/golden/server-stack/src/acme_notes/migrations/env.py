"""Alembic environment: migrations run against DATABASE_URL with the app's own engine setup."""

from __future__ import annotations

from alembic import context
from flask import current_app, has_app_context
from sqlalchemy import MetaData

# Every module that defines models, imported: that registers their tables with Base.
from acme_notes import note_model  # noqa: F401
from acme_notes.berth.config import load_config
from acme_notes.berth.orm import Base, make_engine


def tables_of_the_app() -> list[MetaData]:
    """Base's tables, and those of the app's own Flask-SQLAlchemy models (`db.Model`) if it
    has any: `db` commands and the migrations test run in the app's context, its models
    imported."""
    metadata = [Base.metadata]
    extension = current_app.extensions.get("sqlalchemy") if has_app_context() else None
    if extension is not None:
        metadata.append(extension.metadata)
    return metadata


config = context.config
database_url = config.attributes.get("database_url") or load_config()["DATABASE_URL"]
target_metadata = tables_of_the_app()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (`db upgrade head --sql`)."""
    context.configure(url=database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
