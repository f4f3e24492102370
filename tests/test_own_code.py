"""berth's own Python (tests, hooks, bench) meets the bar it sets for generated projects."""

from __future__ import annotations

from helpers import ROOT, TOOLS_BIN, run


def test_berth_code_passes_ruff_lint_and_format():
    # pyproject.toml's [tool.ruff] excludes template/: generated code is linted per project.
    run([str(TOOLS_BIN / "ruff"), "check", "--no-cache", "."], cwd=ROOT)
    run([str(TOOLS_BIN / "ruff"), "format", "--check", "--no-cache", "."], cwd=ROOT)
