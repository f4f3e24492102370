"""A second real app, unlike flaskr: microblog, the Flask Mega-Tutorial's (vendored under
tests/vendor/microblog). Its package is `app`, its extensions live at module level in its
`__init__.py`, its settings in a `Config` class of a root `config.py`, its tests in a root
`tests.py`; it brings Flask-Migrate revisions, Flask-Login, Flask-WTF, Flask-Babel and an RQ
queue of its own. It moves into a PostgreSQL + Redis + worker project with the guide's commands
and its second example: its own tests and the project's pass, no line of it is changed but by
the guide's commands and ruff, and in the docker tier its pages, migrations and export job run
in the containers."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest

import services
from adoption import (
    VENDORED_MICROBLOG,
    adopt,
    adopted_by_the_guide,
    adopted_stack,
    base_env,
    changed_lines,
    guide,
    merge_whole_init,
    mypy_overrides,
    project_files,
    run_adopted_tests,
    run_block,
    second_example_settings,
)
from helpers import ROOT, TOOLS_BIN, runnable_blocks

ANSWERS = {
    "project_name": "Microblog",
    "examples": False,
    "database": "postgresql",
    "redis": True,
    "worker": True,
    "package_manager": "uv",
}
# The files of the generated project that adopting microblog edits: create_app(), the mypy
# block and the packages (pyproject.toml, uv.lock), and the queue the worker reads.
EDITED = [".env", ".env.example", "pyproject.toml", "src/microblog/__init__.py", "uv.lock"]


@dataclass
class Adoption:
    project: Path
    renamed: dict[str, str]  # the checkout's files after the guide's rename (step 1)
    generated: dict[str, str]  # the project's files before the app moved in
    output: str  # what step 4 (lint, tests, types) printed
    env: dict[str, str]


@pytest.fixture(scope="module")
def microblog(tmp_path_factory):
    root = tmp_path_factory.mktemp("microblog")
    with (
        services.postgres(root, database="microblog") as database_url,
        services.redis(root) as redis_url,
    ):
        env = {
            **base_env(),
            "PATH": f"{TOOLS_BIN}:{base_env()['PATH']}",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
        }
        project = root / "microblog"
        copier.run_copy(
            str(ROOT), project, data=ANSWERS, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True
        )
        run_block(project, runnable_blocks((project / "README.md").read_text())["local"], env)
        generated = project_files(project)
        checkout = root / "microblog-app"
        shutil.copytree(VENDORED_MICROBLOG, checkout)
        run_block(
            project, runnable_blocks(guide(project))["adopt-rename"], {**env, "APP": str(checkout)}
        )
        renamed = {
            p.relative_to(checkout).as_posix(): p.read_text() for p in checkout.rglob("*.py")
        }
        job_queue, packages = second_example_settings(project)

        def settings_and_packages(project: Path) -> None:
            for name in (".env.example", ".env"):
                file = project / name
                file.write_text(re.sub(r"(?m)^JOB_QUEUE=.*$", job_queue, file.read_text()))
            run_block(project, [f"uv add --quiet {' '.join(packages)}"], env)

        output = adopt(project, checkout, env, merge_whole_init, settings_and_packages)
        yield Adoption(project, renamed, generated, output, env)


@pytest.mark.slow
def test_its_own_tests_and_the_projects_pass(microblog):
    """Step 4 ran the project's whole suite (its migrations test compares microblog's models
    with its revisions on PostgreSQL), ruff and mypy; microblog's own tests, collected from its
    root tests.py, pass on their own too."""
    output = microblog.output
    summary = re.search(r"^=+ (\d+ passed.*) in [\d.]+s( \([\d:]+\))? =+$", output, re.MULTILINE)
    assert summary and not re.search(r"failed|error", summary[1]), output
    assert "Success: no issues found" in output, output
    own = run_adopted_tests(microblog.project)
    summary = own.stdout.strip().splitlines()[-1]
    assert own.returncode == 0 and re.fullmatch(r"4 passed in .*", summary), own.stdout


@pytest.mark.slow
def test_no_line_of_microblog_is_changed_but_by_the_guides_commands(microblog, tmp_path):
    """Every file of the app in the project is what the guide's commands (rename, copy, RQ 3,
    ruff) make of the pristine original: nothing was changed by hand outside the factory merge.
    The closing note reports what each of them changed."""
    bare = adopted_by_the_guide(VENDORED_MICROBLOG, microblog.project, tmp_path)
    adopted = [
        p
        for root in (bare / "src" / "microblog", bare / "tests" / "microblog")
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert len(adopted) >= 50, adopted
    for file in adopted:
        relative = file.relative_to(bare)
        assert (microblog.project / relative).read_bytes() == file.read_bytes(), relative
    originals = {
        p.relative_to(VENDORED_MICROBLOG).as_posix(): p for p in VENDORED_MICROBLOG.rglob("*.py")
    }
    renamed_lines = sum(
        changed_lines(originals[name.replace("microblog/", "app/", 1)].read_text(), text)
        if name.startswith("microblog/")
        else changed_lines(originals[name].read_text(), text)
        for name, text in microblog.renamed.items()
    )
    rq3_lines = sum(text.count(".get_id()") for text in microblog.renamed.values())
    assert rq3_lines == 3  # models.py once, tasks.py twice
    print(
        f"\nmicroblog lines changed by the guide's rename: {renamed_lines},"
        f" by its RQ 3 step: {rq3_lines}"
    )


@pytest.mark.slow
def test_of_the_generated_files_only_the_factory_the_queue_and_the_packages_change(microblog):
    now = project_files(microblog.project)
    edited = sorted(n for n, text in microblog.generated.items() if now.get(n) != text)
    assert edited == EDITED, edited
    for name in (".env.example", ".env"):
        diff = changed_lines(microblog.generated[name], now[name])
        assert diff == 2 and "JOB_QUEUE=default,microblog-tasks" in now[name], name
    pyproject = now["pyproject.toml"]
    assert pyproject.endswith("\n" + mypy_overrides(microblog.project))
    before = microblog.generated["pyproject.toml"].splitlines()
    added = [line for line in difflib.ndiff(before, pyproject.splitlines()) if line[:1] == "-"]
    assert added == [], added  # uv add and the mypy block only add lines
    init = "src/microblog/__init__.py"
    print(
        f"\ngenerated files edited by hand: .env.example (and .env), pyproject.toml (mypy), {init}"
        f" ({changed_lines(microblog.generated[init], now[init])} lines)"
    )


@pytest.mark.slow
def test_the_migrations_test_holds_microblogs_models_to_its_revisions(microblog):
    """migrations/env.py compares the app's Flask-SQLAlchemy tables too: a column added to a
    model without a revision fails the project's migrations test."""
    models = microblog.project / "src" / "microblog" / "models.py"
    original = models.read_text()
    anchor = "class Post(SearchableMixin, db.Model):\n"
    assert anchor in original
    models.write_text(
        original.replace(
            anchor,
            anchor + "    mood: so.Mapped[str | None] = so.mapped_column(sa.String(20))\n",
        )
    )
    try:
        result = subprocess.run(
            [str(microblog.project / ".venv" / "bin" / "pytest"), "-q", "tests/test_migrations.py"],
            cwd=microblog.project,
            env=microblog.env,
            capture_output=True,
            text=True,
        )
    finally:
        models.write_text(original)
    assert result.returncode == 1 and "add_column" in result.stdout and "mood" in result.stdout, (
        result.stdout
    )


