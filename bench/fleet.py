"""How `scripts/fleet` scales: wall time of `new`, `status` and `update --no-tests` for fleets
of 1, 5 and 20 projects, one project at a time (--jobs 1) and four at a time (--jobs 4), from
throwaway template releases of this tree. Prints a table (and --json the same figures).

    .venv/bin/python bench/fleet.py [--sizes 1 5 20] [--jobs 4] [--json]

Each row is measured side by side in one run; compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402

from matrix import COMBOS  # noqa: E402
from updating import TemplateRepo, release, v2_elsewhere  # noqa: E402

FLEET = ROOT / "scripts" / "fleet"


def timed(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([str(FLEET), *args], capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise SystemExit(f"scripts/fleet {args[0]} failed:\n{result.stdout}{result.stderr}")
    return time.monotonic() - started


def measure(size: int, jobs: int, work: Path) -> dict[str, float]:
    template = TemplateRepo(work / "berth")
    template.release("1.0.0")
    projects = [
        {
            "project_name": f"Bench {i:02d}",
            **{k: v for k, v in COMBOS[i % len(COMBOS)].items() if k != "project_name"},
        }
        for i in range(size)
    ]
    manifest = work / "projects.yml"
    manifest.write_text(yaml.safe_dump({"projects": projects}))
    figures = {
        "new": timed(
            "new",
            "--manifest",
            str(manifest),
            str(work / "fleet"),
            "--template",
            str(template.path),
            "--jobs",
            str(jobs),
        )
    }
    release(template.path, "1.1.0", v2_elsewhere)
    dirs = [str(p) for p in sorted((work / "fleet").iterdir())]
    figures["status"] = timed("status", "--jobs", str(jobs), *dirs)
    figures["update"] = timed("update", "--no-tests", "--jobs", str(jobs), *dirs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    rows = []
    for size in options.sizes:
        for jobs in (1, options.jobs):
            work = Path(tempfile.mkdtemp(prefix="berth-bench-fleet-"))
            try:
                rows.append({"projects": size, "jobs": jobs, **measure(size, jobs, work)})
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"measured {size} projects, --jobs {jobs}", file=sys.stderr, flush=True)
    if options.json:
        print(json.dumps(rows, indent=2))
        return
    print("| Projects | --jobs | new s | status s | update s |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['projects']} | {row['jobs']} | {row['new']:.1f} | {row['status']:.1f} "
            f"| {row['update']:.1f} |"
        )
    by = {(r["projects"], r["jobs"]): r for r in rows}
    print()
    print("| Projects | new: jobs 1 / jobs N | update: jobs 1 / jobs N |")
    print("|---:|---:|---:|")
    for size in options.sizes:
        one, many = by[(size, 1)], by[(size, options.jobs)]
        print(
            f"| {size} | {one['new'] / many['new']:.2f}x | {one['update'] / many['update']:.2f}x |"
        )


if __name__ == "__main__":
    main()
