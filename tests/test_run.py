"""Slow tier: generated projects installed from their own lock files and run for real.

For a representative subset: build the venv from the lock, run the project's own test suite
against real services, run its ruff, start `python src/app.py` and the chosen WSGI server as
processes and query them over HTTP, then stop the server with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from adoption import SETUP_MARKER
from helpers import (
    TOOLS_BIN,
    find_python,
    free_port,
    http_get,
    http_status_or_none,
    run,
    serving,
    wait_for_http,
)
from matrix import RUN_COMBOS, combo_id, job_backend, row, server_command
from rawhttp import post_body

pytestmark = pytest.mark.slow


def venv_command(project: Path, arguments: list[str]) -> list[str]:
    """A command of the project's venv: its first word resolved in .venv/bin."""
    return [str(project / ".venv" / "bin" / arguments[0]), *arguments[1:]]


@pytest.fixture(scope="module", params=RUN_COMBOS, ids=combo_id)
def installed(request, render, tmp_path_factory):
    """(project, answers, env): rendered, venv built from the lock, services running."""
    combo = request.param
    project = render(**{"project_name": f"Run {RUN_COMBOS.index(combo)}", **combo})
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env.update(SECRET_KEY="slow-tier", LOG_LEVEL="INFO", WEB_CONCURRENCY="2")
    # Metrics ports of their own: servers of earlier tests may still be letting theirs go.
    env.update(METRICS_PORT=str(free_port()), WORKER_METRICS_PORT=str(free_port()))
    env["DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    service = row("database", answers["database"])["service"]
    if service:  # the session's server of that kind: postgres_url, mariadb_url
        env["DATABASE_URL"] = request.getfixturevalue(f"{service['name']}_url")
    if answers["redis"]:
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    python = find_python(answers["python_version"])
    if python is None:
        pytest.fail(
            f"no Python {answers['python_version']} interpreter on this machine", pytrace=False
        )
    if answers["package_manager"] == "uv":
        run(
            [str(TOOLS_BIN / "uv"), "sync", "--locked", "--python", str(python)],
            cwd=project,
            env=env,
        )
    else:
        run([str(python), "-m", "venv", ".venv"], cwd=project, env=env)
        run(
            [
                ".venv/bin/pip",
                "install",
                "--quiet",
                "--require-hashes",
                "-r",
                "requirements-dev.txt",
            ],
            cwd=project,
            env=env,
        )
        # The ModuleNotFoundError check: the dev server runs from a checkout whose own package
        # is not installed; src/ on sys.path is all it needs.
        check_dev_server(project, env)
        run([".venv/bin/pip", "install", "--quiet", "--no-deps", "-e", "."], cwd=project, env=env)
    return project, answers, env


def migrate(project: Path, answers: dict, env: dict) -> None:
    """`db upgrade head` with the project's own venv, as its README says."""
    run(
        [".venv/bin/python", "-m", answers["project_slug"], "db", "upgrade", "head"],
        cwd=project,
        env=env,
    )


def check_dev_server(project: Path, env: dict) -> None:
    port = free_port()
    log = project / f"dev-{port}.log"
    with serving([".venv/bin/python", "src/app.py"], project, env, port, log):
        assert http_get(f"http://127.0.0.1:{port}/health")[0] == 200
    log.unlink()


def post_json(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_generated_test_suite_passes_without_skips(installed):
    project, answers, env = installed
    test_env = {**env}
    if "DATABASE_URL" in env:
        test_env["TEST_DATABASE_URL"] = env["DATABASE_URL"]
    if "REDIS_URL" in env:
        test_env["TEST_REDIS_URL"] = env["REDIS_URL"]
    result = run(
        [".venv/bin/python", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=project,
        env=test_env,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary


def test_generated_project_lints_with_its_own_ruff(installed):
    project, _, env = installed
    run([".venv/bin/ruff", "check", "--no-cache", "."], cwd=project, env=env)
    run([".venv/bin/ruff", "format", "--check", "--no-cache", "."], cwd=project, env=env)


@pytest.mark.parametrize("how", ["dev-server", "wsgi-server"])
def test_serves_health_readiness_and_the_database_over_http(installed, how):
    project, answers, env = installed
    if answers["database"] != "none":
        migrate(project, answers, env)
    port = free_port()
    cmd = (
        [".venv/bin/python", "src/app.py"]
        if how == "dev-server"
        else venv_command(project, server_command(answers["wsgi_server"], answers["project_slug"]))
    )
    log = project / f"{how}.log"
    base = f"http://127.0.0.1:{port}"
    with serving(cmd, project, env, port, log) as proc:
        assert http_get(f"{base}/health") == (200, b'{"status":"ok"}\n')
        status, body = http_get(f"{base}/health/ready")
        assert status == 200, body
        ready = json.loads(body)
        expected = {
            n
            for n, on in (
                ("database", answers["database"] != "none"),
                ("schema", answers["database"] != "none"),
                ("redis", answers["redis"]),
                ("jobs", job_backend(answers) == "huey"),
                ("ocr", answers["ocr"]),
            )
            if on
        }
        assert ready == {"status": "ready", "checks": dict.fromkeys(expected, "ok")}
        if answers["database"] != "none" and answers["examples"]:
            status, note = post_json(f"{base}/api/notes", {"title": f"via {how}"})
            assert status == 201
            status, body = http_get(f"{base}/api/notes/{note['id']}")
            assert status == 200 and json.loads(body)["title"] == f"via {how}"
        if how == "wsgi-server":
            # Graceful stop on SIGTERM, as `docker stop` sends it.
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(25)
            assert code in (0, 143), f"exit code {code} on SIGTERM:\n{log.read_text()}"
            assert time.monotonic() - started < 25


RELOADED_ROUTE = """

@bp.get("/reloaded")
def reloaded():
    return jsonify(status="reloaded")
"""


def test_the_dev_server_at_a_terminal_logs_readable_lines_and_reloads(installed):
    """`python src/app.py` in a terminal (a pty): readable, coloured lines, no JSON; a saved
    change to the code is served without a restart by hand; no debugger unless asked for."""
    project, answers, env = installed
    port = free_port()
    log = project / "dev-terminal.log"
    command = ["script", "-qec", ".venv/bin/python src/app.py", "/dev/null"]
    env = {**env, "FLASK_DEBUG": "0", "LOG_FORMAT": "auto"}
    health = project / "src" / answers["project_slug"] / "berth" / "health.py"
    original = health.read_text()
    try:
        with serving(command, project, env, port, log):
            assert http_get(f"http://127.0.0.1:{port}/health")[0] == 200
            health.write_text(original + RELOADED_ROUTE)
            deadline = time.monotonic() + 30
            while http_status_or_none(f"http://127.0.0.1:{port}/reloaded") != 200:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
            time.sleep(0.5)  # the request's log line
        output = log.read_text()
    finally:
        health.write_text(original)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and not any(line.lstrip().startswith("{") for line in lines), output[-3000:]
    assert "GET /health" in output and "GET /reloaded" in output, output[-3000:]
    assert "\x1b[" in output, "no colour at a terminal"
    assert "Debugger is active" not in output, output[-3000:]


def test_request_bodies_are_bounded_under_the_wsgi_server(installed):
    """No body can exhaust a worker: above MAX_REQUEST_MB the app answers 413 (JSON) with
    every server; huge declared or chunked bodies are refused without being read."""
    project, answers, env = installed
    if answers["database"] != "none":
        migrate(project, answers, env)
    # A route that reads its body, if the project has one.
    route = "/health"
    if answers["examples"] and answers["database"] != "none":
        route = "/api/notes"
    elif answers["examples"] and answers["ocr"]:
        route = "/api/ocr"
    port = free_port()
    log = project / "limits.log"
    command = venv_command(project, server_command(answers["wsgi_server"], answers["project_slug"]))
    with serving(command, project, env, port, log) as proc:
        limit = (10 if answers["ocr"] else 1) * 2**20
        if route != "/health":
            status, body = post_body(port, route, limit + 2**19)
            assert status == 413 and json.loads(body)["error"]["status"] == 413, body
        assert post_body(port, route, 200 * 2**20)[0] in {405, 413, None}
        assert post_body(port, route, 50 * 2**20, chunked=True)[0] in {400, 405, 413, None}
        assert http_get(f"http://127.0.0.1:{port}/health") == (200, b'{"status":"ok"}\n')
        assert proc.poll() is None, log.read_text()
        output = log.read_text()
        assert "SIGKILL" not in output and "Traceback" not in output, output


NEW_MODEL = """

class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
"""


def test_an_autogenerated_revision_passes_the_projects_ruff(installed):
    """`db revision --autogenerate` runs the project's ruff on the new file (post_write_hooks)."""
    project, answers, env = installed
    if answers["database"] == "none" or not answers["examples"]:
        pytest.skip("no database models in this project")
    slug = answers["project_slug"]
    command = [".venv/bin/python", "-m", slug, "db"]
    models = project / "src" / slug / "note_model.py"
    versions = project / "src" / slug / "migrations" / "versions"
    original, before = models.read_text(), set(versions.glob("*.py"))
    migrate(project, answers, env)
    models.write_text(original + NEW_MODEL)
    try:
        run([*command, "revision", "--autogenerate", "-m", "add tags"], cwd=project, env=env)
        (revision,) = set(versions.glob("*.py")) - before
        assert 'op.create_table(\n        "tags",' in revision.read_text()
        run([".venv/bin/ruff", "check", "--no-cache", "."], cwd=project, env=env)
        run([".venv/bin/ruff", "format", "--check", "--no-cache", "."], cwd=project, env=env)
    finally:
        models.write_text(original)
        for added in set(versions.glob("*.py")) - before:
            added.unlink()


@pytest.mark.parametrize("entry", ["python -m", "flask --app"])
def test_one_command_line_that_reads_dotenv(installed, entry):
    """`python -m <pkg>` and `flask --app <pkg>` are the same Flask CLI, settings from .env."""
    project, answers, env = installed
    slug = answers["project_slug"]
    command = (
        [".venv/bin/python", "-m", slug, "routes"]
        if entry == "python -m"
        else [".venv/bin/flask", "--app", slug, "routes"]
    )
    without_key = {k: v for k, v in env.items() if k != "SECRET_KEY"}
    result = run(command, cwd=project, env=without_key)
    assert "/health/ready" in result.stdout, result.stdout
    assert "SECRET_KEY is not set" not in result.stdout + result.stderr, "no .env was read"
    commands = run([*command[:-1], "--help"], cwd=project, env=without_key).stdout
    for name in (
        ["routes", "shell"]
        + (["db"] if answers["database"] != "none" else [])
        + (["worker"] if answers.get("worker") else [])
    ):
        assert name in commands, commands


# An adopted app's settings module, as Flask apps write it: read as the module is imported.
SETTINGS_AT_IMPORT = """import os

GREETING = os.environ.get("ADOPTED_GREETING", "the default")
"""
SHOW_GREETING = "from {slug} import adopted_settings; print('greeting:', adopted_settings.GREETING)"


@pytest.mark.parametrize("entry", ["import", "python -m", "src/app.py"])
def test_dotenv_is_read_before_the_package_imports_its_modules(installed, entry):
    """A module the package imports that reads the environment as it loads (an adopted app's
    `Config` class) sees .env's values, however the app is started."""
    project, answers, env = installed
    slug = answers["project_slug"]
    package = project / "src" / slug
    init, dotenv = package / "__init__.py", project / ".env"
    saved_init, saved_dotenv = init.read_text(), dotenv.read_text()
    (package / "adopted_settings.py").write_text(SETTINGS_AT_IMPORT)
    # Imported first of the package's own modules, as an adopted app's imports would be.
    first_import = "\nfrom . import "
    init.write_text(
        saved_init.replace(first_import, f"\nfrom . import adopted_settings{first_import}", 1)
    )
    dotenv.write_text(f"{saved_dotenv}\nADOPTED_GREETING=from .env\n")
    show = SHOW_GREETING.format(slug=slug)
    try:
        if entry == "import":
            result = run([".venv/bin/python", "-c", show], cwd=project, env=env)
        elif entry == "python -m":
            result = subprocess.run(
                [".venv/bin/python", "-m", slug, "shell"],
                cwd=project,
                env=env,
                input=show + "\n",
                capture_output=True,
                text=True,
                timeout=120,
            )
        else:  # the dev server's module, run up to the server itself
            script = f"import runpy; runpy.run_path('src/app.py'); {show}"
            result = run([".venv/bin/python", "-c", script], cwd=project, env=env)
        assert "greeting: from .env" in result.stdout, result.stdout + result.stderr
    finally:
        init.write_text(saved_init)
        dotenv.write_text(saved_dotenv)
        (package / "adopted_settings.py").unlink()


# What a team's code does to run a job and watch it: enqueue, then poll its state.
JOB_SCRIPT = """
import sys, time
from {slug} import create_app
from {slug}.berth.jobs import describe, enqueue
with create_app().app_context():
    if sys.argv[1] == "enqueue":
        print(enqueue("time.sleep", float(sys.argv[2])).id)
    else:
        deadline = time.monotonic() + 60
        while (state := describe(sys.argv[2])["status"]) != sys.argv[3]:
            assert time.monotonic() < deadline and state != "failed", state
            time.sleep(0.2)
"""


def test_the_worker_runs_a_job_is_healthy_and_stops_after_its_job(installed):
    """The worker as a process (`python -m <pkg> worker`, RQ or huey): it runs a job, its
    healthcheck passes while it runs, and SIGTERM mid-job lets the job finish first."""
    project, answers, env = installed
    if not answers.get("worker"):
        pytest.skip("not applicable: no worker in this project")
    slug = answers["project_slug"]
    migrate(project, answers, env)
    job = [".venv/bin/python", "-c", JOB_SCRIPT.format(slug=slug)]
    log = project / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [".venv/bin/python", "-m", slug, "worker"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        job_id = run([*job, "enqueue", "3"], cwd=project, env=env).stdout.split()[-1]
        run([*job, "wait", job_id, "started"], cwd=project, env=env)
        run([".venv/bin/python", "-m", slug, "worker", "--check"], cwd=project, env=env)
        # What the container's healthcheck reads: a heartbeat file, fresh while the check passes.
        alive = Path(tempfile.gettempdir()) / f"{slug}-worker.alive"
        deadline = time.monotonic() + 15
        while not (alive.exists() and time.time() - alive.stat().st_mtime < 30):
            assert time.monotonic() < deadline, f"{alive} not touched:\n{log.read_text()}"
            time.sleep(0.5)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log.read_text()
        assert not alive.exists(), "a stopped worker leaves no heartbeat file behind"
        run([*job, "wait", job_id, "finished"], cwd=project, env=env)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def scraped(url: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    status, body = http_get(url)
    assert status == 200, body
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in body.decode().splitlines():
        if line.startswith(f"{name}{{{wanted}}} " if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_every_request_across_the_servers_processes(installed):
    """metrics: the server's own process serves the sum of what its worker processes counted,
    on METRICS_PORT; the app's port has no /metrics."""
    project, answers, env = installed
    if not answers.get("metrics"):
        pytest.skip("not applicable: no metrics in this project")
    if answers["database"] != "none":
        migrate(project, answers, env)
    port, metrics_port = free_port(), free_port()
    env = {**env, "WEB_CONCURRENCY": "3", "METRICS_PORT": str(metrics_port)}
    command = server_command(answers["wsgi_server"], answers["project_slug"])
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    health = {"endpoint": "/health", "method": "GET", "status": "200"}
    log = project / "metrics.log"
    with serving(venv_command(project, command), project, env, port, log) as server:
        wait_for_http(metrics, server, log)  # uWSGI's metrics daemon starts beside the workers
        before = scraped(metrics, "http_requests_total", **health)
        for _ in range(30):
            assert http_get(f"http://127.0.0.1:{port}/health")[0] == 200
        assert scraped(metrics, "http_requests_total", **health) == before + 30
        assert http_get(f"http://127.0.0.1:{port}/metrics")[0] == 404
        assert scraped(metrics, "http_requests_in_flight") == 0


# What a typical Flask app with a database brings along, and does in its factory.
ADOPTED_EXTENSIONS = ["Flask-SQLAlchemy==3.1.1", "Flask-Migrate==4.1.0"]
FLASK_MIGRATE_SETUP = """    import os

    from flask_migrate import Migrate
    from flask_sqlalchemy import SQLAlchemy

    # As the guide says; APP_DATABASE_URI plays a Config class's own default.
    uri = os.environ.get("APP_DATABASE_URI", app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    Migrate(app, SQLAlchemy(app))
"""
READINESS = """from {slug} import create_app
response = create_app().test_client().get("/health/ready")
print("readiness:", response.status_code, response.json["checks"]["database"])
"""


def test_db_stays_the_projects_in_an_app_that_uses_flask_migrate(installed):
    """An adopted app that calls `Migrate(app, db)` in the factory: Flask-Migrate's `db` group
    (registered for every Flask app by its entry point) does not replace the project's, so
    `db upgrade head` (the migrate service's command) migrates and `db current` is at head.
    (Runs last for its project: it installs two packages into the venv, then removes them.)"""
    project, answers, env = installed
    if answers["database"] == "none":
        pytest.skip("not applicable: no database")
    uv = [str(TOOLS_BIN / "uv"), "pip"]
    python = ["--python", str(project / ".venv" / "bin" / "python")]
    factory = project / "src" / answers["project_slug"] / "__init__.py"
    source = factory.read_text()
    assert source.count(SETUP_MARKER) == 1, "create_app() has no place for the app's setup"
    run([*uv, "install", *python, *ADOPTED_EXTENSIONS], cwd=project, env=env)
    try:
        factory.write_text(source.replace(SETUP_MARKER, FLASK_MIGRATE_SETUP + SETUP_MARKER))
        usage = run(
            [".venv/bin/python", "-m", answers["project_slug"], "db", "--help"],
            cwd=project,
            env=env,
        )
        assert "--raiseerr" in usage.stdout, usage.stdout  # Alembic's own command line
        migrate(project, answers, env)
        db = [".venv/bin/python", "-m", answers["project_slug"], "db"]
        current = run([*db, "current"], cwd=project, env=env).stdout
        heads = run([*db, "heads"], cwd=project, env=env).stdout
        # The project's revisions (none without the examples) are all applied.
        for head in [line.split()[0] for line in heads.splitlines() if "(head)" in line]:
            assert f"{head} (head)" in current, current
        # Readiness checks the database the app's own Flask-SQLAlchemy uses: ready on
        # DATABASE_URL, not ready (naming the setting) when it points elsewhere.
        probe = [".venv/bin/python", "-c", READINESS.format(slug=answers["project_slug"])]
        ready = run(probe, cwd=project, env=env)
        assert "readiness: 200 ok" in ready.stdout, ready.stdout + ready.stderr
        elsewhere = {**env, "APP_DATABASE_URI": f"sqlite:///{project / 'elsewhere.db'}"}
        not_ready = run(probe, cwd=project, env=elsewhere)
        output = not_ready.stdout + not_ready.stderr
        assert "readiness: 503 failing" in output, output
        assert "SQLALCHEMY_DATABASE_URI is not DATABASE_URL" in output, output
    finally:
        factory.write_text(source)
        names = [requirement.split("==")[0] for requirement in ADOPTED_EXTENSIONS]
        run([*uv, "uninstall", *python, *names], cwd=project, env=env)


# The Flask tutorials' console logging, in the app's factory.
OWN_CONSOLE_HANDLER = """    import logging
    import sys

    app.logger.addHandler(logging.StreamHandler(sys.stdout))
    app.logger.setLevel(logging.INFO)
"""


def test_an_app_with_its_own_console_handler_logs_each_event_once(installed):
    """An adopted factory that adds a StreamHandler to app.logger: each event the app logs
    once it is set up is one line, berth's JSON line."""
    project, answers, env = installed
    factory = project / "src" / answers["project_slug"] / "__init__.py"
    source = factory.read_text()
    try:
        factory.write_text(source.replace(SETUP_MARKER, OWN_CONSOLE_HANDLER + SETUP_MARKER))
        script = (
            f"from {answers['project_slug']} import create_app; create_app().logger.info('later')"
        )
        output = run(
            [".venv/bin/python", "-c", script], cwd=project, env={**env, "LOG_FORMAT": "json"}
        ).stdout
    finally:
        factory.write_text(source)
    lines = [line for line in output.splitlines() if "later" in line]
    assert len(lines) == 1, output
    assert json.loads(lines[0])["message"] == "later"
