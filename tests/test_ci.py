"""Generated CI: for every covering-set combination with ci=github, the workflows and
dependabot.yml validate against their schemas, zizmor's offline audit finds nothing, every
action is pinned to a full commit SHA; with ci=gitlab, .gitlab-ci.yml validates and its images
are exact versions. Both test jobs run the README's own commands, which the slow tier runs in
order against the servers the pipeline declares; the docker tier runs GitHub's compose smoke
test and the template-update workflow's steps against real template releases.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, TOOLS_BIN, run, runnable_blocks
from matrix import COMBOS, combo_id, default, row
from pipelines import ci_test_job, workflow

GITHUB_COMBOS = [combo for combo in COMBOS if combo.get("ci", "github") == "github"]
GITLAB_COMBOS = [combo for combo in COMBOS if combo.get("ci") == "gitlab"]
WORKFLOWS = ("ci.yml", "release.yml", "template-update.yml")


@pytest.fixture(scope="module", params=GITHUB_COMBOS, ids=combo_id)
def project(request, render) -> Path:
    return render(**request.param)


def test_pinned_tool_versions_are_the_ones_berth_is_tested_with():
    pins = dict(re.findall(r'"([\w-]+)==([\w.]+)"', (ROOT / "pyproject.toml").read_text()))
    for tool, version in default("tool_versions").items():
        assert pins[tool] == version, f"{tool}: {version} in copier.yml, {pins[tool]} pinned"


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


@pytest.mark.parametrize("combo", GITLAB_COMBOS, ids=combo_id)
def test_gitlab_pipeline_validates_and_runs_the_readme_commands(render, combo):
    project = render(**combo)
    pipeline = project / ".gitlab-ci.yml"
    run(
        [
            str(TOOLS_BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.gitlab-ci",
            "--data-transform",
            "gitlab-ci",
            str(pipeline),
        ]
    )
    data = yaml.safe_load(pipeline.read_text())
    readme = runnable_blocks((project / "README.md").read_text())["local"]
    assert data["test"]["script"] == readme
    # Tools at exact versions; the app's base and service images are the project's own
    # (the Dockerfile's and compose.yaml's), so that CI tests what runs.
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    own = {f"python:{combo.get('python_version', default('python_version'))}-slim"}
    own |= {service["image"] for service in compose["services"].values() if "image" in service}
    jobs = [job for job in data.values() if isinstance(job, dict)]
    refs = [job["image"] for job in jobs if "image" in job]
    refs += [service["name"] for job in jobs for service in job.get("services", [])]
    for ref in (r["name"] if isinstance(r, dict) else r for r in refs):
        assert ref in own or re.search(r":\d+\.\d+\.\d+(-\w+)?$", ref), f"{ref}: not pinned"


# ---- the test job's commands, run for real (slow tier) ----------------------------------

RUN_CI = [
    {"ci": "github"},
    {"ci": "github", "package_manager": "pip", "database": "postgresql", "redis": True},
    {"ci": "github", "database": "mysql", "worker": True, "redis": True, "python_version": "3.12"},
    {"ci": "gitlab", "database": "postgresql", "redis": True, "python_version": "3.12"},
    {"ci": "gitlab", "package_manager": "pip", "database": "mysql"},
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
    declared, commands = ci_test_job(project, combo["ci"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env["PATH"] = f"{TOOLS_BIN}:{env['PATH']}"
    with contextlib.ExitStack() as servers:
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
        for command in commands:
            run(["bash", "-euo", "pipefail", "-c", command], cwd=project, env=env)


@pytest.mark.docker
@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_the_compose_smoke_test_passes(render, docker, ci, tmp_path):
    """The pipeline's container job: GitHub's build action is `docker compose build` here;
    then its shell steps in order (GitLab's job builds itself), the cleanup last."""
    import dockerenv
    from helpers import free_port

    project = tmp_path / "project"
    shutil.copytree(render(project_name=f"Ci Smoke {ci}", ci=ci, http_port=free_port()), project)
    (project / ".env").unlink()  # the job writes its own
    dockerenv.ensure_images(docker, dockerenv.images_named_by(project))
    env = {**docker.env, "PATH": f"{Path(docker.cli).parent}:{docker.env.get('PATH', os.defpath)}"}
    if ci == "github":
        docker.run("compose", "--progress", "plain", "build", cwd=project, timeout=1800)
        steps = workflow(project, "ci.yml")["jobs"]["containers"]["steps"]
        commands = [step["run"] for step in steps if "run" in step and "if" not in step]
        cleanup = [step["run"] for step in steps if step.get("if") == "always()"]
    else:
        commands = yaml.safe_load((project / ".gitlab-ci.yml").read_text())["container"]["script"]
        cleanup = ["docker compose down --volumes"]
        env.update(CI_REGISTRY_IMAGE="registry.example.com/ci-smoke", CI_COMMIT_SHORT_SHA="0abc123")
    try:
        for command in commands:
            run(["bash", "-euo", "pipefail", "-c", command], cwd=project, env=env, timeout=1800)
    finally:
        for command in cleanup:
            run(["bash", "-euo", "pipefail", "-c", command], cwd=project, env=env)
        image = yaml.safe_load((project / "compose.yaml").read_text())["x-app"]["image"]
        docker.run("image", "rm", "-f", image, "registry.example.com/ci-smoke:0abc123", check=False)
    assert "change-me" not in (project / ".env").read_text()
    if ci == "gitlab":
        assert (project / "image.tar").stat().st_size > 10 * 2**20  # kept for scan and publish


# ---- the template-update workflow, its steps run against real template releases ---------


@pytest.mark.slow
@pytest.mark.parametrize("team_edit", ["elsewhere", "on the same line"])
def test_the_template_update_workflow_updates_or_fails_on_conflicts(tmp_path, team_edit):
    from updating import TemplateRepo, copy_project, edit, git, v2_elsewhere

    template = TemplateRepo(tmp_path / "berth")
    template.release("1.0.0")
    project = copy_project(template.path, tmp_path / "acme", "1.0.0")
    if team_edit == "on the same line":  # the line v2_elsewhere changes too
        edit(project / "Dockerfile", "--interval=2s --timeout=3s", "--interval=3s --timeout=3s")
        git(project, "commit", "-q", "-am", "team edit")
    template.release("1.1.0", v2_elsewhere)
    steps = {
        s.get("name"): s
        for s in workflow(project, "template-update.yml")["jobs"]["update"]["steps"]
    }
    outputs = tmp_path / "github-output"
    env = {**os.environ, "GITHUB_OUTPUT": str(outputs), "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}"}
    run(["bash", "-euo", "pipefail", "-c", steps["newer release?"]["run"]], cwd=project, env=env)
    found = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert found == {"available": "true", "version": "1.1.0"}
    update = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", steps["copier update"]["run"]],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    if team_edit == "elsewhere":
        assert update.returncode == 0, update.stdout + update.stderr
        assert "--interval=5s" in (project / "Dockerfile").read_text()
        assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "1.1.0"
    else:
        assert update.returncode == 1, update.stdout + update.stderr
        assert "::error::the template update conflicts" in update.stdout


# ---- pre-commit, run for real (slow tier) ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "combo",
    [{"ci": "github"}, {"ci": "gitlab", "package_manager": "pip"}, {"ci": "none"}],
    ids=combo_id,
)
def test_pre_commit_passes_on_a_fresh_project(render, combo, tmp_path):
    """`pre-commit run --all-files` after the README's install, as its header says; its
    tools come from the project's environment and PyPI only."""
    project = tmp_path / "project"
    shutil.copytree(render(project_name="Hooks", **combo), project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env.update(PATH=f"{TOOLS_BIN}:{env['PATH']}", PRE_COMMIT_HOME=str(tmp_path / "pre-commit"))
    manager = combo.get("package_manager", default("package_manager"))
    install = len(row("package_manager", manager)["install"])  # the README block's first lines
    for command in runnable_blocks((project / "README.md").read_text())["local"][:install]:
        run(["bash", "-euo", "pipefail", "-c", command], cwd=project, env=env)
    run(["git", "init", "-q"], cwd=project)
    run(["git", "add", "-A"], cwd=project)
    result = run(
        [str(TOOLS_BIN / "pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
        cwd=project,
        env=env,
    )
    hooks = {"ruff check", "ruff format", "hadolint"}
    hooks |= {"GitHub workflows schema", "dependabot schema"} if combo["ci"] == "github" else set()
    hooks |= {"GitLab CI schema"} if combo["ci"] == "gitlab" else set()
    for hook in hooks:
        assert re.search(rf"^{re.escape(hook)}\.+Passed$", result.stdout, re.M), result.stdout
