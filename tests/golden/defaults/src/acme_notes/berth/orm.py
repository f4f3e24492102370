"""SQLAlchemy 2 engine and per-request sessions."""

from __future__ import annotations

from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config


class Base(DeclarativeBase):
    """Base class of the models; Alembic compares migrations against its metadata."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        # The database file lives in the data directory (a volume in the container).
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # Wait up to 5 s for the single writer lock instead of failing at once.
    engine = create_engine(url, connect_args={"timeout": 5})
    if url != "sqlite://":  # a file, not in memory
        # Write-ahead log: readers never wait for the writer, so several processes (server
        # workers) share the file without "database is locked".
        event.listen(engine, "connect", _write_ahead_log)
    return engine


def _write_ahead_log(connection: Any, _record: Any) -> None:  # a DB-API connection
    connection.execute("PRAGMA journal_mode=WAL")


def init_app(app: Flask) -> None:
    try:
        engine = make_engine(app.config["DATABASE_URL"])
    except OSError as exc:  # e.g. the data directory can't be created
        app.logger.error("database unavailable: %s", exc)
        engine = None
    app.extensions["db.engine"] = engine
    app.extensions["db.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    engine: Engine | None = current_app.extensions["db.engine"]
    if engine is None:
        raise RuntimeError(f"cannot open {current_app.config['DATABASE_URL']}")
    return engine


def session() -> Session:
    """The session of the current request (closed when the request ends)."""
    if "db_session" not in g:
        engine()  # fail with a clear message when the engine could not be created
        g.db_session = current_app.extensions["db.sessionmaker"]()
    db_session: Session = g.db_session
    return db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


def check() -> None:
    with engine().connect() as connection:
        connection.execute(text("SELECT 1"))
    check_the_apps_own_engine()


def check_the_apps_own_engine() -> None:
    """An app's own Flask-SQLAlchemy must use this database: migrations run here, and a check
    of this database says nothing of another one the app's pages read."""
    extension = current_app.extensions.get("sqlalchemy")
    if extension is None:
        return
    if _location(extension.engine.url) != _location(engine().url):
        raise RuntimeError(
            "Flask-SQLAlchemy's SQLALCHEMY_DATABASE_URI is not DATABASE_URL: set it from"
            ' app.config["DATABASE_URL"] in create_app()'
        )


def _location(url: URL) -> tuple[object, ...]:
    """Where a URL's database is, whatever driver the URL names."""
    path = url.database or ""
    return ("sqlite", path if path in ("", ":memory:") else str(Path(path).resolve()))


def check_schema() -> None:
    """Readiness: this release's migrations have run (`db upgrade head`).

    A database *ahead* of them passes: a newer release migrated it while this one still
    serves (a rolling update), which its migrations must allow (add, then remove later).
    """
    current, heads, known = current_revisions(), migration_heads(), known_revisions()
    behind = current & known - heads
    if behind or (heads and not current):
        raise RuntimeError(f"schema at {sorted(current)}, migrations at {sorted(heads)}")


def current_revisions() -> set[str]:
    """The revisions the database is at (none before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine().connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


@cache
def migration_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


@cache
def known_revisions() -> set[str]:
    """Every revision this release has; a revision it lacks comes from a newer release."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {revision.revision for revision in script.walk_revisions()}


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic configuration without an alembic.ini: the scripts ship inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parents[1] / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    if find_spec("ruff"):  # a dev install: new revisions are fixed and formatted by ruff
        config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
        hooks = {"ruff_fix": "check --fix --quiet", "ruff_format": "format --quiet"}
        for hook, command in hooks.items():
            config.set_section_option("post_write_hooks", f"{hook}.type", "module")
            config.set_section_option("post_write_hooks", f"{hook}.module", "ruff")
            config.set_section_option(
                "post_write_hooks", f"{hook}.options", f"{command} REVISION_SCRIPT_FILENAME"
            )
    return config
