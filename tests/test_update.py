"""`copier update` on real git repositories: throwaway template versions built from this working
tree, tagged, and real projects generated, edited, committed and updated with copier's CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, TOOLS_BIN, copier_config, run
from updating import (
    ANSWERS_FILE,
    COPIER,
    RELEASES,
    USER_APT,
    USER_ENV,
    USER_ROUTE,
    TemplateRepo,
    add_migrations,
    answers,
    assert_comes_up_ready,
    assert_env_kept,
    assert_mapped,
    conflicted_files,
    copy_project,
    copy_working_tree,
    edit,
    git,
    last_release,
    migration,
    rejects,
    release,
    replace_everywhere,
    update,
    user_edits,
    v2_elsewhere,
)

pytestmark = pytest.mark.slow


# ---- the user's edits and the template's v2 changes --------------------------------------


@pytest.fixture
def template(tmp_path) -> TemplateRepo:
    repo = TemplateRepo(tmp_path / "berth")
    repo.release("1.0.0")
    return repo


@pytest.mark.docker
def test_update_keeps_user_edits_and_brings_template_changes(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")
    env_before = (project / ".env").read_text()
    user_edits(project)
    template.release("2.0.0", v2_elsewhere)

    update(project)

    dockerfile = (project / "Dockerfile").read_text()
    compose = (project / "compose.yaml").read_text()
    health = (project / "src" / "acme_notes" / "berth" / "health.py").read_text()
    assert USER_APT[1] in dockerfile and USER_ENV[1] in compose and USER_ROUTE in health
    assert "HEALTHCHECK --interval=5s" in dockerfile and "stop_grace_period: 35s" in compose
    assert conflicted_files(project) == [] and rejects(project) == []
    assert answers(project)["_commit"] == "2.0.0"
    assert_env_kept(project, env_before)
    # The updated project still passes its own test suite, from its own lock file.
    run([str(TOOLS_BIN / "uv"), "sync", "--locked"], cwd=project)
    run(
        [str(TOOLS_BIN / "uv"), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
    )
    assert_comes_up_ready(project)


def test_update_touching_the_users_lines_conflicts_in_that_file_only(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")
    env_before = (project / ".env").read_text()
    user_edits(project)
    edit(project / "Dockerfile", "--start-period=30s", "--start-period=40s")
    git(project, "commit", "-q", "-am", "team: slower start")
    template.release(
        "2.0.0",
        lambda t: (
            v2_elsewhere(t),
            edit(t / "template" / "Dockerfile.jinja", "--start-period=30s", "--start-period=25s"),
        ),
    )

    update(project)

    assert conflicted_files(project) == ["Dockerfile"]
    dockerfile = (project / "Dockerfile").read_text()
    assert "--start-period=40s" in dockerfile and "--start-period=25s" in dockerfile
    assert USER_APT[1] in dockerfile, "the user's non-conflicting edit in that file is kept"
    assert USER_ENV[1] in (project / "compose.yaml").read_text()
    assert USER_ROUTE in (project / "src" / "acme_notes" / "berth" / "health.py").read_text()
    assert "stop_grace_period: 35s" in (project / "compose.yaml").read_text()
    assert rejects(project) == []
    assert_env_kept(project, env_before)
    # git knows the file is unmerged, so it cannot be committed by accident.
    assert "UU Dockerfile" in git(project, "status", "--porcelain")


@pytest.mark.parametrize(
    "released_answers", [{}, {"redis": True, "worker": True}], ids=["defaults", "rq-worker"]
)
def test_this_tree_updates_a_project_from_the_last_release(tmp_path, request, released_answers):
    """The last release's project updated to this tree passes its own tests; an RQ worker
    project stays on RQ (without Redis a new project's worker would be huey's)."""
    released = last_release()
    repo = tmp_path / "berth"
    run(["git", "clone", "-q", str(RELEASES / f"{released}.bundle"), str(repo)])
    git(repo, "checkout", "-q", released)
    project = copy_project(repo, tmp_path / "acme", released, **released_answers)
    env_before = (project / ".env").read_text()
    # The team's route in a module this tree moves (0.1.0's health.py is now berth/health.py).
    released_health = project / "src" / "acme_notes" / "health.py"
    released_health.write_text(released_health.read_text() + USER_ROUTE)
    git(project, "commit", "-q", "-am", "team: a version route")
    # This working tree as the next release, on top of the released history.
    git(repo, "checkout", "-q", "-B", "next")
    for name in git(repo, "ls-files", "-z").split("\0"):
        if name and not (ROOT / name).exists():
            (repo / name).unlink()
    copy_working_tree(repo)
    release(repo, "999.0.0")

    update(project)

    assert answers(project)["_commit"] == "999.0.0"
    assert conflicted_files(project) == [] and rejects(project) == []
    assert_env_kept(project, env_before)
    for name in ("Dockerfile", "compose.yaml", ".dockerignore"):
        assert (project / name).is_file(), f"{name} of the new release is missing"
    assert not released_health.exists()
    assert USER_ROUTE in (project / "src" / "acme_notes" / "berth" / "health.py").read_text()
    env = dict(os.environ)
    if released_answers.get("worker"):
        pyproject = (project / "pyproject.toml").read_text()
        assert '"rq>=' in pyproject and "huey" not in pyproject
        env["TEST_REDIS_URL"] = request.getfixturevalue("redis_url")
    run([str(TOOLS_BIN / "uv"), "sync", "--locked"], cwd=project)
    run(
        [str(TOOLS_BIN / "uv"), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
    )
    # The team's route came along and answers.
    asks = (
        "from acme_notes import create_app; print(create_app().test_client().get('/version').json)"
    )
    answer = run(
        [str(TOOLS_BIN / "uv"), "run", "--locked", "python", "-c", asks], cwd=project, env=env
    )
    assert answer.stdout.strip() == "{'version': '1.2.3'}", answer.stdout


# ---- migrations: each kind across a version boundary ------------------------------------


def test_renamed_question_carries_the_answer(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0", http_port=9100)

    def rename(t: Path) -> None:
        replace_everywhere(t, "http_port", "published_port")
        add_migrations(
            t,
            migration(
                "before",
                "migrate_answers.py",
                ANSWERS_FILE,
                "rename",
                "http_port",
                "published_port",
            ),
        )

    template.release("2.0.0", rename)
    update(project)

    recorded = answers(project)
    assert recorded["published_port"] == "9100" and "http_port" not in recorded
    assert "EXPOSE 9100" in (project / "Dockerfile").read_text()
    assert conflicted_files(project) == [] and rejects(project) == []


def test_moved_file_takes_the_users_edits_along(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")
    old, new = "src/acme_notes/berth/logging_config.py", "src/acme_notes/berth/log_setup.py"
    user_function = (
        '\n\ndef quiet_libraries() -> None:\n    """Added by the team."""\n'
        '    logging.getLogger("urllib3").setLevel(logging.WARNING)\n'
    )
    (project / old).write_text((project / old).read_text() + user_function)
    git(project, "commit", "-q", "-am", "team: quieter logs")

    def move(t: Path) -> None:
        package = t / "template" / "src" / "{{ project_slug }}" / "berth"
        git(t, "mv", str(package / "logging_config.py"), str(package / "log_setup.py"))
        replace_everywhere(t, "logging_config", "log_setup")
        # v2 also changes the moved file itself, far from the team's edit.
        edit(package / "log_setup.py", '"""', '"""Logging setup (renamed in 2.0.0). ', 1)
        moved = (
            "src/{project_slug}/berth/logging_config.py",
            "src/{project_slug}/berth/log_setup.py",
        )
        add_migrations(
            t,
            *(
                migration(stage, "migrate_moved_file.py", stage, ANSWERS_FILE, *moved)
                for stage in ("before", "after")
            ),
        )

    template.release("2.0.0", move)
    update(project)

    assert not (project / old).exists()
    moved = (project / new).read_text()
    assert user_function in moved, "the team's edit did not follow the file"
    assert "Logging setup (renamed in 2.0.0)." in moved, "the template's change is missing"
    assert conflicted_files(project) == [] and rejects(project) == []
    run([str(TOOLS_BIN / "uv"), "sync", "--locked"], cwd=project)
    run(
        [str(TOOLS_BIN / "uv"), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
    )


def test_changed_defaults_leave_existing_projects_as_they_were(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")

    def new_defaults(t: Path) -> None:
        # A recorded answer's default changes: nothing to migrate, the answer is recorded.
        edit(t / "copier.yml", 'default: "3.13"\n', 'default: "3.12"\n')
        # A new question whose default differs from what 1.0.0 did (2 s): existing projects
        # keep 2s through the migration, new ones get 15s.
        edit(
            t / "copier.yml",
            "\nhttp_port:\n",
            """
