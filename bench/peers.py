"""berth's containers against what users would write instead, side by side in one run.

    .venv/bin/python bench/peers.py [--seconds 5] [--json OUT.json] [--chart OUT.png]
    .venv/bin/python bench/peers.py --startup-only [--rounds 5] [--baseline REF]

The same generated application (the defaults, and a PostgreSQL + Redis + worker project) is
containerised three ways:

- berth: its Dockerfile and compose.yaml as generated;
- seed: as the first write-up berth grew from did it: one stage on python:<v>-slim with build
  tools, `pip install --no-cache-dir -r requirements.txt` into the system Python, `COPY . .`, a
  curl healthcheck, `CMD ["gunicorn", "--bind", "0.0.0.0:<port>", ...]`;
- docker init: its Python template: one stage, a non-root user, pip's cache mount,
  `CMD gunicorn 'pkg.wsgi:app' --bind=0.0.0.0:<port>`, no healthcheck.

The peers run the services berth's compose.yaml runs (database, Redis, worker, the migration)
under the same resource limits (web: 1 CPU), so that every variant serves the same requests with
the same means. Figures per variant: cold build, code-only rebuild, image size added over the
base, `up` to the first 200 of `/health` over the published port and to `up --wait` returning
(every service healthy), idle stop, stop with a slow request in flight (and whether it
completed), requests/s and p99 latency of `/health` and `/api/notes` at 32 connections (wrk;
medians of interleaved rounds, A B C A B C ..., so that noise hits all alike), idle memory (RSS
of the web container's processes). Needs a Docker engine (tests/dockerenv.py provisions one) and
wrk (`apt-get install wrk`). A table on stdout; --json and --chart write the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402
import yaml  # noqa: E402

import dockerenv  # noqa: E402
from helpers import TOOLS_BIN, expose_interpreters, free_port  # noqa: E402

PROJECTS = {
    "defaults": {},
    "postgres+redis+worker": {"database": "postgresql", "redis": True, "worker": True},
}
VARIANTS = ("berth", "seed", "docker init")
PEERS = VARIANTS[1:]
SLOW_ROUTE = """

@bp.get("/slow")
def slow():
    import time

    time.sleep(4)
    return {"slow": "done"}
"""

SEED_DOCKERFILE = """FROM python:{python}-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential curl \\
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV PYTHONPATH=/app/src
EXPOSE {port}
HEALTHCHECK CMD curl -f http://localhost:{port}/health || exit 1
CMD ["gunicorn", "--bind", "0.0.0.0:{port}", "--workers", "2", "{package}.wsgi:app"]
"""

DOCKER_INIT_DOCKERFILE = """ARG PYTHON_VERSION={python}
FROM python:${{PYTHON_VERSION}}-slim as base
ENV PYTHONDONTWRITEBYTECODE=1
ENV PYTHONUNBUFFERED=1
WORKDIR /app
ARG UID=10001
RUN adduser --disabled-password --gecos "" --home "/nonexistent" --shell "/sbin/nologin" \\
    --no-create-home --uid "${{UID}}" appuser
RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=bind,source=requirements.txt,target=requirements.txt \\
    python -m pip install -r requirements.txt
