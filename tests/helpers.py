"""Shared helpers of the template's test suite: interpreters, rendering, processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

# Copier's own reader of copier.yml (copier is pinned): `!include` as Copier means it.
from copier._template import load_template_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from markdown_blocks import LOCAL_CHECK, fenced_blocks  # noqa: E402


@cache
def copier_config() -> dict[str, Any]:
    """copier.yml as Copier reads it: the tables it includes from tables/ merged in."""
    return load_template_config(ROOT / "copier.yml")


TOOLS_BIN = Path(sys.executable).parent  # ruff, uv, hadolint of the test environment
BUILT_PYTHONS = Path("/opt/berth/bin")  # interpreters .ci/ provides where none is installed
DEVCONTAINER_CLI = Path("/opt/berth/npm/node_modules/.bin/devcontainer")  # .ci/setup installs it


@cache
def find_python(version: str) -> Path | None:
    """An interpreter of `version` (e.g. "3.12"): on PATH, from pyenv, or uv-managed."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}"))
    candidates.append(shutil.which(f"python{version}"))
    built = BUILT_PYTHONS / f"python{version}"  # .ci/python3.14
    candidates.append(str(built) if built.exists() else None)
    for candidate in filter(None, candidates):
        if "/shims/" in candidate:  # pyenv shims answer only for the selected version
            continue
        result = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if result.returncode == 0 and result.stdout.strip() == str(
            tuple(map(int, version.split(".")))
        ):
            return Path(candidate)
    found = subprocess.run(
        [str(TOOLS_BIN / "uv"), "python", "find", version, "--no-python-downloads"],
        capture_output=True,
        text=True,
    )
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def expose_interpreters(versions: list[str]) -> None:
    """Put the interpreters found on PATH so that `uv lock --python X` in the hook finds them."""
    dirs = [str(p.parent) for v in versions if (p := find_python(v))]
    os.environ["PATH"] = os.pathsep.join([str(TOOLS_BIN), *dirs, os.environ["PATH"]])
    # copier runs tasks through plumbum, whose environment is a copy taken at import time.
    from plumbum import local

    local.env["PATH"] = os.environ["PATH"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_status_or_none(url: str, timeout: float = 2) -> int | None:
    """The status `url` answers with, or None while nothing answers whole: a refused
    connection, or a response cut short by a server restarting mid-reply (a reloader)."""
    try:
        return http_get(url, timeout=timeout)[0]
    except (OSError, http.client.HTTPException):
        return None


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{process.args} exited with {process.returncode}:\n{log.read_text()}"
            )
        if http_status_or_none(url, timeout=1) is not None:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s:\n{log.read_text()}")


@contextmanager
def serving(
    cmd: list[str], cwd: Path, env: dict, port: int, log: Path
) -> Iterator[subprocess.Popen]:
    """A server process on `port` (PORT in its environment), answering /health; killed on
    exit if still running (a test may stop it itself, e.g. with SIGTERM)."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "PORT": str(port)},
            start_new_session=True,  # its children too (the dev server's reloader runs one)
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, log)
        yield proc
    finally:
        # Its process group, and the descendants that left it (a pty's session, a daemon),
        # found before the kill orphans them.
        left_the_group = descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in left_the_group:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def descendants(pid: int) -> list[int]:
    """The PIDs of every live descendant of `pid` (from /proc: children of children too)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid ...: comm may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def lint_python(project: Path) -> None:
    """Every Python file compiles; berth's ruff checks and format-checks the project."""
    for file in project.rglob("*.py"):
        compile(file.read_text(), str(file), "exec")
    ruff = str(TOOLS_BIN / "ruff")
    run([ruff, "check", "--no-cache", "--output-format", "concise", "."], cwd=project)
    run([ruff, "format", "--check", "--no-cache", "."], cwd=project)


