"""Every invalid answer is rejected by copier's validator with a message saying what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import copier
import pytest

from helpers import ROOT

BASE = {"project_name": "Acme Notes"}

INVALID = [
    ({"project_name": "  "}, "project_name is required"),
    (
        {"project_slug": "Acme-Notes"},
        'project_slug "Acme-Notes" is not a valid package name: use '
        "lowercase letters, digits and underscores",
    ),
    ({"project_slug": "9lives"}, "starting with a letter"),
    ({"project_slug": "class"}, 'project_slug "class" is a Python keyword'),
    (
        {"project_slug": "json"},
        'project_slug "json" would shadow the module "json" of the '
        "standard library, a dependency or the project layout",
    ),
    ({"project_slug": "flask"}, 'would shadow the module "flask"'),
    ({"project_slug": "test"}, 'would shadow the module "test"'),
    ({"project_slug": "app"}, 'would shadow the module "app"'),
    (
        {"author_email": "not-an-email"},
        'author_email "not-an-email" is not an email address: use the form name@example.com',
    ),
    ({"http_port": 80}, "http_port 80 is out of range: use a port from 1024 to 65535"),
    ({"http_port": 70000}, "http_port 70000 is out of range"),
    ({"http_port": "abc"}, 'http_port "abc" is not a port number: use a whole number from 1024'),
    ({"http_port": "08000"}, 'http_port "08000" is not a port number'),
    ({"http_port": "-8000"}, 'http_port "-8000" is not a port number'),
    (
        {"redis": False, "worker": True, "database": "mysql"},
        "worker needs a place for its job queue: with database=mysql that is Redis. Answer "
        "redis=true (RQ on Redis), or database=sqlite or database=postgresql (a queue in the "
        "database, huey), or worker=false.",
    ),
    (
        {"redis": False, "worker": True, "database": "none"},
        "worker needs a place for its job queue: with database=none that is Redis.",
    ),
    ({"ocr": True, "ocr_languages": []}, "ocr_languages is empty: choose at least one of eng"),
    (
        {"admin_ui": True, "database": "sqlite"},
        "admin_ui needs a database server to administer: answer database=postgresql or "
        "database=mysql, or admin_ui=false.",
    ),
    ({"registry": "https://ghcr.io/acme"}, 'registry "https://ghcr.io/acme" is not a registry'),
    ({"registry": "GHCR.io/Acme"}, "use lowercase host/path like ghcr.io/acme"),
    ({"database": "oracle"}, "Invalid choice"),
    ({"python_version": "3.10"}, "Invalid choice"),
    ({"wsgi_server": "daphne"}, "Invalid choice"),
    ({"package_manager": "poetry"}, "Invalid choice"),
    ({"reverse_proxy": "traefik"}, "Invalid choice"),
]


@pytest.mark.parametrize(("data", "message"), INVALID, ids=lambda v: str(v)[:40])
def test_invalid_answer_is_rejected_with_its_message(tmp_path: Path, data: dict, message: str):
    with pytest.raises(ValueError) as error:
        copier.run_copy(
            str(ROOT),
            tmp_path / "project",
            data={**BASE, **data},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert message in str(error.value)
    assert not (tmp_path / "project" / "src").exists()


def copier_copy(destination: Path, *data: str, env: dict | None = None):
    """`copier copy` of this checkout through the CLI, with --defaults and `-d` answers."""
    answers = [arg for item in data for arg in ("-d", item)]
    command = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref=HEAD"]
    return subprocess.run(
        [*command, *answers, str(ROOT), str(destination)],
        capture_output=True,
        text=True,
        env=env,
    )


def test_cli_prints_the_message_and_fails(tmp_path: Path):
    result = copier_copy(tmp_path / "p", "project_name=X", "http_port=22")
    assert result.returncode != 0
    assert "http_port 22 is out of range: use a port from 1024 to 65535" in result.stderr


def test_plain_copier_names_the_question_of_a_port_that_is_no_number(tmp_path: Path):
    """copier casts an int answer before any validator runs ("invalid literal for int()"):
    http_port is text, validated, and cast where the templates count with it."""
    result = copier_copy(tmp_path / "p", "project_name=X", "http_port=abc")
    assert result.returncode != 0
    assert "Validation error for question 'http_port'" in result.stderr, result.stderr
    assert 'http_port "abc" is not a port number' in result.stderr
    assert "invalid literal for int()" not in result.stderr


def test_valid_defaults_derive_the_slug(render):
    project = render(project_name="Acme Notes 2!")
    assert (project / "src" / "acme_notes_2" / "__init__.py").is_file()


def test_lock_failure_leaves_nothing_behind(tmp_path: Path):
    """The lock task fails (no index, empty cache): copier removes the half-made project."""
    env = {**os.environ, "UV_OFFLINE": "1", "UV_NO_CACHE": "1"}
    result = copier_copy(tmp_path / "p", "project_name=Offline", env=env)
    assert result.returncode != 0
    assert "berth: Locking with uv failed" in result.stderr
    assert not (tmp_path / "p").exists()


def test_missing_uv_gives_install_instructions(tmp_path: Path):
    """The lock hook, run by an interpreter without the uv package and no uv on PATH."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    bare_python = (
        subprocess.run(
            [sys.executable, "-c", "import sys; print(sys.base_prefix)"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        + "/bin/python3"
    )
    result = subprocess.run(
        [bare_python, "-I", str(ROOT / "hooks" / "lock_dependencies.py"), "uv", "3.13"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
    )
    assert result.returncode == 1
    assert (
        "uv is needed to lock this project's dependencies, and it was not found on PATH"
        in result.stderr
    )
    assert "pipx install uv" in result.stderr
    assert not (tmp_path / "uv.lock").exists()


def test_env_sync_only_adds_missing_variables(tmp_path: Path):
    (tmp_path / ".env.example").write_text(
        "# a\n# Secret: yes.\nSECRET_KEY=change-me\n\n# b\nLOG_LEVEL=INFO\n\n# c\nNEW_VAR=1\n"
    )
    (tmp_path / ".env").write_text("SECRET_KEY=keep-me\nLOG_LEVEL=DEBUG\n")
    hook = [sys.executable, str(ROOT / "hooks" / "sync_env.py")]
    subprocess.run(hook, cwd=tmp_path, check=True)
    subprocess.run(hook, cwd=tmp_path, check=True)  # idempotent: copier runs tasks repeatedly
    env = (tmp_path / ".env").read_text()
    assert env.startswith("SECRET_KEY=keep-me\nLOG_LEVEL=DEBUG\n")
    assert env.count("NEW_VAR=1") == 1
    assert "# c\nNEW_VAR=1" in env
