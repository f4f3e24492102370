"""Helpers for the generated CI files of a project (tests/test_ci.py)."""

from __future__ import annotations

from pathlib import Path

import yaml


def workflow(project: Path, name: str) -> dict:
    return yaml.safe_load((project / ".github" / "workflows" / name).read_text())


def ci_test_job(project: Path, ci: str) -> tuple[dict, list[str]]:
    """(the service containers it declares, by name; its shell commands, in order). What the
    runner provides is left out: system packages (apt-get) and uv itself."""
    if ci == "github":
        job = workflow(project, "ci.yml")["jobs"]["test"]
        commands = [step["run"] for step in job["steps"] if "run" in step]
        services = job.get("services", {})
    else:
        job = yaml.safe_load((project / ".gitlab-ci.yml").read_text())["test"]
        commands = job.get("before_script", []) + job["script"]
        services = {s["alias"]: {"env": s.get("variables", {})} for s in job.get("services", [])}
    provided = ("apt-get", "sudo apt-get", "pip install --quiet uv==")
    return services, [c for c in commands if not c.strip().startswith(provided)]
