"""Render the golden projects into tests/golden/ (what tests/test_golden.py compares against).

    .venv/bin/python scripts/render_golden.py

One folder per answer set of tests/matrix.py's GOLDEN, from this checkout (uncommitted changes
included), without copier's tasks (no lock files, no .env) and without the answers file (it
names the template commit). Commit the result with the template change that caused it.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402

from matrix import GOLDEN  # noqa: E402

GOLDEN_DIR = ROOT / "tests" / "golden"


def render(name: str, destination: Path) -> Path:
    """The golden project `name`, rendered into `destination/name`."""
    project = destination / name
    warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
    copier.run_copy(
        str(ROOT),
        project,
        data={"project_name": "Acme Notes", **GOLDEN[name]},
        defaults=True,
        unsafe=True,
        skip_tasks=True,
        quiet=True,
    )
    (project / ".copier-answers.yml").unlink()
    return project


def main() -> None:
    shutil.rmtree(GOLDEN_DIR, ignore_errors=True)
    for name in GOLDEN:
        render(name, GOLDEN_DIR)
    print(f"{len(GOLDEN)} golden projects in {GOLDEN_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
