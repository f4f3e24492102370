"""`docker compose watch`: seconds from saving a code change to serving it, this template's
projects against an earlier release's, side by side in one run.

    .venv/bin/python bench/watch.py [--baseline REF] [--saves 5]

Each project is rendered twice, from the working tree's HEAD and from REF (default: main), and
both stacks run at once under `compose watch` (the README's command). Saves alternate between
them (baseline, current, baseline, ...) so that the machine's noise hits both alike: each save
adds a route to the package and times its first 200 through the published port. A table of
medians on stdout. Needs a Docker engine (tests/dockerenv.py provisions one).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402

import dockerenv  # noqa: E402
from helpers import expose_interpreters, free_port  # noqa: E402
from peers import WATCHED_ROUTE, until_healthy  # noqa: E402

PROJECTS = {
    "defaults (gunicorn reloads)": {},
    "PostgreSQL + Redis + worker": {"database": "postgresql", "redis": True, "worker": True},
    "uWSGI with nginx (no reloader of its own)": {"wsgi_server": "uwsgi"},
    "waitress published on its own": {"wsgi_server": "waitress", "reverse_proxy": "none"},
}
COMPOSE_FILES = ["-f", "compose.yaml", "-f", "compose.watch.yaml"]


class Stack:
    """A rendered project running under `docker compose watch` on a port of its own."""

    def __init__(self, docker: dockerenv.Docker, template: Path, name: str, answers: dict) -> None:
        self.docker = docker
        self.project = Path(tempfile.mkdtemp(prefix="berth-watch-")) / "project"
        copier.run_copy(
            str(template),
            self.project,
            data={"project_name": name, **answers},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
        dockerenv.ensure_images(docker, dockerenv.images_named_by(self.project))
        self.port = free_port()
        with (self.project / ".env").open("a") as env:
            env.write(f"\nHTTP_PORT={self.port}\n")
        self.compose("up", "--build", "--detach", "--wait", "--wait-timeout", "300")
        self.watch = subprocess.Popen(
            [docker.cli, "compose", *COMPOSE_FILES, "watch", "--no-up"],
            cwd=self.project,
            env=docker.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for line in self.watch.stdout:
            if "Watch enabled" in line:
                break
        threading.Thread(target=lambda: [None for _ in self.watch.stdout], daemon=True).start()
        # compose watch recreates the containers with the code mounted; wait for that to settle
        self.compose("up", "--detach", "--wait", "--wait-timeout", "300", files=COMPOSE_FILES)
        time.sleep(2)

    def compose(self, *args: str, files: list[str] | None = None) -> None:
        self.docker.run("compose", *(files or []), *args, cwd=self.project, timeout=900)

    def save_and_time(self) -> float:
        """Seconds from saving a new route to its first 200."""
        token = uuid.uuid4().hex[:8]
        health = next((self.project / "src").rglob("health.py"))
        health.write_text(health.read_text() + WATCHED_ROUTE.format(token=token))
        return until_healthy(f"http://127.0.0.1:{self.port}/watched/{token}")

    def close(self) -> None:
        os.killpg(self.watch.pid, signal.SIGTERM)
        self.watch.wait(timeout=30)
        self.docker.run(
            "compose", "down", "--volumes", "--rmi", "local", cwd=self.project, check=False
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="git ref to compare with")
    parser.add_argument("--saves", type=int, default=5, help="saves per stack")
    options = parser.parse_args()
    expose_interpreters(["3.13"])
    docker = dockerenv.provision()
    baseline = Path(tempfile.mkdtemp(prefix="berth-baseline-")) / "template"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), options.baseline],
        check=True,
        capture_output=True,
    )
    rows = []
    try:
        for number, (name, answers) in enumerate(PROJECTS.items()):
            stacks = {}
            try:
                for label, template in (("baseline", baseline), ("current", ROOT)):
                    stacks[label] = Stack(docker, template, f"Watch {label} {number}", answers)
                times: dict[str, list[float]] = {label: [] for label in stacks}
                for _ in range(options.saves):
                    for label, stack in stacks.items():
                        times[label].append(stack.save_and_time())
                        time.sleep(3)  # let restarts settle before the other stack's save
                medians = {label: statistics.median(values) for label, values in times.items()}
                rows.append((name, medians["baseline"], medians["current"]))
                print(f"{name}: {times}", file=sys.stderr, flush=True)
            finally:
                for stack in stacks.values():
                    stack.close()
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False
        )
    print(f"| project | {options.baseline} s | HEAD s | HEAD / {options.baseline} |")
    print("|---|---:|---:|---:|")
    for name, before, after in rows:
        print(f"| {name} | {before:.2f} | {after:.2f} | {after / before:.2f}x |")


if __name__ == "__main__":
    main()
