"""The README's first screen: its two commands exist and the generate command works."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from helpers import ROOT


def first_screen() -> str:
    return "\n".join((ROOT / "README.md").read_text().splitlines()[:25])


def test_first_screen_gives_the_generate_and_the_test_command():
    screen = first_screen()
    assert "./scripts/new ../acme-notes" in screen
    assert "./scripts/test" in screen
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in ci, ".ci/run must run the README's test command"


def test_generate_command_makes_a_default_project(tmp_path):
    dest = tmp_path / "acme-notes"
    result = subprocess.run(
        [str(ROOT / "scripts" / "new"), str(dest)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "Acme Notes"
    assert answers["_src_path"] == str(ROOT)  # absolute: `copier update` can find it later
    assert (dest / "src" / "acme_notes" / "__init__.py").is_file()
    assert (dest / "uv.lock").is_file() and (dest / ".env").is_file()


def test_generate_command_explains_an_invalid_answer(tmp_path):
    # The folder name gives project_slug "class": a keyword, rejected by berth's validator.
    dest = tmp_path / "class"
    result = subprocess.run(
        [str(ROOT / "scripts" / "new"), str(dest)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert 'project_slug "class" is a Python keyword' in result.stderr, result.stderr
    assert "scripts/new DESTINATION -d project_slug=VALUE" in result.stderr, result.stderr
    assert not dest.exists()


def test_the_question_table_is_copier_ymls():
    """README's question table lists copier.yml's questions in order, with their choices and
    defaults: scripts/readme_questions.py writes it, and finds nothing to change."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_questions.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    table = (ROOT / "README.md").read_text().split("| Question |")[1].split("\n\n")[0]
    questions = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert questions[:3] == ["project_name", "project_slug", "description"]
    assert "`postgresql`" in table and "(asked only with a database server)" in table
    for question in questions:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{question}` |"))
        assert not row.endswith("|  |"), f"{question} has no description in README.md"
