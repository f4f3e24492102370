"""Fast tier: the golden renders in tests/golden/ are what the template renders today."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from matrix import GOLDEN

sys.path.insert(0, str(ROOT / "scripts"))
from render_golden import GOLDEN_DIR, render  # noqa: E402


def files(project: Path) -> dict[str, str]:
    return {
        path.relative_to(project).as_posix(): path.read_text()
        for path in sorted(project.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("name", GOLDEN)
def test_the_golden_render_is_current(name, tmp_path):
    committed, rendered = files(GOLDEN_DIR / name), files(render(name, tmp_path))
    changed = sorted(set(committed) ^ set(rendered)) + [
        path for path in sorted(set(committed) & set(rendered)) if committed[path] != rendered[path]
    ]
    diff = "".join(
        "".join(
            difflib.unified_diff(
                committed.get(path, "").splitlines(keepends=True),
                rendered.get(path, "").splitlines(keepends=True),
                f"golden/{name}/{path}",
                f"rendered/{name}/{path}",
            )
        )
        for path in changed[:5]
    )
    assert not changed, (
        f"tests/golden/{name} is out of date ({len(changed)} files: {changed[:10]}); review the "
        "difference and refresh it with `.venv/bin/python scripts/render_golden.py`:\n"
        + diff[:6000]
    )
