"""Helpers of tests/test_fleet.py: `scripts/fleet` run as a platform team runs it, and the
manifests it reads."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from helpers import ROOT, TOOLS_BIN

FLEET = ROOT / "scripts" / "fleet"


def fleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FLEET), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}"},
        timeout=1800,
    )


def new_fleet(manifest: Path, dest: Path, template: Path, *options: str, **kwargs):
    """`scripts/fleet new` of `manifest` into `dest`, from the template repository `template`."""
    return fleet(
        "new",
        "--manifest",
        str(manifest),
        str(dest),
        "--template",
        str(template),
        *options,
        **kwargs,
    )


def manifest_of(combos: list[dict], path: Path) -> Path:
    """A manifest with one project per answer combination, named Fleet 00, Fleet 01, ..."""
    projects = []
    for index, combo in enumerate(combos):
        entry = {k: v for k, v in combo.items() if k not in ("project_name", "http_port")}
        projects.append({"project_name": f"Fleet {index:02d}", **entry})
    path.write_text(yaml.safe_dump({"projects": projects}, sort_keys=False))
    return path


def status(*projects: Path) -> tuple[int, list[dict]]:
    """`scripts/fleet status --json`: (exit status, one row per project)."""
    result = fleet("status", "--json", *map(str, projects))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)