healthcheck_interval:
  type: str
  help: Interval of the container healthcheck
  default: "15s"

http_port:
""",
        )
        edit(
            t / "template" / "Dockerfile.jinja",
            "HEALTHCHECK --interval=2s",
            "HEALTHCHECK --interval={{ healthcheck_interval }}",
        )
        add_migrations(
            t,
            migration(
                "before", "migrate_answers.py", ANSWERS_FILE, "keep", "healthcheck_interval", "2s"
            ),
        )

    template.release("2.0.0", new_defaults)
    update(project)
    fresh = copy_project(template.path, tmp_path / "fresh", "2.0.0")

    assert answers(project)["python_version"] == "3.13"
    assert answers(project)["healthcheck_interval"] == "2s"
    dockerfile = (project / "Dockerfile").read_text()
    assert "FROM python:3.13-slim AS runtime" in dockerfile and "--interval=2s" in dockerfile
    fresh_dockerfile = (fresh / "Dockerfile").read_text()
    assert "FROM python:3.12-slim AS runtime" in fresh_dockerfile
    assert "--interval=15s" in fresh_dockerfile
    assert conflicted_files(project) == [] and rejects(project) == []


def test_every_real_migration_is_tested():
    """Each script copier.yml's _migrations runs has an update test above."""
    tested = {
        "lock_dependencies.py": test_changing_answers_matches_a_fresh_copy,
        "migrate_answers.py": test_renamed_question_carries_the_answer,
        "migrate_moved_file.py": test_moved_file_takes_the_users_edits_along,
    }
    config = copier_config()
    for entry in config["_migrations"]:
        script = Path(entry["command"][1]).name
        assert script in tested, f"migration {script} has no update test"


