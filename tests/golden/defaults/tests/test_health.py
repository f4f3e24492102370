from __future__ import annotations

import io
import json
import logging
import os
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.exceptions import InternalServerError, UnprocessableEntity

from acme_notes import __main__ as main
from acme_notes import create_app
from acme_notes.berth import (
    http_errors,
    logging_config,
)
from acme_notes.berth.config import (
    SettingError,
    load_config,
    use_throwaway_secret_key,
)


def test_liveness(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_the_factory_takes_a_settings_class_too(settings: dict[str, Any]) -> None:
    """`create_app(TestConfig)` and `create_app(config_class=TestConfig)`, as the tests of an
    adopted app call its factory: the class's UPPERCASE attributes are the settings."""
    test_config = type("TestConfig", (), {**settings, "GREETING": "hello", "helper": "no"})
    for app in (create_app(test_config), create_app(config_class=test_config)):
        assert app.config["GREETING"] == "hello"
        assert app.config["TESTING"] is True
        assert "helper" not in app.config


def test_readiness_checks_every_dependency(client: FlaskClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "ready"
    assert response.json["checks"] == {"database": "ok", "schema": "ok"}


def test_readiness_names_a_database_that_is_down(settings: dict[str, Any]) -> None:
    # Unreachable: a server on port 1, or a file in a directory that cannot exist.
    settings["DATABASE_URL"] = "sqlite:////proc/no-such-dir/app.db"
    response = create_app(settings).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json["failing"] == ["database", "schema"]
    # Only the name: where the database lives and why it failed go to the log.
    assert response.json["checks"]["database"] == "failing"
    body = response.get_data(as_text=True)
    assert "127.0.0.1" not in body
    assert "no-such-dir" not in body


def test_readiness_waits_for_the_migrations(
    settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A release whose migration has not run yet: the code knows a newer head than the database.
    from acme_notes.berth import orm

    monkeypatch.setattr(orm, "migration_heads", lambda: {"9999_not_applied"})
    response = create_app(settings).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json["failing"] == ["schema"]


def test_readiness_holds_while_a_newer_release_migrates(
    settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rolling update: the next release migrated the database; this one keeps serving.
    from acme_notes.berth import orm

    monkeypatch.setattr(orm, "current_revisions", lambda: {"0003_of_the_next_release"})
    monkeypatch.setattr(orm, "migration_heads", lambda: {"0002_head"})
    monkeypatch.setattr(orm, "known_revisions", lambda: {"0001_first", "0002_head"})
    assert create_app(settings).test_client().get("/health/ready").status_code == 200
    # One of its own, older revisions: its migrations have not run.
    monkeypatch.setattr(orm, "current_revisions", lambda: {"0001_first"})
    response = create_app(settings).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.json["failing"] == ["schema"]


def test_the_app_adds_its_own_readiness_checks(settings: dict[str, Any]) -> None:
    from acme_notes.berth.health import (
        register_check,
    )

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
    for command in ("routes", "shell", "db"):
        assert command in commands


def own_error_page(app: Flask, status: int) -> bool:
    """Whether the app answers `status` with a handler of its own (which wins over this
    project's JSON errors: an adopted app keeps its error pages)."""
    handlers = app.error_handler_spec[None].get(status, {}).values()
    return any(handler.__module__ != http_errors.__name__ for handler in handlers)


def test_errors_are_json(app: Flask, client: FlaskClient) -> None:
    if own_error_page(app, 404):
        pytest.skip("the app's own 404 page answers (test_the_apps_own_error_handlers_win)")
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.json["error"]["status"] == 404
    assert response.json["error"]["name"] == "Not Found"


def test_a_browser_gets_html_error_pages_outside_the_api(app: Flask, client: FlaskClient) -> None:
    if own_error_page(app, 404):
        pytest.skip("the app's own 404 page answers (test_the_apps_own_error_handlers_win)")
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


def test_the_apps_own_error_handlers_win(settings: dict[str, Any]) -> None:
    def app_with_a_bug() -> Flask:
        app = create_app({**settings, "PROPAGATE_EXCEPTIONS": False})  # as in production

        @app.get("/api/broken")
        def broken() -> str:
            raise RuntimeError("a bug")

        return app

    as_generated = app_with_a_bug()
    if not own_error_page(as_generated, 500):
        assert as_generated.test_client().get("/api/broken").json["error"]["status"] == 500
    app = app_with_a_bug()

    @app.errorhandler(500)
    def own_page(error: InternalServerError) -> tuple[str, int]:
        return "our own 500 page", 500

    response = app.test_client().get("/api/broken")
    assert (response.status_code, response.get_data(as_text=True)) == (500, "our own 500 page")


def test_validation_details_stay_in_the_error(settings: dict[str, Any]) -> None:
    """What a validation library (webargs, for one) attaches to its 422 reaches the client."""
    app = create_app(settings)
    fields = {"email": ["Not a valid email address."]}
    messages = {"json": fields}

    @app.post("/api/signup")
    def signup() -> str:
        error = UnprocessableEntity()
        error.data = {"messages": messages}  # type: ignore[attr-defined]
        raise error

    response = app.test_client().post("/api/signup", json={"email": "nope"})
    assert response.status_code == 422
    assert response.json["error"]["details"] == messages


@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
def test_an_over_limit_body_gets_413_on_the_apps_own_routes(
    settings: dict[str, Any], chunked: bool
) -> None:
    """A chunked body too, which Flask on its own cuts off at the limit without a word."""
    app = create_app(settings)

    @app.post("/form")
    def form() -> dict[str, int]:
        return {"bytes": len(request.form["text"])}

    body = b"text=" + b"x" * app.config["MAX_CONTENT_LENGTH"]
    json_client = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if chunked:  # as a WSGI server passes it on: no CONTENT_LENGTH, wsgi.input_terminated
        response = app.test_client().post(
            "/form",
            input_stream=io.BytesIO(body),
            headers={**json_client, "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
    else:
        response = app.test_client().post("/form", data=body, headers=json_client)
    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.json["error"]["status"] == 413
    under = app.test_client().post(
        "/form",
        input_stream=io.BytesIO(b"text=short"),
        headers={**json_client, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert under.json == {"bytes": 5}


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
    logging_config.configure_logging("INFO", "json")
    logging.getLogger("werkzeug").warning("\x1b[31m\x1b[1mWARNING: a development server\x1b[0m")
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["message"] == "WARNING: a development server"
    assert (line["level"], line["logger"]) == ("WARNING", "werkzeug")


def test_readable_log_lines_away_from_a_terminal_hold_no_colours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging_config.configure_logging("INFO", "text")
    logger = logging.getLogger("acme_notes")
    logger.warning("\x1b[33mcareful\x1b[0m")
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.endswith(f"WARNING  {logger.name}: careful"), line
    assert "\x1b[" not in line
