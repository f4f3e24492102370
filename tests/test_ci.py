"""Generated CI (ci=github): for every covering-set combination that has it, the workflows and
dependabot.yml validate against their schemas, zizmor's offline audit finds nothing, every
action is pinned to a full commit SHA, and the test job runs the README's own commands. The
slow tier runs those commands, in order, against the servers the workflow declares.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import TOOLS_BIN, run, runnable_blocks
from matrix import COMBOS, combo_id, row

GITHUB_COMBOS = [combo for combo in COMBOS if combo.get("ci", "github") == "github"]
WORKFLOWS = ("ci.yml", "release.yml")


@pytest.fixture(scope="module", params=GITHUB_COMBOS, ids=combo_id)
def project(request, render) -> Path:
    return render(**request.param)


def test_workflows_and_dependabot_validate_against_their_schemas(project):
    check = str(TOOLS_BIN / "check-jsonschema")
    workflows = [str(project / ".github" / "workflows" / name) for name in WORKFLOWS]
    run([check, "--builtin-schema", "vendor.github-workflows", *workflows])
    run([check, "--builtin-schema", "vendor.dependabot", str(project / ".github/dependabot.yml")])


def test_zizmor_finds_nothing(project):
    result = run([str(TOOLS_BIN / "zizmor"), "--offline", str(project / ".github" / "workflows")])
    assert "No findings to report" in result.stdout + result.stderr, result.stdout


def test_every_action_is_pinned_to_a_commit_with_its_version(project):
    for name in WORKFLOWS:
        text = (project / ".github" / "workflows" / name).read_text()
        uses = re.findall(r"uses: (\S+)(.*)", text)
        assert uses, name
        for action, comment in uses:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), f"{name}: {action}"
            assert re.fullmatch(r" # v\d+(\.\d+)*", comment), f"{name}: {action}{comment}"


def workflow(project: Path, name: str) -> dict:
    return yaml.safe_load((project / ".github" / "workflows" / name).read_text())


def test_jobs_have_least_rights_and_keep_no_token(project):
    for name in WORKFLOWS:
        data = workflow(project, name)
        assert data["permissions"] == {}, name
        for job_name, job in data["jobs"].items():
            assert "write-all" not in str(job.get("permissions")), job_name
            for step in job["steps"]:
                if "actions/checkout@" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False, job_name
    ci = workflow(project, "ci.yml")
    assert all(set(job["permissions"]) == {"contents"} for job in ci["jobs"].values())


def test_the_test_job_runs_the_readme_commands(project):
    steps = [s["run"] for s in workflow(project, "ci.yml")["jobs"]["test"]["steps"] if "run" in s]
    readme = runnable_blocks((project / "README.md").read_text())["local"]
    assert steps[-len(readme) :] == readme


# ---- the test job's commands, run for real (slow tier) ----------------------------------

RUN_CI = [
    {"ci": "github"},
    {"ci": "github", "package_manager": "pip", "database": "postgresql", "redis": True},
    {"ci": "github", "database": "mysql", "worker": True, "redis": True, "python_version": "3.12"},
]


@pytest.mark.slow
@pytest.mark.parametrize("combo", RUN_CI, ids=combo_id)
def test_the_test_job_passes_against_the_servers_it_declares(render, combo, tmp_path):
    """The job's `run:` steps in order, in a fresh copy, with servers started as its services
    are declared (user and password `app`, the project's database); their addresses come in
    through DATABASE_URL/REDIS_URL, since the job's fixed ports may be taken here."""
    import services

    project = tmp_path / "project"
    shutil.copytree(render(project_name="Ci Run", **combo), project)
    (project / ".env").unlink()  # a CI checkout has no .env
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    job = workflow(project, "ci.yml")["jobs"]["test"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    with contextlib.ExitStack() as servers:
        declared = job.get("services", {})
        service = row("database", answers["database"])["service"]
        if service:
            assert declared[service["name"]]["env"][service["password_variable"]] == "app"
            start = getattr(services, service["name"])  # services.postgres, services.mariadb
            (tmp_path / "db").mkdir()
            url = servers.enter_context(
                start(tmp_path / "db", password="app", database=answers["project_slug"])
            )
            env["DATABASE_URL"] = url
        if answers["redis"]:
            assert "redis" in declared
            env["REDIS_URL"] = servers.enter_context(services.redis(tmp_path / "redis"))
        for step in job["steps"]:
            if "run" in step and "apt-get" not in step["run"]:
                run(["bash", "-euo", "pipefail", "-c", step["run"]], cwd=project, env=env)


@pytest.mark.docker
def test_the_compose_smoke_test_passes(render, docker, tmp_path):
    """The containers job: the image built (the job's build action, here `docker compose
    build`), then its `run:` steps in order, the `always()` cleanup last."""
    import dockerenv
    from helpers import free_port

    project = tmp_path / "project"
    shutil.copytree(render(project_name="Ci Smoke", ci="github", http_port=free_port()), project)
    (project / ".env").unlink()  # the job writes its own
    dockerenv.ensure_images(docker, dockerenv.images_named_by(project))
    docker.run("compose", "--progress", "plain", "build", cwd=project, timeout=1800)
    steps = workflow(project, "ci.yml")["jobs"]["containers"]["steps"]
    env = {**docker.env, "PATH": f"{Path(docker.cli).parent}:{docker.env.get('PATH', os.defpath)}"}
    try:
        for step in steps:
            if "run" in step and "if" not in step:
                run(["bash", "-euo", "pipefail", "-c", step["run"]], cwd=project, env=env)
    finally:
        for step in steps:
            if step.get("if") == "always()":
                run(["bash", "-euo", "pipefail", "-c", step["run"]], cwd=project, env=env)
        docker.run("image", "rm", "-f", "ci-smoke:latest", check=False)
    assert "change-me" not in (project / ".env").read_text()