# ---- changing answers on update ---------------------------------------------------------

NEW_ANSWERS = {
    "database": "postgresql",
    "redis": True,
    "worker": True,
    "ocr": True,
    "ocr_languages": ["eng", "fra"],
    "package_manager": "uv",
}


@pytest.mark.docker
def test_changing_answers_matches_a_fresh_copy(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0", package_manager="pip")
    health = project / "src" / "acme_notes" / "berth" / "health.py"
    health.write_text(health.read_text() + USER_ROUTE)
    (project / "src" / "acme_notes" / "reports.py").write_text('"""The team\'s own module."""\n')
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "team edits")
    env_before = (project / ".env").read_text()

    data = [
        f"--data={k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in NEW_ANSWERS.items()
    ]
    update(project, *data)
    fresh = copy_project(
        template.path,
        tmp_path / "fresh",
        "1.0.0",
        **{k: json.dumps(v) if isinstance(v, list) else v for k, v in NEW_ANSWERS.items()},
    )

    def tree(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and ".git" not in p.parts
        }

    generated_per_project = {".env", "uv.lock", ".copier-answers.yml"}
    assert tree(project) - tree(fresh) == {"src/acme_notes/reports.py"}
    assert tree(fresh) - tree(project) == set()
    for name in sorted(tree(fresh) - generated_per_project):
        expected = (fresh / name).read_text()
        if name == "src/acme_notes/berth/health.py":
            expected += USER_ROUTE
        assert (project / name).read_text() == expected, f"{name} differs from a fresh copy"
    assert {k: v for k, v in answers(project).items() if k in NEW_ANSWERS} == NEW_ANSWERS
    # The lock was regenerated for the new answers (pip's lock files are gone, see tree()).
    run([str(TOOLS_BIN / "uv"), "lock", "--check"], cwd=project)
    assert 'name = "psycopg"' in (project / "uv.lock").read_text()
    assert 'name = "rq"' in (project / "uv.lock").read_text()
    assert_env_kept(project, env_before)
    assert re.search(r"^POSTGRES_PASSWORD=\S{40,}$", (project / ".env").read_text(), re.M)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "berth: now with PostgreSQL, Redis, a worker and OCR")
    assert_comes_up_ready(project)


# ---- failure modes: each message is the one the README's troubleshooting table maps --------