# Not in docker init's template: without it the non-root app cannot write its data volume.
RUN mkdir -p /app/data /app/uploads && chown appuser /app/data /app/uploads
USER appuser
COPY . .
ENV PYTHONPATH=/app/src
EXPOSE {port}
CMD gunicorn '{package}.wsgi:app' --bind=0.0.0.0:{port}
"""


class Bench:
    def __init__(self, seconds: int) -> None:
        self.docker = dockerenv.provision()
        self.seconds = seconds
        self.wrk = shutil.which("wrk")
        if not self.wrk:
            raise SystemExit("bench/peers.py needs wrk: apt-get install wrk")

    def compose(self, project: Path, *args: str, check: bool = True, timeout: float = 1800):
        return self.docker.run(
            "compose", "--progress", "plain", *args, cwd=project, check=check, timeout=timeout
        )


def render(name: str, answers: dict, work: Path, template: Path = ROOT) -> Path:
    dest = work / re.sub(r"\W+", "-", name)
    copier.run_copy(
        str(template),
        dest,
        data={"project_name": f"Peer {name}", **answers},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    health = next((dest / "src").rglob("health.py"))
    health.write_text(health.read_text() + SLOW_ROUTE)
    return dest


def requirements(project: Path) -> str:
    """The project's runtime dependencies, pinned, without hashes: what a seed-style
    requirements.txt holds."""
    lock = project / "requirements.txt"
    if lock.exists():
        text = lock.read_text()
    else:
        text = subprocess.run(
            [
                str(TOOLS_BIN / "uv"),
                "export",
                "--no-hashes",
                "--no-dev",
                "--no-emit-project",
                "--frozen",
            ],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return (
        "\n".join(
            line for line in text.splitlines() if line and not line.startswith((" ", "#", "-"))
        )
        + "\n"
    )


def make_variant(source: Path, variant: str, work: Path) -> Path:
    """A copy of the project containerised as `variant`: its Dockerfile, and a compose.yaml
    whose services (and their healthchecks) follow that style."""
    project = work / f"{source.name}-{variant.replace(' ', '-')}"
    shutil.copytree(source, project, symlinks=True)
    if variant == "berth":
        return project
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    facts = {
        "python": answers["python_version"],
        "port": answers["http_port"],
        "package": answers["project_slug"],
    }
    (project / "requirements.txt").write_text(requirements(project))
    template = SEED_DOCKERFILE if variant == "seed" else DOCKER_INIT_DOCKERFILE
    (project / "Dockerfile").write_text(template.format(**facts))
    (project / ".dockerignore").write_text(".git\n.venv\n.env\ndata\n")
    (project / "compose.watch.yaml").unlink()  # berth's development set-up: the peers have none
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    app = compose.pop("x-app")
    for name, service in compose["services"].items():
        if service.get("image", "").endswith(":latest") or name in ("web", "migrate", "worker"):
            # The peers' usual shape: every app service builds, none is hardened. They keep
            # berth's resource limits (`deploy`): the same CPU for every variant's load figures.
            for key in (
                "read_only",
                "tmpfs",
                "cap_drop",
                "security_opt",
                "pull_policy",
                "develop",
                "stop_grace_period",
            ):
                service.pop(key, None)
            service["build"] = "."
            service["image"] = f"{project.name}:latest"
            service.setdefault("env_file", app["env_file"])
            service.setdefault("environment", app["environment"])
            if name == "web" and variant == "docker init":
                service.pop("healthcheck", None)
            if name == "worker":
                service["healthcheck"] = {"disable": True}
    (project / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
    return project


def image_added_mb(bench: Bench, image: str, base: str) -> float:
    size = lambda ref: int(bench.docker.run("image", "inspect", "-f", "{{.Size}}", ref).stdout)  # noqa: E731
    return (size(image) - size(base)) / 1e6


def until_healthy(url: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} never answered 200")


def wrk(bench: Bench, url: str) -> tuple[float, float]:
    out = subprocess.run(
        [bench.wrk, "-t2", "-c32", f"-d{bench.seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99[2]]
    return rps, float(p99[1]) * scale


def idle_rss_mb(bench: Bench, project: Path) -> float:
    container = bench.compose(project, "ps", "-q", "web").stdout.strip()
    rows = bench.docker.run("top", container, "-o", "pid,rss").stdout.splitlines()[1:]
    return sum(int(line.split()[1]) for line in rows if line.split()) / 1024


def image_of(project: Path) -> str:
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    return (compose.get("x-app") or compose["services"]["web"])["image"]


def builds(bench: Bench, projects: list[Path], rebuilds: int) -> list[dict[str, float]]:
    """Per project: a cold build (empty build cache), the image's size over its base, then
    `rebuilds` code-only changes rebuilt in interleaved rounds (A B C, A B C, ...) so that the
    machine's noise hits every variant alike: the median seconds, and the median bytes of the
    layers one such change creates (what a push or pull of a code-only release moves)."""
    figures: list[dict[str, float]] = [{} for _ in projects]
    for project, figure in zip(projects, figures, strict=True):
        bench.compose(project, "down", "--volumes", "--remove-orphans", check=False)
        bench.docker.run("image", "rm", "-f", image_of(project), check=False)
        bench.docker.run("builder", "prune", "-af", check=False)
        started = time.monotonic()
        bench.compose(project, "build")
        figure["cold build s"] = time.monotonic() - started
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        figure["image added MB"] = image_added_mb(
            bench, image_of(project), f"python:{answers['python_version']}-slim"
        )
    # The next variant's cold build emptied the cache: fill it again, unmeasured.
    for project in projects:
        bench.compose(project, "build")
    seconds: list[list[float]] = [[] for _ in projects]
    new_bytes: list[list[float]] = [[] for _ in projects]
    for _ in range(rebuilds):
        for index, project in enumerate(projects):
            layers = dict(dockerenv.image_layers(bench.docker, image_of(project)))
            health = next((project / "src").rglob("health.py"))
            health.write_text(health.read_text() + f"\n# run {uuid.uuid4()}\n")
            started = time.monotonic()
            bench.compose(project, "build")
            seconds[index].append(time.monotonic() - started)
            changed = dockerenv.image_layers(bench.docker, image_of(project))
            new_bytes[index].append(sum(s for d, s in changed if d not in layers) / 1e3)
    for figure, times, sizes in zip(figures, seconds, new_bytes, strict=True):
        figure["code-only rebuild s"] = statistics.median(times)
        figure["code-only new layers KB"] = statistics.median(sizes)
    return figures


def startup(bench: Bench, projects: list[Path], rounds: int) -> list[dict[str, float]]:
    """`docker compose up -d --wait` of a built stack whose data already exists (the everyday
    restart), in interleaved rounds: seconds to the first 200 of /health on the published port,
    to `--wait` returning (every service healthy), and between the two. Medians."""
    samples: list[dict[str, list[float]]] = [{} for _ in projects]
    for _ in range(rounds):
        for project, sample in zip(projects, samples, strict=True):
            port = free_port()
            bench.docker.env["HTTP_PORT"] = str(port)
            bench.compose(project, "up", "-d", "--wait", "--wait-timeout", "180", check=False)
            until_healthy(f"http://127.0.0.1:{port}/health")
            bench.compose(project, "down")
            started = time.monotonic()
            up = subprocess.Popen(
                [bench.docker.cli, "compose", "up", "-d", "--wait", "--wait-timeout", "180"],
                cwd=project,
                env=bench.docker.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            answered = until_healthy(f"http://127.0.0.1:{port}/health")
            up.wait()
            healthy = time.monotonic() - started
            sample.setdefault("up to first answer s", []).append(answered)
            sample.setdefault("up to healthy (--wait) s", []).append(healthy)
            sample.setdefault("healthy after first answer s", []).append(healthy - answered)
            bench.compose(project, "down")
    return [{key: statistics.median(values) for key, values in s.items()} for s in samples]


def measure(bench: Bench, project: Path) -> dict[str, object]:
    """The running stack's figures, on an image already built."""
    port = free_port()
    bench.docker.env["HTTP_PORT"] = str(port)
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, object] = {}
    bench.compose(project, "up", "-d", "--wait", "--wait-timeout", "180", check=False)
    until_healthy(f"{base}/health")
    time.sleep(3)
    figures["idle RSS MB"] = idle_rss_mb(bench, project)
    started = time.monotonic()
    bench.compose(project, "stop", "web")
    figures["idle stop s"] = time.monotonic() - started
    bench.compose(project, "up", "-d", "--wait", "--wait-timeout", "180", check=False)
    until_healthy(f"{base}/health")
    result: dict[str, object] = {}

    def slow_request() -> None:
        try:
            with urllib.request.urlopen(f"{base}/slow", timeout=30) as response:  # noqa: S310
                result["status"] = response.status
        except (urllib.error.URLError, OSError) as error:
            result["status"] = repr(error)

    request = threading.Thread(target=slow_request)
    request.start()
    time.sleep(1)
    started = time.monotonic()
    bench.compose(project, "stop", "web")
    figures["stop in flight s"] = time.monotonic() - started
    request.join()
    figures["in-flight request completed"] = result.get("status") == 200
    if (project / "compose.watch.yaml").exists():  # the peers have no watch set-up
        figures["compose watch: saved to served s"] = watch_latency(bench, project, base)
    bench.compose(project, "down", check=False)
    return figures