def run(
    cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


def git_ignored(project: Path, paths: list[Path]) -> set[Path]:
    """Those of `paths` that the project's .gitignore keeps out of git (the project need not
    be a repository: a scratch one takes it as its work tree)."""
    with tempfile.TemporaryDirectory() as git_dir:
        run(["git", "init", "-q", "--bare", git_dir])
        result = subprocess.run(
            ["git", f"--git-dir={git_dir}", f"--work-tree={project}", "check-ignore", "--stdin"],
            input="".join(f"{path.relative_to(project)}\n" for path in paths),
            capture_output=True,
            text=True,
            cwd=project,
        )
    assert result.returncode in (0, 1), result.stderr  # 1: none of them is ignored
    return {project / line for line in result.stdout.splitlines()}


def text_files(project: Path):
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".git" not in path.parts and ".venv" not in path.parts:
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:
                continue


# The documented commands the tests run, found as a reader finds them: by the heading of their
# section and the place of the shell block in it (negative: counted from the section's end).
RUNNABLE = {
    LOCAL_CHECK[0]: {-3: "local-services", LOCAL_CHECK[1]: "local", -1: "local-server"},
    "Quick start: containers": {0: "docker"},
    "Database admin UI": {0: "admin-ui"},
    "Migrations": {0: "migrations"},
    "Metrics": {0: "metrics"},
    "1. Name the project after the app's package": {0: "adopt-rename"},
    "2. Copy the code and the tests": {i: "adopt-copy" for i in range(4)},
    "4. Test and lint": {0: "adopt-test"},
    "5. Run it in the container": {0: "adopt-container"},
}
# Every subsection of this one (one per volume) shows how to back it up, then how to restore it.
BACKUP_SECTION = "Volumes, backup and restore"
BACKUP_AND_RESTORE = {0: "backup", 1: "restore", 2: "recover"}


def runnable_blocks(text: str) -> dict[str, list[str]]:
    """Commands of the blocks of RUNNABLE in a doc: {name: [command, ...]}, in document order."""
    blocks: dict[str, list[str]] = {}
    for headings, shell in fenced_blocks(text):
        if not headings:
            continue
        names = RUNNABLE.get(headings[-1], {})
        if headings[-2:-1] == [BACKUP_SECTION]:
            names = BACKUP_AND_RESTORE
        for place, name in names.items():
            if -len(shell) <= place < len(shell):
                commands = [line for line in shell[place] if line.strip()]
                blocks.setdefault(name, []).extend(commands)
    return blocks


def first_block(text: str, heading: str, language: str) -> str:
    """The first block in `language` of the section titled `heading`."""
    for headings, blocks in fenced_blocks(text, language):
        if headings[-1:] == [heading] and blocks:
            return "\n".join(blocks[0]) + "\n"
    raise AssertionError(f"no {language} block under the heading {heading!r}")


def container_static_checks(project: Path) -> None:
    """hadolint on the Dockerfile (with the project's .hadolint.yaml, if any), `docker compose
    config` with no warning, and caddy's checks of a Caddyfile. None needs a Docker engine."""
    run([str(TOOLS_BIN / "hadolint"), "Dockerfile"], cwd=project)
    run([str(TOOLS_BIN / "hadolint"), ".devcontainer/Dockerfile"], cwd=project)
    compose = next(TOOLS_BIN.parent.glob("lib/python*/site-packages/compose/docker-compose"))
    # compose.yaml alone, and with each override file the docs combine it with.
    overrides = [[]] + [
        ["-f", "compose.yaml", "-f", name]
        for name in ("compose.local.yaml", "compose.watch.yaml")
        if (project / name).exists()
    ]
    for files in overrides:
        result = run([str(compose), *files, "config", "--quiet"], cwd=project)
        assert result.stderr.strip() == "", f"compose {files} config warned:\n{result.stderr}"
    caddyfile = project / "caddy" / "Caddyfile"
    if caddyfile.exists():
        caddy_checks(caddyfile)


def caddy_checks(caddyfile: Path) -> None:
    """The Caddyfile is in caddy's own format (`caddy fmt`) and valid with the values compose
    passes (`caddy validate`, which loads every module without opening a port)."""
    caddy = str(TOOLS_BIN / "caddy")
    formatted = run([caddy, "fmt", str(caddyfile)]).stdout
    assert formatted == caddyfile.read_text(), f"caddy fmt would change {caddyfile}"
    with tempfile.TemporaryDirectory(prefix="berth-caddy-") as state:
        env = {
            **os.environ,
            "DOMAIN": "localhost",
            "ACME_EMAIL": "ops@acme.test",
            "MAX_REQUEST_MB": "1",
            "XDG_DATA_HOME": state,
            "XDG_CONFIG_HOME": state,
        }
        run([caddy, "validate", "--adapter", "caddyfile", "--config", str(caddyfile)], env=env)


def copy_of_template(destination: Path) -> Path:
    """A plain (non-git) copy of the template, to render after changing it."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "copier.yml", destination / "copier.yml")
    for folder in ("tables", "template", "hooks"):
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / folder, destination / folder, ignore=ignore)
    return destination
