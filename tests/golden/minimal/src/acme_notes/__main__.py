"""`python -m acme_notes ...`: the app's command line, as `flask --app acme_notes ...` but with
the project's own commands before any Flask extension's of the same name.

Flask's own commands (`routes`, `shell`, `run`), every command the app registers on `app.cli`.
Settings come from the environment, and from the project's `.env` (read as the package is
imported) when there is one.
"""

from flask import Flask
from flask.cli import FlaskGroup

from . import create_app
from .berth.config import use_throwaway_secret_key


def create_cli_app() -> Flask:
    # Commands sign no sessions: without a SECRET_KEY (.env is read first) they run with a
    # throwaway one, where the production server refuses to start.
    use_throwaway_secret_key()
    return create_app()


cli = FlaskGroup(create_app=create_cli_app, help=__doc__)

if __name__ == "__main__":
    cli(prog_name="python -m acme_notes")
