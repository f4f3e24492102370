"""Moving an existing app into a generated project the way docs/existing-app.md says: its
shell blocks run as written (with APP pointing at the app's checkout), and its factory
example is pasted where create_app() says the app's own setup goes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from helpers import ROOT, TOOLS_BIN, first_block, run, runnable_blocks

VENDORED_FLASKR = ROOT / "tests" / "vendor" / "flaskr"
SETUP_MARKER = "    # The app's own setup goes here"
FACTORY_SECTION = "3. Merge the application factory"


def guide(project: Path) -> str:
    return (project / "docs" / "existing-app.md").read_text()


def factory_example(project: Path) -> str:
    """The lines the guide's worked example adds to create_app(), as they are indented there."""
    block = first_block(guide(project), FACTORY_SECTION, "python").splitlines()
    start = next(i for i, line in enumerate(block) if "this project's setup, as generated" in line)
    end = next(i for i, line in enumerate(block) if line.startswith(SETUP_MARKER))
    return "\n".join(block[start + 1 : end]).strip("\n") + "\n"


def run_block(project: Path, commands: list[str], env: dict[str, str]) -> str:
    output = []
    for command in commands:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        output.append(result.stdout + result.stderr)
    return "".join(output)


def adopt(project: Path, checkout: Path, env: dict[str, str]) -> str:
    """Steps 2-4 of the guide; returns what step 4 (lint, tests and types) printed."""
    blocks = runnable_blocks(guide(project))
    env = {**env, "APP": str(checkout)}
    copied = run_block(project, blocks["adopt-copy"], env)
    assert "name taken" not in copied, copied
    init = project / "src" / project.name / "__init__.py"
    example = factory_example(project)
    text = init.read_text()
    assert text.count(SETUP_MARKER) == 1, "create_app() has no place for the app's setup"
    init.write_text(text.replace(SETUP_MARKER, example.rstrip("\n") + "\n\n" + SETUP_MARKER))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n" + mypy_overrides(project))
    return run_block(project, blocks["adopt-test"], env)


def mypy_overrides(project: Path) -> str:
    """What step 4 adds to pyproject.toml: mypy's defaults for the app, strict for the rest."""
    return first_block(guide(project), "4. Test and lint", "toml")


def restyled_original(checkout: Path, project: Path, scratch: Path) -> Path:
    """The vendored package and tests as the project's ruff would leave them untouched by
    hand: what `ruff check --fix`, `ruff format` and `ruff check --add-noqa` (step 4) do to the
    original files."""
    copy = scratch / "restyled"
    shutil.rmtree(copy, ignore_errors=True)
    (copy / "src").mkdir(parents=True)
    shutil.copy2(project / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(checkout / project.name, copy / "src" / project.name)
    (copy / "src" / project.name / "__init__.py").unlink()
    shutil.copytree(checkout / "tests", copy / "tests" / project.name)
    ruff = str(TOOLS_BIN / "ruff")
    subprocess.run([ruff, "check", "--fix", "--quiet", "--no-cache", "."], cwd=copy, check=False)
    run([ruff, "format", "--quiet", "--no-cache", "."], cwd=copy)
    run([ruff, "check", "--add-noqa", "--quiet", "--no-cache", "."], cwd=copy)
    return copy


def changed_lines(before: str, after: str) -> int:
    """Lines that differ between two texts (added plus removed)."""
    import difflib

    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


def run_adopted_tests(project: Path) -> subprocess.CompletedProcess[str]:
    """pytest on the adopted app's tests alone (tests/<package>), in the project's venv."""
    return subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + [f"tests/{project.name}"],
        cwd=project,
        capture_output=True,
        text=True,
        env=base_env(),
    )


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
