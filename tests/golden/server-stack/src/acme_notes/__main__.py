"""`python -m acme_notes ...`: the app's command line, as `flask --app acme_notes ...` but with
the project's own commands before any Flask extension's of the same name.

Flask's own commands (`routes`, `shell`, `run`), every command the app registers on `app.cli`,
and the ones in `berth/cli.py` (`db` and `worker`). Settings come from the environment, and from
the project's `.env` (read as the package is imported) when there is one.
"""

import click
from flask import Flask
from flask.cli import FlaskGroup

from . import create_app
from .berth.cli import commands
from .berth.config import use_throwaway_secret_key


def create_cli_app() -> Flask:
    # Commands sign no sessions: without a SECRET_KEY (.env is read first) they run with a
    # throwaway one, where the production server refuses to start.
    use_throwaway_secret_key()
    return create_app()


class ProjectCommands(FlaskGroup):
    """Flask's command line, with this project's own commands first: an installed Flask
    extension registers its commands for every app (Flask-Migrate's `db`, for one), and
    Flask would otherwise run those in place of the project's."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return commands().get(cmd_name) or super().get_command(ctx, cmd_name)


cli = ProjectCommands(create_app=create_cli_app, help=__doc__)

if __name__ == "__main__":
    cli(prog_name="python -m acme_notes")
