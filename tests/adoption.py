"""Moving an existing app into a generated project the way docs/existing-app.md says: its
shell blocks run as written (with APP pointing at the app's checkout), and its factory
example is pasted where create_app() says the app's own setup goes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import ROOT, TOOLS_BIN, first_block, free_port, run, runnable_blocks

Compose = Callable[..., str]

VENDORED_FLASKR = ROOT / "tests" / "vendor" / "flaskr"
VENDORED_MICROBLOG = ROOT / "tests" / "vendor" / "microblog"
SETUP_MARKER = "    # The app's own setup goes here"
ALL_LINE = '__all__ = ["create_app"]'
FACTORY_SECTION = "3. Merge the application factory"
SECOND_EXAMPLE = "A second example: extensions at module level, a Config class, RQ"


SKIPPED_IN_DIFF = {".venv", "data", ".pytest_cache", ".ruff_cache", ".mypy_cache", "__pycache__"}


def project_files(project: Path) -> dict[str, str]:
    """Every file of a project (but caches, venv and data) by its path: its text."""
    files = {}
    for path in project.rglob("*"):
        relative = path.relative_to(project)
        if path.is_file() and not SKIPPED_IN_DIFF & set(relative.parts):
            files[relative.as_posix()] = path.read_text(errors="replace")
    return files


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


def merge_flaskr_factory(project: Path) -> None:
    """Step 3 for flaskr: the guide's example goes where create_app() says."""
    init = project / "src" / project.name / "__init__.py"
    example = factory_example(project)
    text = init.read_text()
    assert text.count(SETUP_MARKER) == 1, "create_app() has no place for the app's setup"
    init.write_text(text.replace(SETUP_MARKER, example.rstrip("\n") + "\n\n" + SETUP_MARKER))


def merge_whole_init(project: Path) -> None:
    """Step 3 for microblog, from the guide's second example: its module-level lines above
    `__all__`, its factory's body where create_app() says, its last lines at the end."""
    lines = first_block(guide(project), SECOND_EXAMPLE, "python").splitlines()

    def between(start: str, end: str) -> str:
        first = next(i for i, line in enumerate(lines) if start in line) + 1
        last = next(i for i in range(first, len(lines)) if lines[i].startswith(end))
        return "\n".join(lines[first:last]).strip("\n") + "\n"

    module_level = between("this project's imports, as generated", ALL_LINE)
    body = between("this project's setup, as generated", SETUP_MARKER)
    tail = "\n".join(lines[lines.index("    return app") + 1 :]).strip("\n") + "\n"
    init = project / "src" / project.name / "__init__.py"
    text = init.read_text()
    assert text.count(SETUP_MARKER) == 1 and text.count(ALL_LINE) == 1, text
    text = text.replace(ALL_LINE, module_level + "\n" + ALL_LINE)
    text = text.replace(SETUP_MARKER, body + "\n" + SETUP_MARKER)
    init.write_text(text.rstrip("\n") + "\n\n\n" + tail)


def second_example_settings(project: Path) -> tuple[str, list[str]]:
    """What the guide's second example says to set: the JOB_QUEUE line and the packages."""
    text = " ".join(guide(project).split(SECOND_EXAMPLE, 1)[1].split("## 4.", 1)[0].split())
    job_queue = re.search(r"`(JOB_QUEUE=[^`]+)`", text)
    packages = re.search(r"The packages it imports go into .*?: `([^`]+)`", text)
    assert job_queue and packages, text
    return job_queue[1], packages[1].split()


def adopt(
    project: Path,
    checkout: Path,
    env: dict[str, str],
    merge: Callable[[Path], None] = merge_flaskr_factory,
    before_tests: Callable[[Path], None] | None = None,
) -> str:
    """Steps 2-4 of the guide; returns what step 4 (lint, tests and types) printed."""
    blocks = runnable_blocks(guide(project))
    env = {**env, "APP": str(checkout)}
    copied = run_block(project, blocks["adopt-copy"], env)
    assert "name taken" not in copied, copied
    merge(project)
    if before_tests:
        before_tests(project)
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


def adopted_by_the_guide(original: Path, project: Path, scratch: Path) -> Path:
    """The guide's commands alone (steps 1 and 2, then step 4's ruff), run on a pristine copy
    of the app in an empty project with this project's pyproject.toml: what the project holds
    of the app if nothing of it was changed by hand."""
    shutil.rmtree(scratch, ignore_errors=True)
    checkout = scratch / "checkout"
    shutil.copytree(original, checkout)
    bare = scratch / "project"
    (bare / "src" / project.name / "migrations" / "versions").mkdir(parents=True)
    (bare / "tests").mkdir()
    shutil.copy2(project / "pyproject.toml", bare / "pyproject.toml")
    blocks = runnable_blocks(guide(project))
    env = {**base_env(), "APP": str(checkout)}
    if not (checkout / project.name).exists():
        run_block(bare, blocks["adopt-rename"], env)
    run_block(bare, blocks["adopt-copy"], env)
    ruff = str(project / ".venv" / "bin" / "ruff")
    subprocess.run([ruff, "check", "--fix", "--quiet", "--no-cache", "."], cwd=bare, check=False)
    run([ruff, "format", "--quiet", "--no-cache", "."], cwd=bare)
    run([ruff, "check", "--add-noqa", "--quiet", "--no-cache", "."], cwd=bare)
    return bare


@contextmanager
def adopted_stack(project: Path, name: str, tmp_path: Path) -> Iterator[tuple[Compose, str]]:
    """The adopted project's compose stack, brought up as the guide's step 5 says, on a free
    port: yields `compose(*args)` (its output) and the published base URL; everything removed
    afterwards, image included."""
    import dockerenv

    docker = dockerenv.provision()
    dockerenv.ensure_images(docker, dockerenv.images_named_by(project))
    port = free_port()
    shim = tmp_path / "bin"  # `docker` as the guide's commands call it
    shim.mkdir()
    (shim / "docker").symlink_to(docker.cli)
    env = {
        **docker.env,
        "PATH": f"{shim}:{docker.env['PATH']}",
        "COMPOSE_PROJECT_NAME": name,
        "HTTP_PORT": str(port),
    }

    def compose(*args: str) -> str:
        return run_block(project, [" ".join(["docker", "compose", *args])], env)

    compose("down", "--volumes", "--remove-orphans")
    try:
        run_block(project, runnable_blocks(guide(project))["adopt-container"], env)
        yield compose, f"http://127.0.0.1:{port}"
    finally:
        subprocess.run(
            [docker.cli, "compose", "-p", name, "down", "--volumes", "--remove-orphans"],
            cwd=project,
            env=docker.env,
            capture_output=True,
            timeout=300,
        )
        image = f"{project.name}:latest"
        subprocess.run(
            [docker.cli, "image", "rm", "-f", image], env=docker.env, capture_output=True
        )
