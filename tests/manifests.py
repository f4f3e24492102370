"""Helpers for a generated project's Kubernetes manifests (deploy/kubernetes): the files the
answers call for, each overlay built with kustomize, schema validation, checkov's rules with
the skip list the project's docs give, and the objects its docs list.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from helpers import TOOLS_BIN, run

KUBERNETES = Path("deploy/kubernetes")
OVERLAYS = ("local", "production")


def kubernetes_files(answers: dict[str, Any]) -> list[str]:
    """The manifests a project with `answers` holds when kubernetes is on."""
    base = [
        "kustomization.yaml",
        "config.env",
        "namespace.yaml",
        "serviceaccount.yaml",
        "web.yaml",
        "service.yaml",
        "ingress.yaml",
        "poddisruptionbudget.yaml",
        "networkpolicy.yaml",
    ]
    base += ["horizontalpodautoscaler.yaml"] if answers["database"] != "sqlite" else []
    # With SQLite the worker runs in web's pod, beside the database's volume.
    base += ["worker.yaml"] if answers["worker"] and answers["database"] != "sqlite" else []
    base += ["migrate.yaml"] if answers["database"] not in ("sqlite", "none") else []
    base += ["uploads.yaml"] if answers["ocr"] else []
    local = ["kustomization.yaml", "secrets.env.example", "secrets.env"]
    local += ["database.yaml"] if answers["database"] not in ("sqlite", "none") else []
    local += ["redis.yaml"] if answers["redis"] else []
    production = ["kustomization.yaml", "secrets.env.example"]
    return [
        f"{KUBERNETES}/.gitignore",
        *(f"{KUBERNETES}/base/{name}" for name in base),
        *(f"{KUBERNETES}/overlays/local/{name}" for name in local),
        *(f"{KUBERNETES}/overlays/production/{name}" for name in production),
    ]


def with_production_secrets(project: Path) -> Path:
    """A copy of the project whose production overlay has its secrets.env (from the example,
    as the docs tell an operator to start), so that the overlay builds."""
    copy = project.parent / f"{project.name}-with-secrets"
    if not copy.exists():
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", ".git"))
        overlay = copy / KUBERNETES / "overlays" / "production"
        shutil.copy(overlay / "secrets.env.example", overlay / "secrets.env")
    return copy


def build(project: Path, overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` of an overlay: the objects it would apply."""
    result = run(
        [str(TOOLS_BIN / "kubectl"), "kustomize", str(project / KUBERNETES / "overlays" / overlay)]
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(manifest: Path, version: str) -> None:
    """The objects against Kubernetes' API schema of `version`, unknown fields refused."""
    run(
        [
            str(TOOLS_BIN / "kubernetes-validate"),
            "--strict",
            "--quiet",
            "--kubernetes-version",
            version,
            str(manifest),
        ]
    )


def schema_versions() -> list[str]:
    """The newest Kubernetes version whose schemas kubernetes-validate bundles, and the oldest
    still supported upstream (the three newest minor versions are)."""
    import kubernetes_validate.utils

    bundled = sorted(
        set(kubernetes_validate.utils.all_versions()), key=lambda v: tuple(map(int, v.split(".")))
    )
    newest = tuple(map(int, bundled[-1].split(".")))
    oldest_supported = f"{newest[0]}.{newest[1] - 2}.0"
    assert oldest_supported in bundled, f"no schemas for {oldest_supported}"
    return [bundled[-1], oldest_supported]


def checkov_failures(manifest: Path) -> dict[str, set[str]]:
    """checkov's Kubernetes rules: {rule id: resources failing it}."""
    result = subprocess.run(
        [
            str(TOOLS_BIN / "checkov"),
            "--file",
            str(manifest),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr}"
    report = json.loads(result.stdout)
    failed: dict[str, set[str]] = {}
    for check in report.get("results", {}).get("failed_checks", []) if report else []:
        failed.setdefault(check["check_id"], set()).add(check["resource"])
    return failed


def documented_skips(project: Path) -> set[str]:
    """The checkov rules docs/kubernetes.md lists as not followed, each with its reason."""
    text = (project / "docs" / "kubernetes.md").read_text()
    section = text.split("The checkov rules these manifests do not follow", 1)[1]
    return set(re.findall(r"^\| `(CKV\w+)` [^|]+\| \S", section, re.M))


def documented_objects(project: Path) -> dict[str, set[tuple[str, str]]]:
    """{overlay: {(kind, name)}} from the objects table of docs/kubernetes.md."""
    text = (project / "docs" / "kubernetes.md").read_text()
    section = text.split("## Objects", 1)[1]
    table = section[section.index("| Object |") :].split("\n\n", 1)[0]
    objects: dict[str, set[tuple[str, str]]] = {overlay: set() for overlay in OVERLAYS}
    for name, kind, overlays in re.findall(r"^\| `([^`]+)` \| (\w+) \| (\w+) \|", table, re.M):
        for overlay in OVERLAYS if overlays == "both" else [overlays]:
            objects[overlay].add((kind, name))
    return objects


def object_names(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of built objects, with kustomize's hash suffix and the Job's tag as the
    docs write them (app-config, migrate-<tag>)."""
    names = set()
    for obj in objects:
        name = obj["metadata"]["name"]
        if obj["kind"] in ("ConfigMap", "Secret"):
            name = re.sub(r"-[a-z0-9]{10}$", "", name)
        if obj["kind"] == "Job":
            name = re.sub(r"^migrate-.*$", "migrate-<tag>", name)
        names.add((obj["kind"], name))
    return names


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file (comments and blank lines skipped)."""
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
