"""Generated documentation: true for exactly the chosen answers, linted, and its commands run
(the local quick start here; the container ones in the docker tier, see test_docker.py).

Which blocks run is the tests' knowledge (helpers.RUNNABLE: a section's heading and the
block's place in it), so the generated docs carry no markers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, TOOLS_BIN, free_port, http_get, run, runnable_blocks, wait_for_http
from matrix import COMBOS, combo_id, default, row

MARKDOWN_CONFIG = ROOT / "tests" / "pymarkdown.json"
PLACEHOLDERS = re.compile(r"\b(TODO|TBD|FIXME|XXX|lorem ipsum)\b|<your[ -]|CHANGEME", re.I)
EDGE = re.compile(r"^\s*([\w-]+)\s*-->\|([^|]*)\|\s*([\w-]+)\s*$")


def markdown_files(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("*.md") if ".venv" not in p.parts)


def lint_markdown(paths: list[Path]) -> None:
    result = subprocess.run(
        [str(TOOLS_BIN / "pymarkdown"), "--config", str(MARKDOWN_CONFIG), "scan", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"markdown lint:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module", params=COMBOS, ids=combo_id)
def project(request, render) -> Path:
    return render(**request.param)


def test_expected_docs_exist(project):
    for name in (
        "README.md",
        "docs/docker.md",
        "docs/dockerfile.md",
        "docs/quick-reference.md",
        "docs/adr/0001-containerization.md",
    ):
        assert (project / name).is_file(), name


def test_relative_links_resolve(project):
    for doc in markdown_files(project):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # absolute URL
            assert (doc.parent / target).exists(), (
                f"{doc.relative_to(project)}: broken link {target}"
            )


def test_mermaid_diagram_is_the_compose_file(project):
    compose = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    expected_edges = {
        (name, dep) for name, service in compose.items() for dep in service.get("depends_on", {})
    }
    diagrams = re.findall(r"```mermaid\n(.*?)```", (project / "docs/docker.md").read_text(), re.S)
    assert len(diagrams) == 1
    lines = [line for line in diagrams[0].splitlines()[1:] if line.strip()]
    edges = {(m[1], m[3]) for line in lines if (m := EDGE.match(line))}
    nodes = {n for edge in edges for n in edge} | {
        line.strip() for line in lines if not EDGE.match(line)
    }
    assert nodes == set(compose), f"diagram names {sorted(nodes)}, compose has {sorted(compose)}"
    assert edges == expected_edges


def test_no_placeholders_and_markdown_lints(project):
    docs = markdown_files(project)
    for doc in docs:
        found = PLACEHOLDERS.search(doc.read_text())
        assert not found, f"{doc.relative_to(project)}: placeholder {found[0]!r}"
    lint_markdown(docs)


def test_template_docs_lint_and_links():
    docs = [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "CHANGELOG.md",
        ROOT / "tests" / "standins" / "README.md",
    ]
    lint_markdown(docs)
    for doc in docs:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not re.match(r"[a-z]+:", target):
                assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


# ---- the README's local quick start, run as written ------------------------------------

LOCAL_COMBOS = [
    {},
    {"package_manager": "pip", "wsgi_server": "waitress", "python_version": "3.12"},
    {"database": "postgresql"},
    {"database": "mysql", "package_manager": "pip", "python_version": "3.12"},
]


@pytest.fixture
def local_database(tmp_path):
    """database(kind, env file) starts the project's database server, as a developer has one:
    user `app` with the password `.env` generated, the project's database; `.env`'s
    DATABASE_URL is then pointed at its address, as the README says (host and port only)."""
    with contextlib.ExitStack() as servers:

        def database(kind: str, env_file: Path, name: str) -> None:
            import services

            text = env_file.read_text()
            service = row("database", kind)["service"]
            password = re.search(rf"^{service['password_variable']}=(.+)$", text, re.M)[1]
            start = getattr(services, service["name"])  # services.postgres, services.mariadb
            workdir = tmp_path / kind
            workdir.mkdir()
            url = servers.enter_context(start(workdir, password=password, database=name))
            address = re.search(r"@([^/]+)/", url)[1]
            default = f"localhost:{service['port']}"
            assert f"@{default}/" in text
            env_file.write_text(text.replace(f"@{default}/", f"@{address}/"))

        yield database


@pytest.mark.parametrize("combo", LOCAL_COMBOS, ids=combo_id)
def test_local_quick_start_runs_as_written(render, combo, tmp_path, local_database):
    project = tmp_path / "project"
    shutil.copytree(render(project_name="Quick Start", **combo), project)
    if row("database", combo.get("database", default("database")))["service"]:
        local_database(combo["database"], project / ".env", "quick_start")
    blocks = runnable_blocks((project / "README.md").read_text())
    assert set(blocks) >= {"local", "local-server", "docker"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    for command in blocks["local"]:
        run(["bash", "-euo", "pipefail", "-c", command], cwd=project, env=env)
    (server_command,) = blocks["local-server"]
    port = free_port()
    env["PORT"] = str(port)  # the documented command, on a port free on this machine
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {server_command}"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", server, log)
        status, body = http_get(f"http://127.0.0.1:{port}/health/ready")
        assert status == 200, body
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
