"""Hostile and careless answers: every free-text answer lands escaped for each file type it
reaches (Python, TOML, YAML, Markdown, Dockerfile, .env), or is refused with a message that
names the question; `scripts/new` checks answers and the destination before writing anything.

Hostile HTTP input is tested where the app runs: the generated projects' own suites (run for
real by the slow tier, against PostgreSQL and MariaDB), the servers in test_run.py and the
containers in test_docker.py.
"""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

import copier
import pytest
import yaml

from helpers import ROOT, container_static_checks, lint_python
from matrix import COMBOS, HOSTILE, HOSTILE_NAME, choices, combo_id


def render(tmp_path: Path, **answers) -> Path:
    destination = tmp_path / "project"
    copier.run_copy(
        str(ROOT),
        destination,
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    return destination


def markdown_text(line: str) -> str:
    """What a Markdown renderer shows for a line of escaped inline text."""
    return re.sub(r"\\(.)", r"\1", line)


@pytest.fixture(scope="module", params=COMBOS, ids=combo_id)
def hostile_project(request, tmp_path_factory) -> tuple[Path, str]:
    project = render(tmp_path_factory.mktemp("hostile"), **{**request.param, **HOSTILE})
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    return project, slug


def test_every_file_type_holds_the_answers_exactly(hostile_project):
    project, slug = hostile_project
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["description"] == HOSTILE["description"]
    assert pyproject["authors"][0]["name"] == HOSTILE["author_name"]
    package = ast.parse((project / "src" / slug / "__init__.py").read_text())
    assert ast.get_docstring(package) == f"{HOSTILE_NAME}: {HOSTILE['description']}"
    readme = (project / "README.md").read_text().splitlines()
    assert markdown_text(readme[0]) == f"# {HOSTILE_NAME}"
    assert markdown_text(readme[2]) == HOSTILE["description"]
    # Nothing in the name starts Markdown or HTML: each special character is escaped.
    assert not re.search(r"(?<!\\)[*_<>`\[\]|&]", readme[0].replace("\\\\", ""))
    headings = {
        "docs/docker.md": f"# Running {HOSTILE_NAME} with Docker",
        "docs/adr/0001-containerization.md": f"# ADR 0001: How {HOSTILE_NAME} is built, "
        "configured and run",
    }
    for doc, heading in headings.items():
        lines = (project / doc).read_text().splitlines()
        assert heading in [markdown_text(line) for line in lines], doc
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert "web" in compose["services"]
    for file in ("compose.yaml", "Dockerfile", ".env.example", ".gitignore"):
        first = (project / file).read_text().splitlines()[0]
        assert first.startswith("# ") and HOSTILE_NAME in first, f"{file}: {first!r}"


def test_the_project_compiles_lints_and_validates(hostile_project):
    project, _ = hostile_project
    lint_python(project)
    container_static_checks(project)


# The code whose import lines name the package: every server, database and job queue, metrics
# and OCR.
NAMED_IMPORTS = [
    {"database": "postgresql", "redis": True, "worker": True, "metrics": True, "ocr": True},
    {"database": "mysql", "redis": True, "worker": True, "wsgi_server": "uwsgi", "metrics": True},
    {"database": "sqlite", "worker": True, "wsgi_server": "waitress", "metrics": True},
    {"database": "none", "redis": True, "worker": True, "wsgi_server": "granian", "metrics": True},
]


@pytest.mark.parametrize("name", ["Q", "Q" * 20, "Q" * 45, "Q" * 60], ids=lambda name: len(name))
@pytest.mark.parametrize("combo", NAMED_IMPORTS, ids=combo_id)
def test_a_package_name_of_any_allowed_length_leaves_the_code_formatted(tmp_path, combo, name):
    """Lines that hold the package's name (1 to 60 characters; 35 in the hostile projects) are
    as `ruff format` and ruff's import sorting would write them: the project's own lint passes
    whatever the name."""
    lint_python(render(tmp_path, project_name=name, **combo))


REFUSED = [
    ({"project_name": "Two\nLines"}, "project_name must be one line of text"),
    ({"project_name": "Tab\there"}, "project_name must be one line of text"),
    ({"description": "line one\nline two"}, "description must be one line of text"),
    ({"description": "bell\x07"}, "description must be one line of text"),
    ({"author_name": "A\r\nB"}, "author_name must be one line of text"),
    ({"author_email": 'a"b@example.com'}, "is not an email address"),
    ({"author_email": "a@b.c\nd"}, "is not an email address"),
    ({"project_name": "Word" * 80}, 'project_slug "wordwordwordwordword..." is 320 characters'),
]


@pytest.mark.parametrize(("data", "message"), REFUSED, ids=lambda v: repr(v)[:30])
def test_unusable_answers_are_refused_naming_the_question(tmp_path, data, message):
    with pytest.raises(ValueError) as error:
        render(tmp_path, **{"project_name": "Acme Notes", **data})
    assert message in str(error.value)
    assert not (tmp_path / "project" / "src").exists()


# ---- scripts/new ------------------------------------------------------------------------


def scripts_new(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "new"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


NEW_REFUSALS = [
    (["-d", "redis=maybe"], "redis: 'maybe' is not yes or no"),
    (
        ["-d", "database=oracle"],
        f"database: 'oracle' is not one of {', '.join(choices('database'))}",
    ),
    (
        ["-d", "python_version=3.10"],
        f"python_version: '3.10' is not one of {', '.join(choices('python_version'))}",
    ),
    (
        ["-d", "ocr=true", "-d", "ocr_languages=klingon"],
        "ocr_languages: klingon is not one of eng, deu, fra, spa, ita, por, nld, pol. "
        "Give several as a list: -d 'ocr_languages=[eng, deu]'",
    ),
    (["-d", "colour=blue"], "there is no question 'colour'"),
    (["-d", "database"], "'database' is not question=value"),
]


@pytest.mark.parametrize(("args", "message"), NEW_REFUSALS, ids=lambda v: " ".join(v)[:30])
def test_scripts_new_refuses_bad_answers_before_writing(tmp_path, args, message):
    result = scripts_new("acme", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "acme").exists()


def test_scripts_new_explains_copier_errors_without_a_traceback(tmp_path):
    result = scripts_new("acme", "-d", "project_name=" + "Word" * 80, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "berth: invalid answer for 'project_slug'" in result.stderr
    assert "is 320 characters long: use at most 60" in result.stderr
    assert "scripts/new DESTINATION -d project_slug=VALUE" in result.stderr
    assert not (tmp_path / "acme").exists()


def test_scripts_new_names_the_question_of_a_port_that_is_no_number(tmp_path):
    result = scripts_new("acme", "-d", "http_port=abc", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "berth: invalid answer for 'http_port': http_port \"abc\" is not a port number" in (
        result.stderr
    )
    assert not (tmp_path / "acme").exists()


def test_scripts_new_refuses_a_non_empty_destination_and_leaves_it_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my work")
    result = scripts_new(str(mine), cwd=tmp_path)
    assert result.returncode == 2
    assert "is not empty (notes.txt)" in result.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "my work"


def test_scripts_new_refuses_a_folder_name_too_long_for_the_file_system(tmp_path):
    result = scripts_new("x" * 300, cwd=tmp_path)
    assert result.returncode == 2
    assert "is 300 bytes long: file systems allow 255" in result.stderr
    assert "Traceback" not in result.stderr


def test_scripts_new_takes_a_multiselect_as_a_plain_list(tmp_path):
    result = scripts_new("multi", "-d", "ocr=true", "-d", "ocr_languages=deu,fra", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((tmp_path / "multi" / ".copier-answers.yml").read_text())
    assert answers["ocr_languages"] == ["deu", "fra"]
