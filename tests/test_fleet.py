"""Slow tier: `scripts/fleet` on a fleet made from throwaway template releases of this tree.

Twenty projects spanning the answer classes are created from one manifest, edited, and
updated to a new release: every edit is kept, the projects with a conflicting edit are
reported with the file's name, no project's own branch is touched. Organisation defaults
(copier's user settings and a data file) land in the projects, and an explicit answer wins.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from fleets import fleet, manifest_of, new_fleet, status
from helpers import ROOT, TOOLS_BIN
from matrix import COMBOS
from updating import CONFLICT, TemplateRepo, answers, edit, git, v2_elsewhere

pytestmark = pytest.mark.slow

README_EDIT = "\nOwned by the payments team.\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> TemplateRepo:
    repo = TemplateRepo(tmp_path_factory.mktemp("fleet") / "berth")
    repo.release("1.0.0")
    return repo


def test_twenty_projects_are_created_checked_and_updated(template, tmp_path):
    combos = COMBOS[:20]
    assert len(combos) == 20
    manifest = manifest_of(combos, tmp_path / "projects.yml")
    created = new_fleet(
        manifest,
        tmp_path / "fleet",
        template.path,
        "--jobs",
        "4",
    )
    assert created.returncode == 0, created.stdout + created.stderr
    projects = sorted((tmp_path / "fleet").iterdir())
    assert [p.name for p in projects] == [f"fleet-{i:02d}" for i in range(20)]
    assert created.stdout.count(": created (berth 1.0.0)") == 20, created.stdout
    for project in projects:
        assert git(project, "status", "--porcelain") == ""
        assert git(project, "log", "--format=%s") == "Generated from berth 1.0.0\n"

    # Each team edits its README; every fifth also changes the line the next release changes.
    conflicting = projects[::5]
    for project in projects:
        with (project / "README.md").open("a") as readme:
            readme.write(README_EDIT)
        if project in conflicting:
            edit(project / "Dockerfile", "--interval=2s --timeout=3s", "--interval=3s --timeout=3s")
        git(project, "commit", "-q", "-am", "team edits")
    template.release("1.1.0", v2_elsewhere)

    code, rows = status(*projects)
    assert code == 1 and all(row["behind"] and row["latest"] == "1.1.0" for row in rows), rows

    updated = fleet("update", "--no-tests", "--jobs", "4", *map(str, projects))
    assert updated.returncode == 1, updated.stdout + updated.stderr  # conflicts need a human
    for project in projects:
        line = next(line for line in updated.stdout.splitlines() if f"] {project}:" in line)
        if project in conflicting:
            assert "conflicts (Dockerfile;" in line, line
            assert CONFLICT.search(git(project, "show", "template-update/1.1.0:Dockerfile"))
        else:
            assert ": updated (on template-update/1.1.0)" in line, line
            assert "--interval=5s" in git(project, "show", "template-update/1.1.0:Dockerfile")
        # The team's edit is kept; the project's own branch and work tree are as they were.
        assert git(project, "show", "template-update/1.1.0:README.md").endswith(README_EDIT)
        assert git(project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
        assert git(project, "status", "--porcelain") == ""
        assert answers(project)["_commit"] == "1.0.0"
    assert f"needs a human: {conflicting[0]}: conflicts: Dockerfile" in updated.stdout

    # Merging the clean updates (as their pull requests would) leaves only the others behind.
    for project in projects:
        if project not in conflicting:
            git(project, "merge", "-q", "--ff-only", "template-update/1.1.0")
    code, rows = status(*projects)
    behind = {Path(row["project"]) for row in rows if row["behind"]}
    assert code == 1 and behind == set(conflicting), rows


def test_a_failing_project_does_not_stop_the_others(template, tmp_path):
    manifest = manifest_of([{}, {"database": "postgresql"}], tmp_path / "projects.yml")
    (tmp_path / "fleet" / "fleet-00").mkdir(parents=True)
    (tmp_path / "fleet" / "fleet-00" / "notes.txt").write_text("someone's work\n")
    result = new_fleet(
        manifest,
        tmp_path / "fleet",
        template.path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fleet-00: failed (" in result.stdout and "exists and is not empty" in result.stdout
    assert "fleet-01: created (berth " in result.stdout
    assert (tmp_path / "fleet" / "fleet-00" / "notes.txt").read_text() == "someone's work\n"
    assert "needs a human: fleet-00: failed" in result.stdout


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("projects: {}", "expected `projects:`, a list of answers"),
        ("projects:\n  - database: postgresql", "project 1 needs a project_name"),
        ("projects:\n  - project_name: A\n    colour: red", "there is no question 'colour'"),
        (
            "projects:\n  - project_name: A\n    database: oracle",
            "database: 'oracle' is not one of",
        ),
        ("projects:\n  - project_name: A\n  - project_name: a", "folder 'a' is also project 1's"),
        ("projects: [\n", "is not valid YAML"),
    ],
)
def test_a_wrong_manifest_is_refused_before_anything_is_made(tmp_path, manifest, message):
    (tmp_path / "projects.yml").write_text(manifest)
    result = fleet("new", "--manifest", str(tmp_path / "projects.yml"), str(tmp_path / "fleet"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "fleet").exists()


def test_status_of_a_folder_that_is_no_project_says_so(tmp_path):
    result = fleet("status", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path} is not a berth project" in result.stdout


def test_organisation_defaults_land_in_projects_and_an_answer_still_wins(template, tmp_path):
    """An org's defaults: copier's user settings (`defaults:`) and a berth data file; the
    manifest's answers win over both."""
    settings = tmp_path / "copier-settings.yml"
    settings.write_text(yaml.safe_dump({"defaults": {"author_name": "Platform team"}}))
    org = tmp_path / "org.yml"
    org.write_text(
        yaml.safe_dump(
            {
                "author_email": "platform@acme.example",
                "python_version": "3.12",
                "registry": "ghcr.io/acme",
            }
        )
    )
    manifest = tmp_path / "projects.yml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "projects": [
                    {"project_name": "Org One"},
                    {"project_name": "Org Two", "python_version": "3.13"},
                ]
            }
        )
    )
    result = new_fleet(
        manifest,
        tmp_path / "fleet",
        template.path,
        "--data-file",
        str(org),
        env={"COPIER_SETTINGS_PATH": str(settings)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    one, two = answers(tmp_path / "fleet" / "org-one"), answers(tmp_path / "fleet" / "org-two")
    assert one["author_name"] == two["author_name"] == "Platform team"
    assert one["author_email"] == two["author_email"] == "platform@acme.example"
    assert (one["python_version"], two["python_version"]) == ("3.12", "3.13")
    assert one["registry"] == two["registry"] == "ghcr.io/acme"
    pyproject = (tmp_path / "fleet" / "org-one" / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.12"' in pyproject and "platform@acme.example" in pyproject


def test_update_runs_each_projects_tests_and_reports_a_failure(template, tmp_path):
    manifest = manifest_of([{}, {"package_manager": "pip"}], tmp_path / "projects.yml")
    new_fleet(
        manifest,
        tmp_path / "fleet",
        template.path,
    )
    good, broken = tmp_path / "fleet" / "fleet-00", tmp_path / "fleet" / "fleet-01"
    (broken / "tests" / "test_team.py").write_text("def test_team() -> None:\n    assert False\n")
    git(broken, "add", "-A")
    git(broken, "commit", "-q", "-m", "a failing test")
    template.release("1.2.0")  # nothing changed but the version: the tests decide
    result = fleet("update", str(good), str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{good}: updated (on template-update/1.2.0)" in result.stdout
    assert (
        f"{broken}: tests failed (`.venv/bin/pytest` failed on template-update/1.2.0"
        in result.stdout
    )
    log = broken / ".git" / "berth-fleet-tests.log"
    assert "test_team" in log.read_text()
    for project in (good, broken):
        assert git(project, "status", "--porcelain") == ""
        assert git(project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_the_readmes_many_projects_commands_run_as_written(tmp_path):
    """README, "Many projects": its block as one shell script, in a checkout of berth with a
    release, beside an organisation data file."""
    import re

    block = re.search(
        r"<!-- berth:run fleet -->\s*```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    )[1]
    checkout = TemplateRepo(tmp_path / "berth")
    checkout.release("1.0.0")
    (checkout.path / ".venv").symlink_to(ROOT / ".venv")  # berth's tooling, already installed
    (checkout.path / "org.yml").write_text(yaml.safe_dump({"author_name": "Platform team"}))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=checkout.path,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}"},
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    services = tmp_path / "services"
    assert sorted(p.name for p in services.iterdir()) == ["billing-api", "receipts-ocr"]
    billing = answers(services / "billing-api")
    assert (billing["database"], billing["python_version"]) == ("postgresql", "3.12")
    assert billing["author_name"] == "Platform team"
    assert answers(services / "receipts-ocr")["ocr"] is True
    assert "current" in result.stdout
