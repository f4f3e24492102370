"""The README's first screen: its two commands exist and the generate command works."""

from __future__ import annotations

import subprocess

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
