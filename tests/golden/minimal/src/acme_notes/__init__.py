"Acme Notes: A containerized Flask service"

from __future__ import annotations

from dotenv import load_dotenv

# The project's .env first (local development; containers have none: compose sets their
# environment), so that a module imported below may read its settings as it loads.
load_dotenv()

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .berth.config import load_config, run_by_the_flask_cli, settings_of, use_throwaway_secret_key
from .berth.logging_config import configure_logging, one_line_per_event

__all__ = ["create_app"]


def create_app(
    overrides: Mapping[str, Any] | type | None = None, *, config_class: type | None = None
) -> Flask:
    """Application factory: the one place where the app is assembled.

    `python src/app.py`, the WSGI server (`acme_notes.wsgi:app`) and the tests all call
    this, so every way of starting runs the same code.
    """
    # Imported here, not above: the package's top-level names are the app's, and its own
    # `cli.py` (say), once imported, is the package's `cli`.
    from .berth import health, http_errors, inputs

    if run_by_the_flask_cli():
        # `flask --app acme_notes ...` runs commands, as `python -m acme_notes` does.
        use_throwaway_secret_key()
    config = load_config()
    # What the caller passes wins over the environment: a mapping (the tests' settings), or a
    # settings class, as an adopted app's own tests pass it (`create_app(TestConfig)`).
    config.update(settings_of(config_class))
    config.update(settings_of(overrides))
    configure_logging(config["LOG_LEVEL"], config["LOG_FORMAT"])

    # The instance folder (Flask's place for an app's own files, e.g. the database file of an
    # adopted app) lives in the data directory: git-ignored; read-only in containers (no volume).
    app = Flask(__name__, instance_path=str(config["DATA_DIR"] / "instance"))
    app.config.from_mapping(config)

    if config["TRUSTED_PROXIES"]:
        # Behind a reverse proxy: take client address and scheme from its X-Forwarded-* headers.
        n = config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    http_errors.init_app(app)
    inputs.init_app(app)
    health.init_app(app)

    # The app's own setup goes here: blueprints, extensions, commands (docs/existing-app.md).

    one_line_per_event()  # a console handler the setup added would print each line twice
    return app
