from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
from flask.testing import FlaskClient

from acme_notes import __main__ as main
from acme_notes import create_app
from acme_notes.config import (
    SettingError,
    load_config,
    use_throwaway_secret_key,
)
from acme_notes.logging_config import configure_logging


def test_liveness(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readiness_checks_every_dependency(client: FlaskClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "ready"
    assert response.json["checks"] == {}


def test_the_app_adds_its_own_readiness_checks(settings: dict[str, Any]) -> None:
    from acme_notes.health import register_check

    app = create_app(settings)

    def search_index() -> None:
        raise RuntimeError("index not built")

    register_check(app, "search_index", search_index)
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json["failing"] == ["search_index"]
    assert "index not built" not in response.get_data(as_text=True)


def test_the_command_line_is_the_flask_cli(settings: dict[str, Any]) -> None:
    app = create_app(settings)

    @app.cli.command("hello")
    def hello() -> None:
        print("hello from the app")

    # The CLI of `python -m acme_notes`, with this app.
    runner = app.test_cli_runner()
    routes = runner.invoke(main.cli, ["routes"])
    assert routes.exit_code == 0, routes.output
    assert "/health/ready" in routes.output
    assert runner.invoke(main.cli, ["hello"]).output == "hello from the app\n"
    commands = runner.invoke(main.cli, ["--help"]).output
    for command in ("routes", "shell"):
        assert command in commands


def test_errors_are_json(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.json["error"]["status"] == 404
    assert response.json["error"]["name"] == "Not Found"


def test_a_browser_gets_html_error_pages_outside_the_api(client: FlaskClient) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = client.get("/no-such-page", headers=browser)
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    api = client.get("/api/no-such-thing", headers=browser)
    assert api.status_code == 404
    assert api.json["error"]["status"] == 404


def test_an_error_keeps_its_headers(client: FlaskClient) -> None:
    response = client.post("/health")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.json["error"]["status"] == 405


@pytest.mark.parametrize("value", ["", "change-me"])
def test_no_secret_key_no_start(value: str) -> None:
    """The production server (wsgi.py) refuses to start without a real SECRET_KEY."""
    with pytest.raises(SettingError, match="SECRET_KEY is not set"):
        load_config({"SECRET_KEY": value})


def test_a_throwaway_secret_key_is_one_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "change-me")
    use_throwaway_secret_key()
    key = os.environ["SECRET_KEY"]
    assert len(key) == 64
    use_throwaway_secret_key()  # a second process of the run, or a second call, keeps it
    assert os.environ["SECRET_KEY"] == key
    assert load_config(os.environ)["SECRET_KEY"] == key


def test_json_log_lines_hold_no_terminal_colours(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("werkzeug").warning("\x1b[31m\x1b[1mWARNING: a development server\x1b[0m")
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["message"] == "WARNING: a development server"
    assert (line["level"], line["logger"]) == ("WARNING", "werkzeug")


def test_readable_log_lines_away_from_a_terminal_hold_no_colours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "text")
    logging.getLogger("acme_notes").warning("\x1b[33mcareful\x1b[0m")
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.endswith("WARNING  acme_notes: careful"), line
    assert "\x1b[" not in line