# ---- the containers ---------------------------------------------------------------------


class Browser:
    """A user's browser on microblog: cookies, and the CSRF token of each form it fills in."""

    def __init__(self, base: str) -> None:
        import http.cookiejar

        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def submit(self, path: str, fields: dict[str, str]) -> str:
        import urllib.parse

        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', self.get(path))
        assert token, f"no CSRF token in the form of {path}"
        data = urllib.parse.urlencode({"csrf_token": token[1], **fields}).encode()
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return response.read().decode()


@pytest.mark.docker
def test_the_containers_serve_microblog_migrate_it_and_run_its_export_job(microblog, tmp_path):
    project = microblog.project
    with adopted_stack(project, "berth-adopt-microblog", tmp_path) as (compose, base):
        migrated = compose("logs", "--no-color", "migrate")
        assert "Running upgrade d049de007ccf -> f7ac3d27bb1d" in migrated, migrated
        user = Browser(base)
        user.submit(
            "/auth/register",
            {"username": "ada", "email": "ada@example.com", "password": "pw", "password2": "pw"},
        )
        page = user.submit("/auth/login", {"username": "ada", "password": "pw"})
        assert "Hi, ada!" in page, page
        page = user.submit("/index", {"post": "Shipped in a box by berth"})
        assert "Shipped in a box by berth" in page, page
        # The export job: enqueued by the app on its own queue, run by the project's worker.
        user.get("/export_posts")
        deadline, progress = time.monotonic() + 120, None
        while time.monotonic() < deadline and progress != 100:
            time.sleep(1)
            notes = json.loads(user.get("/notifications?since=0"))
            progress = next(
                (n["data"]["progress"] for n in notes if n["name"] == "task_progress"), None
            )
        assert progress == 100, f"the export job did not finish: {notes}"
        worker = compose("logs", "--no-color", "worker")
        assert re.search(r"microblog-tasks: Job OK", worker), worker
        with urllib.request.urlopen(f"{base}/health/ready", timeout=10) as ready:  # noqa: S310
            assert ready.status == 200
        compose("down")
        compose("up", "-d", "--wait", "--wait-timeout", "180")
        again = Browser(base)
        assert "Hi, ada!" in again.submit("/auth/login", {"username": "ada", "password": "pw"})
        assert "Shipped in a box by berth" in again.get("/explore"), "the post did not survive"
        logs = compose("logs", "--no-color", "web")
        assert not re.search(r"Traceback|\"level\": \"ERROR\"|Permission denied|Read-only", logs), (
            logs
        )
