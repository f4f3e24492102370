"""Type checks of generated projects with their own mypy settings, without a venv per project.

One environment holds what every project of a test run depends on (the union of their
`pyproject.toml` dependencies and dev group, mypy among them), made once per session with uv;
each project is then checked by that mypy, with the project's `[tool.mypy]` settings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path

from helpers import TOOLS_BIN, find_python, run

# The interpreter of the shared environment: mypy checks each project for its own
# python_version, whatever version runs it.
PYTHON = "3.13"


def requirements(projects: Iterable[Path]) -> list[str]:
    wanted: set[str] = set()
    for project in projects:
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())
        wanted |= set(pyproject["project"]["dependencies"])
        wanted |= set(pyproject["dependency-groups"]["dev"])
    return sorted(wanted)


def environment(projects: Iterable[Path], where: Path) -> Path:
    """A virtual environment with every project's dependencies; its bin/ folder."""
    python = find_python(PYTHON)
    if python is None:
        raise RuntimeError(f"no Python {PYTHON} to type-check with: install one")
    uv = str(TOOLS_BIN / "uv")
    run([uv, "venv", "--quiet", "--python", str(python), str(where)])
    run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(where / "bin" / "python"),
            *requirements(projects),
        ]
    )
    return where / "bin"


def check(project: Path, bin_dir: Path, cache: Path) -> None:
    """mypy, as the project configures it (`[tool.mypy]`: strict, src and tests)."""
    run([str(bin_dir / "mypy"), "--cache-dir", str(cache)], cwd=project)