def test_update_without_answers_file_is_mapped(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    git(project, "init", "-q")
    result = update(project, check=False)
    assert result.returncode != 0
    assert_mapped(
        "Cannot update because cannot obtain old template references from",
        result.stdout + result.stderr,
    )


def test_update_of_a_dirty_tree_is_mapped(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")
    template.release("2.0.0", v2_elsewhere)
    edit(project / "compose.yaml", *USER_ENV)  # not committed
    result = update(project, check=False)
    assert result.returncode != 0
    assert_mapped(
        "Destination repository is dirty; cannot continue.", result.stdout + result.stderr
    )
    assert answers(project)["_commit"] == "1.0.0"
    assert "stop_grace_period: 30s" in (project / "compose.yaml").read_text()


def test_downgrade_is_refused_and_mapped(template, tmp_path):
    template.release("1.1.0", v2_elsewhere)
    project = copy_project(template.path, tmp_path / "acme", "1.1.0")
    result = update(project, "--vcs-ref=1.0.0", check=False)
    assert result.returncode != 0
    assert_mapped("Downgrades are not supported.", result.stdout + result.stderr)
    assert answers(project)["_commit"] == "1.1.0"


def test_moved_template_is_mapped_and_the_documented_fix_works(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")
    moved = template.path.rename(tmp_path / "berth-moved")
    result = update(project, check=False)
    assert_mapped(
        "Updating is only supported in git-tracked templates.", result.stdout + result.stderr
    )
    edit(project / ".copier-answers.yml", f"_src_path: {template.path}", f"_src_path: {moved}")
    git(project, "commit", "-q", "-am", "berth moved")
    release(moved, "2.0.0", v2_elsewhere)
    update(project)
    assert answers(project)["_commit"] == "2.0.0"


def test_copy_from_uncommitted_template_changes_warns_and_the_documented_fix_works(
    template, tmp_path
):
    edit(template.path / "template" / ".dockerignore.jinja", "htmlcov\n", "htmlcov\nnotes.txt\n")
    result = subprocess.run(
        [
            *COPIER,
            "copy",
            "--trust",
            "--defaults",
            "--quiet",
            "--vcs-ref=HEAD",
            "--data=project_name=Acme Notes",
            str(template.path),
            str(tmp_path / "acme"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "exists nowhere, so `copier update` will fail" in result.stderr
    project = tmp_path / "acme"
    recorded = answers(project)["_commit"]
    assert re.fullmatch(r"1\.0\.0-\d+-g[0-9a-f]+", recorded)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "generated")
    git(template.path, "checkout", "-q", "--", ".")
    template.release("2.0.0", v2_elsewhere)
    failed = update(project, check=False)
    assert_mapped(
        f"Unknown revision: '{recorded}'",
        failed.stdout + failed.stderr,
        documented_as="Unknown revision: '0.1.0-4-gabc1234'",
    )
    # The README's fix: record the release it was based on; the changes become the project's.
    edit(project / ".copier-answers.yml", f"_commit: {recorded}", "_commit: 1.0.0")
    git(project, "commit", "-q", "-am", "berth: based on 1.0.0")
    update(project)
    assert answers(project)["_commit"] == "2.0.0"
    assert "notes.txt" in (project / ".dockerignore").read_text()


def test_turning_kubernetes_on_adds_its_folder_and_nothing_else(template, tmp_path):
    project = copy_project(template.path, tmp_path / "acme", "1.0.0", database="postgresql")
    env_before = (project / ".env").read_text()

    update(project, "--data=kubernetes=true")

    status = git(project, "status", "--porcelain", "--untracked-files=all").splitlines()
    changed = {line[3:] for line in status if not line.startswith("??")}
    added = {line[3:] for line in status if line.startswith("??")}
    # .dockerignore keeps the new deploy/ folder out of the image's build context.
    assert changed == {".copier-answers.yml", ".dockerignore"}, status
    diff = git(project, "diff", "--unified=0", "--", ".dockerignore").splitlines()
    edits = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert edits[-1] == "+deploy" and all(line.startswith("+") for line in edits), diff
    assert added == {"docs/kubernetes.md"} | {
        path for path in added if path.startswith("deploy/kubernetes/")
    }, status
    # Its local Secret was generated, and git ignores it.
    assert "deploy/kubernetes/overlays/local/secrets.env" not in added
    secrets = project / "deploy/kubernetes/overlays/local/secrets.env"
    assert re.search(r"^POSTGRES_PASSWORD=\S{40,}$", secrets.read_text(), re.M)
    assert_env_kept(project, env_before)