WATCHED_ROUTE = """

@bp.get("/watched/{token}")
def watched_{token}():
    return {{"watched": "{token}"}}
"""


def watch_latency(bench: Bench, project: Path, base: str) -> float:
    """The README's `docker compose watch` running: seconds from saving a code change to its
    first 200."""
    files = ["-f", "compose.yaml", "-f", "compose.watch.yaml"]
    bench.compose(project, *files, "up", "-d", "--wait", "--wait-timeout", "180", check=False)
    watch = subprocess.Popen(
        [bench.docker.cli, "compose", *files, "watch", "--no-up"],
        cwd=project,
        env=bench.docker.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in watch.stdout:
            if "Watch enabled" in line:
                break
        threading.Thread(target=lambda: [None for _ in watch.stdout], daemon=True).start()
        time.sleep(1)
        token = uuid.uuid4().hex[:8]
        health = next((project / "src").rglob("health.py"))
        health.write_text(health.read_text() + WATCHED_ROUTE.format(token=token))
        saved = time.monotonic()
        while time.monotonic() - saved < 120:
            try:
                with urllib.request.urlopen(f"{base}/watched/{token}", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return time.monotonic() - saved
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{project.name}: compose watch never served the change")
    finally:
        os.killpg(watch.pid, signal.SIGTERM)
        watch.wait(timeout=30)


def throughput(bench: Bench, projects: list[Path], rounds: int) -> list[dict[str, float]]:
    """Requests/s and p99 of each route, per project, in interleaved rounds (A B C, A B C, ...)
    so that the machine's noise hits every variant alike; medians."""
    samples: list[dict[str, list[float]]] = [{} for _ in projects]
    for _ in range(rounds):
        for project, sample in zip(projects, samples, strict=True):
            port = free_port()
            bench.docker.env["HTTP_PORT"] = str(port)
            bench.compose(project, "up", "-d", "--wait", "--wait-timeout", "180", check=False)
            until_healthy(f"http://127.0.0.1:{port}/health")
            for path in ("/health", "/api/notes"):
                rps, p99 = wrk(bench, f"http://127.0.0.1:{port}{path}")
                sample.setdefault(f"{path} req/s", []).append(rps)
                sample.setdefault(f"{path} p99 ms", []).append(p99)
            bench.compose(project, "down", check=False)
    return [{key: statistics.median(values) for key, values in s.items()} for s in samples]


def clean_up(bench: Bench, project: Path) -> None:
    bench.compose(project, "down", "--volumes", "--remove-orphans", check=False)
    bench.docker.run("image", "rm", "-f", image_of(project), check=False)


def print_table(rows: list[dict]) -> None:
    keys = [k for k in rows[0] if k not in ("project", "variant")]
    for key in sorted({k for row in rows for k in row} - set(keys) - {"project", "variant"}):
        keys.append(key)
    for project in dict.fromkeys(row["project"] for row in rows):
        print(f"\n{project}\n")
        ours = [r for r in rows if r["project"] == project]
        variants = [r["variant"] for r in ours]
        baseline = next((v for v in variants if v.startswith("berth ")), None)
        against = " | berth vs best peer" + (f" | berth vs {baseline}" if baseline else "")
        print("| Figure | " + " | ".join(variants) + against + " |")
        print("|---|" + "---:|" * (len(ours) + 1 + bool(baseline)))
        for key in keys:
            values = [r.get(key) for r in ours]
            cells = [
                ("yes" if v else "no") if isinstance(v, bool) else "-" if v is None else f"{v:.2f}"
                for v in values
            ]
            ratio = ""
            numbers = dict(zip(variants, values, strict=True))
            peers = [numbers[v] for v in PEERS]
            if all(isinstance(v, float) and v for v in [numbers["berth"], *peers]):
                higher_better = "req/s" in key
                best = max(peers) if higher_better else min(peers)
                ratio = f"{numbers['berth'] / best:.2f}x"
            if baseline and isinstance(numbers[baseline], float) and numbers[baseline]:
                ratio += f" | {numbers['berth'] / numbers[baseline]:.2f}x"
            print(f"| {key} | " + " | ".join(cells) + f" | {ratio} |")


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = ["up to healthy (--wait) s", "idle stop s", "image added MB", "/health req/s"]
    fig, axes = plt.subplots(1, len(figures), figsize=(4 * len(figures), 3.2))
    projects = list(dict.fromkeys(row["project"] for row in rows))
    for axis, key in zip(axes, figures, strict=True):
        width = 0.8 / len(VARIANTS)
        for index, variant in enumerate(VARIANTS):
            values = [
                next(
                    (r.get(key, 0) for r in rows if r["project"] == p and r["variant"] == variant),
                    0,
                )
                for p in projects
            ]
            axis.bar(
                [i + index * width for i in range(len(projects))], values, width, label=variant
            )
        axis.set_title(key)
        axis.set_xticks([i + width for i in range(len(projects))], projects, fontsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def baseline_template(ref: str, work: Path) -> Path:
    """berth as it was at `ref`, checked out beside this one."""
    path = work / "baseline-template"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), ref],
        check=True,
        capture_output=True,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per route")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved load rounds")
    parser.add_argument("--rebuilds", type=int, default=5, help="code-only rebuilds per variant")
    parser.add_argument(
        "--builds-only", action="store_true", help="only the build figures (a few minutes)"
    )
    parser.add_argument(
        "--startup-only", action="store_true", help="only `up` to healthy (a few minutes)"
    )
    parser.add_argument("--baseline", help="git ref: berth as it was there, as one more variant")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--chart", type=Path)
    options = parser.parse_args()
    expose_interpreters(["3.13"])
    bench = Bench(options.seconds)
    work = Path(tempfile.mkdtemp(prefix="berth-peers-"))
    rows = []
    try:
        baseline = options.baseline and baseline_template(options.baseline, work)
        for name, answers in PROJECTS.items():
            source = render(name, answers, work)
            dockerenv.ensure_images(bench.docker, dockerenv.images_named_by(source))
            names = list(VARIANTS)
            variants = [make_variant(source, variant, work) for variant in VARIANTS]
            if baseline:
                # Its own name: its own package, image and compose project.
                old = render(f"{name} baseline", answers, work, template=baseline)
                names.insert(1, f"berth {options.baseline}")
                variants.insert(1, make_variant(old, "berth", work))
            if options.startup_only:
                for project in variants:
                    bench.compose(project, "build")
                built: list[dict[str, float]] = [{} for _ in variants]
            else:
                built = builds(bench, variants, options.rebuilds)
            rows_here = [
                {"project": name, "variant": variant, **figures}
                for variant, figures in zip(names, built, strict=True)
            ]
            if not options.builds_only:
                for row, figures in zip(
                    rows_here, startup(bench, variants, options.rounds), strict=True
                ):
                    row.update(figures)
            if not (options.builds_only or options.startup_only):
                for row, project in zip(rows_here, variants, strict=True):
                    started = time.monotonic()
                    row.update(measure(bench, project))
                    print(
                        f"measured {name} / {row['variant']} in {time.monotonic() - started:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                loads = throughput(bench, variants, options.rounds)
                for row, load in zip(rows_here, loads, strict=True):
                    row.update(load)
            rows += rows_here
            for project in variants:
                clean_up(bench, project)
    finally:
        if options.baseline:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "remove",
                    "--force",
                    str(work / "baseline-template"),
                ],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    if options.json:
        options.json.write_text(json.dumps(rows, indent=2))
    if options.chart:
        chart(rows, options.chart)


if __name__ == "__main__":
    main()
