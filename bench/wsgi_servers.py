"""Requests per second of the WSGI servers berth offers, measured side by side.

    .venv/bin/python bench/wsgi_servers.py [--seconds 5] [--rounds 3] [--workers 1]

Renders one project per server (defaults otherwise), installs it from its own lock with uv,
starts each server the way the project's README says, with WEB_CONCURRENCY workers (threads for
waitress), and loads `GET /health` with wrk (`apt-get install wrk`). Servers are measured in
interleaved rounds (A B C D, A B C D, ...) so that machine noise hits them alike; the table
reports the median per server, its ratio to the baseline server (relative_throughput 1.0 in
tables/servers.yml) and the ratio the table records, which the generated ADR cites: update
the table when they drift apart.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402

from helpers import TOOLS_BIN, expose_interpreters, free_port  # noqa: E402
from matrix import server_command, table  # noqa: E402

SERVERS = table("wsgi_server")
BASELINE = next(name for name, facts in SERVERS.items() if facts["relative_throughput"] == 1.0)


def command(project: Path, server: str, slug: str) -> list[str]:
    """The server's command from the table, its first word from the project's venv."""
    arguments = server_command(server, slug)
    return [str(project / ".venv" / "bin" / arguments[0]), *arguments[1:]]


def wait_up(url: str, process: subprocess.Popen) -> None:
    for _ in range(150):
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def measure(project: Path, server: str, slug: str, seconds: int, workers: int) -> float:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench",
    }
    # Access logs would measure the terminal: gunicorn and granian log to stdout, discarded.
    process = subprocess.Popen(
        command(project, server, slug),
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/health"
        wait_up(url, process)
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True, check=True
        ).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    expose_interpreters(["3.13"])
    results: dict[str, list[float]] = {s: [] for s in SERVERS}
    with tempfile.TemporaryDirectory() as tmp:
        projects = {}
        for server in SERVERS:
            project = Path(tmp) / server
            copier.run_copy(
                str(ROOT),
                project,
                data={"project_name": "Bench", "wsgi_server": server, "database": "none"},
                defaults=True,
                unsafe=True,
                vcs_ref="HEAD",
                quiet=True,
            )
            subprocess.run(
                [str(TOOLS_BIN / "uv"), "sync", "--locked", "--no-dev"],
                cwd=project,
                check=True,
                capture_output=True,
            )
            projects[server] = project
        for _ in range(args.rounds):
            for server in SERVERS:
                results[server].append(
                    measure(projects[server], server, "bench", args.seconds, args.workers)
                )
    base = statistics.median(results[BASELINE])
    print(
        f"GET /health, {args.workers} worker(s), wrk -t2 -c16, {args.seconds} s x "
        f"{args.rounds} interleaved rounds, this machine ({os.cpu_count()} cores)\n"
    )
    print(f"| Server | Median req/s | Runs | vs {BASELINE} | In copier.yml |")
    print("|---|---:|---|---:|---:|")
    for server, facts in SERVERS.items():
        median = statistics.median(results[server])
        runs = ", ".join(f"{r:.0f}" for r in results[server])
        recorded = facts["relative_throughput"]
        print(f"| {server} | {median:.0f} | {runs} | {median / base:.2f}x | {recorded}x |")


if __name__ == "__main__":
    main()
