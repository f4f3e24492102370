"""The project's own commands on the app's Flask CLI (`python -m acme_notes --help`).

db ...          Alembic, configured for this app: db upgrade head, db revision --autogenerate
                -m "...", db check, db current, db history. Reads DATABASE_URL.
"""

from __future__ import annotations

import logging

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


def init_app(app: Flask) -> None:
    for name, command in commands().items():
        app.cli.add_command(command, name)


def commands() -> dict[str, click.Command]:
    """This project's commands by name: `python -m acme_notes` puts them before any Flask
    extension's command of the same name (Flask-Migrate's `db`)."""
    return {
        "db": db,
    }


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("alembic_args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def db(alembic_args: tuple[str, ...]) -> None:
    """Alembic, configured for this app (db --help for its commands)."""
    from alembic.config import CommandLine

    from .orm import alembic_config

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # start-up chatter
    alembic = CommandLine(prog=f"{click.get_current_context().find_root().info_name} db")
    options = alembic.parser.parse_args(list(alembic_args) or ["--help"])
    # Alembic logs each revision it applies (INFO), through the app's JSON logging.
    alembic.run_cmd(alembic_config(current_app.config["DATABASE_URL"]), options)
