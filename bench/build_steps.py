"""What one build step costs a code-only rebuild on this engine, side by side in one run.

    .venv/bin/python bench/build_steps.py [--rebuilds 9]

A file changes, then `docker compose build` runs (as for a code change; the docker tier's
engine, see tests/dockerenv.py). Three images on python:3.13-slim, rebuilt in interleaved
rounds (A B C, A B C, ...) so that noise hits all alike, medians printed:

- `COPY`: the changed file copied, nothing run (what the peers' Dockerfiles do);
- `COPY + RUN`: and then `RUN true`, a step that starts a container and does nothing
  (berth's last step copies and compiles the package: one such container);
- `COPY + RUN, network none`: the same, built with compose's `build.network: none`.

The difference between the last two is the network namespace the builder gives each `RUN`.
`RUN --network=none` would spare it for one step, but the Dockerfile frontend built into
Docker before 23 refuses the flag, and `build.network` applies to every step, the
dependency install (which needs the network) included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import dockerenv  # noqa: E402

BASE = "python:3.13-slim"
VARIANTS = {
    "COPY": ("", None),
    "COPY + RUN": ("RUN true\n", None),
    "COPY + RUN, network none": ("RUN true\n", "none"),
}


def make_project(work: Path, name: str, run_step: str, network: str | None) -> Path:
    project = work / name.lower().replace(" + ", "-").replace(", ", "-").replace(" ", "-")
    project.mkdir()
    (project / "changed.txt").write_text("0\n")
    (project / "Dockerfile").write_text(f"FROM {BASE}\nCOPY changed.txt /changed.txt\n{run_step}")
    build = f"{{context: ., network: {network}}}" if network else "."
    (project / "compose.yaml").write_text(
        f"services:\n  step:\n    build: {build}\n    image: berth-bench-{project.name}:latest\n"
    )
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuilds", type=int, default=9, help="rebuilds per variant")
    options = parser.parse_args()
    docker = dockerenv.provision()
    dockerenv.ensure_images(docker, [BASE])
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="berth-steps-") as tmp:
        projects = {
            name: make_project(Path(tmp), name, run, network)
            for name, (run, network) in VARIANTS.items()
        }
        for project in projects.values():
            docker.run("compose", "build", cwd=project)
        for _ in range(options.rebuilds):
            for name, project in projects.items():
                (project / "changed.txt").write_text(f"{uuid.uuid4()}\n")
                started = time.monotonic()
                docker.run("compose", "build", cwd=project)
                seconds[name].append(time.monotonic() - started)
        for project in projects.values():
            docker.run("compose", "down", "--rmi", "all", cwd=project, check=False)
    fastest = min(statistics.median(times) for times in seconds.values())
    print(f"Code-only rebuild on {BASE}, medians of {options.rebuilds} interleaved rebuilds\n")
    print(f"| {'Dockerfile after the change':<28} | {'seconds':>7} | {'/ fastest':>9} |")
    print(f"|{'-' * 30}|{'-' * 8}:|{'-' * 10}:|")
    for name, times in seconds.items():
        median = statistics.median(times)
        print(f"| {name:<28} | {median:>7.3f} | {median / fastest:>8.2f}x |")


if __name__ == "__main__":
    main()
