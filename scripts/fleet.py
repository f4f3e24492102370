"""`scripts/fleet`: many berth projects at once.

    scripts/fleet new --manifest projects.yml DEST   create the manifest's projects in DEST
    scripts/fleet status DIR...                      template version of each, and if behind
    scripts/fleet update DIR... [--to REF]           update each on a branch of its own

Projects run in parallel (--jobs, default 4), so a fleet takes about as long as its slowest
project. A failure in one project never stops the others: each gets its line, and the exit
status says whether any needs a human (1) or the command itself was wrong (2).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_blocks import LOCAL_CHECK, block_at  # noqa: E402
from new_project import BERTH, Refused, checked_answer, questions  # noqa: E402

COPIER = [sys.executable, "-m", "copier"]
ANSWERS = ".copier-answers.yml"
# Commits made by the fleet command carry this identity unless git has one configured.
GIT_IDENTITY = {"user.name": "berth fleet", "user.email": "fleet@berth.invalid"}


class ManifestError(Exception):
    """A manifest that cannot be used as it is; the message says what to change."""


@dataclass
class Outcome:
    """What became of one project."""

    project: str
    result: str  # created, failed, current, behind, updated, conflicts, tests failed, skipped
    detail: str = ""
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    needs_human: bool = False


# ---- running commands ----------------------------------------------------------------------


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise CommandFailed(cmd, result)
    return result


class CommandFailed(Exception):
    def __init__(self, cmd: list[str], result: subprocess.CompletedProcess) -> None:
        self.cmd, self.result = cmd, result
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if re.search(r"(Error|error|fatal):", line)]
        super().__init__(f"{' '.join(cmd[:3])}: {(errors or lines or ['failed'])[-1].strip()}")


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """git in `cwd`, with the fleet's identity where the user has none configured."""
    identity = []
    for key, value in GIT_IDENTITY.items():
        if run(["git", "config", key], cwd=cwd, check=False).returncode != 0:
            identity += ["-c", f"{key}={value}"]
    return run(["git", *identity, *args], cwd=cwd, check=check)


def in_parallel(
    items: list[Any], work: Callable[[Any], Outcome], jobs: int, quiet: bool = False
) -> list[Outcome]:
    """`work` on every item, `jobs` at a time, a progress line per item as it finishes; the
    outcomes in the items' order."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(work, item) for item in items]
        for done, future in enumerate(as_completed(futures), 1):
            outcome = future.result()
            if not quiet:
                detail = f" ({outcome.detail})" if outcome.detail else ""
                print(
                    f"[{done}/{len(items)}] {outcome.project}: {outcome.result}{detail} "
                    f"in {outcome.seconds:.1f} s",
                    flush=True,
                )
    return [future.result() for future in futures]


# ---- new -------------------------------------------------------------------------------------


def folder_name(project_name: str) -> str:
    """The default folder of a project: its name, lowercased, words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", project_name.lower()).strip("-") or "project"


def as_copier_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's projects, each its answers (defaults merged in) plus `path`; every
    answer checked as `scripts/new` checks it."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise ManifestError(f"{path}: expected `projects:`, a list of answers (and `defaults:`)")
    unknown = set(data) - {"defaults", "projects"}
    if unknown:
        raise ManifestError(f"{path}: unknown keys {sorted(unknown)} (allowed: defaults, projects)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ManifestError(f"{path}: `defaults:` must map questions to answers")
    known = questions()
    projects, folders = [], {}
    for index, entry in enumerate(data["projects"], 1):
        where = f"{path}: project {index}"
        if not isinstance(entry, dict) or not str(entry.get("project_name") or "").strip():
            raise ManifestError(f"{where} needs a project_name")
        answers = {**defaults, **entry}
        folder = str(answers.pop("path", None) or folder_name(str(answers["project_name"])))
        if "/" in folder or folder in (".", ".."):
            raise ManifestError(f"{where}: path {folder!r} must be a folder name, not a path")
        for name, value in answers.items():
            if name not in known:
                raise ManifestError(f"{where}: there is no question {name!r}")
            try:
                checked_answer(name, as_copier_value(value), known[name])
            except Refused as refusal:
                raise ManifestError(f"{where}: {refusal}") from None
        if folder in folders:
            raise ManifestError(f"{where}: folder {folder!r} is also project {folders[folder]}'s")
        folders[folder] = index
        projects.append({**answers, "path": folder})
    return projects


def create(project: dict[str, Any], dest: Path, options: argparse.Namespace) -> Outcome:
    started = time.monotonic()
    answers = {k: v for k, v in project.items() if k != "path"}
    target = dest / project["path"]
    outcome = Outcome(project["path"], "created")
    try:
        if target.exists() and any(target.iterdir()):
            raise Refused(f"{target} exists and is not empty: nothing was written")
        command = [*COPIER, "copy", "--trust", "--defaults", "--quiet"]
        command += ["--vcs-ref", options.vcs_ref] if options.vcs_ref else []
        command += ["--data-file", str(options.data_file)] if options.data_file else []
        for name, value in answers.items():
            spec = questions()[name]
            command += ["-d", checked_answer(name, as_copier_value(value), spec)]
        run([*command, options.template, str(target)], cwd=dest)
        git(target, "init", "-q", "-b", "main")
        git(target, "add", "-A")
        version = read_answers(target).get("_commit", "")
        git(target, "commit", "-q", "-m", f"Generated from berth {version}")
        outcome.detail = f"berth {version}"
    except (Refused, CommandFailed, OSError) as error:
        outcome.result, outcome.detail, outcome.needs_human = "failed", str(error), True
    outcome.seconds = time.monotonic() - started
    return outcome


def command_new(options: argparse.Namespace) -> int:
    projects = read_manifest(options.manifest)
    dest = options.dest
    dest.mkdir(parents=True, exist_ok=True)
    print(f"berth fleet: {len(projects)} projects into {dest}", flush=True)
    outcomes = in_parallel(projects, lambda p: create(p, dest, options), options.jobs)
    return report(outcomes, "created")


# ---- status ----------------------------------------------------------------------------------


def read_answers(project: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load((project / ANSWERS).read_text()) or {}
    except FileNotFoundError:
        raise Refused(f"{project} is not a berth project (no {ANSWERS})") from None


def state(project: Path) -> dict[str, Any]:
    """Template version, newest release, behind or not, dirty tree, unmerged files."""
    answers = read_answers(project)
    check = run([*COPIER, "check-update", "--output-format", "json"], cwd=project, check=False)
    if check.returncode != 0:
        raise CommandFailed(["copier", "check-update"], check)
    found = json.loads(check.stdout)
    dirty = [line[3:] for line in git(project, "status", "--porcelain").stdout.splitlines()]
    unmerged = sorted(
        {line.split("\t", 1)[1] for line in git(project, "ls-files", "-u").stdout.splitlines()}
    )
    return {
        "project": str(project),
        "template": answers.get("_src_path"),
        "version": answers.get("_commit"),
        "latest": found.get("latest_version"),
        "behind": bool(found.get("update_available")),
        "dirty": dirty,
        "unmerged": unmerged,
    }


def command_status(options: argparse.Namespace) -> int:
    def one(project: Path) -> Outcome:
        started = time.monotonic()
        try:
            facts = state(project)
        except (Refused, CommandFailed, OSError, ValueError) as error:
            return Outcome(str(project), "error", str(error), needs_human=True)
        result = "behind" if facts["behind"] else "current"
        outcome = Outcome(str(project), result, seconds=time.monotonic() - started)
        outcome.detail = json.dumps(facts)
        return outcome

    outcomes = in_parallel(options.projects, one, options.jobs, quiet=True)
    rows = [
        json.loads(o.detail) if o.result != "error" else {"project": o.project, "error": o.detail}
        for o in outcomes
    ]
    if options.json:
        print(json.dumps(rows, indent=2))
    else:
        print_status_table(rows)
    if any("error" in row for row in rows):
        return 2
    return 1 if any(row["behind"] for row in rows) else 0


def print_status_table(rows: list[dict[str, Any]]) -> None:
    header = ("project", "version", "latest", "behind", "dirty", "unmerged")
    table = [header]
    for row in rows:
        if "error" in row:
            table.append((row["project"], "error", row["error"], "", "", ""))
            continue
        table.append(
            (
                row["project"],
                str(row["version"]),
                str(row["latest"]),
                "yes" if row["behind"] else "no",
                f"{len(row['dirty'])} files" if row["dirty"] else "no",
                ", ".join(row["unmerged"]) or "-",
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip())


# ---- update ----------------------------------------------------------------------------------


def local_commands(project: Path) -> list[str]:
    """The README's local check (install, migrate, test, lint): what the project's CI runs."""
    text = (project / "README.md").read_text()
    heading, place = LOCAL_CHECK
    # Projects of berth 0.2 and earlier mark the block with a comment.
    marked = re.search(r"<!-- berth:run local -->\s*```sh\n(.*?)```", text, re.S)
    block = marked[1].splitlines() if marked else block_at(text, heading, place)
    if not block:
        raise Refused(f"its README has no local quick start (the section {heading!r})")
    return [line for line in block if line.strip()]


def update_one(project: Path, options: argparse.Namespace) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(str(project), "updated")
    try:
        facts = state(project)
        if facts["dirty"] or facts["unmerged"]:
            outcome.result, outcome.needs_human = "skipped", True
            outcome.detail = "uncommitted changes: commit or stash them first"
            return outcome
        if not facts["behind"] and not options.to:
            outcome.result, outcome.detail = "current", f"berth {facts['version']}"
            return outcome
        target = options.to or facts["latest"]
        original = git(project, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
        branch = f"template-update/{target}"
        if git(project, "rev-parse", "--verify", "--quiet", branch, check=False).returncode == 0:
            raise Refused(f"branch {branch} exists: merge or delete it, then run again")
        git(project, "switch", "-q", "-c", branch)
        try:
            outcome = apply_update(project, target, branch, options, outcome)
        finally:
            git(project, "switch", "-q", "--force", original)
    except (Refused, CommandFailed, OSError, ValueError) as error:
        outcome.result, outcome.detail, outcome.needs_human = "error", str(error), True
    outcome.seconds = time.monotonic() - started
    return outcome


def apply_update(
    project: Path, target: str, branch: str, options: argparse.Namespace, outcome: Outcome
) -> Outcome:
    """On `branch`: copier update to `target`, committed whatever came of it; then the tests."""
    command = [*COPIER, "update", "--trust", "--defaults", "--quiet", "--vcs-ref", target]
    run(command, cwd=project)
    # copier exits 0 even when it leaves conflict markers: git and *.rej files tell.
    unmerged = git(project, "ls-files", "-u").stdout.splitlines()
    conflicts = sorted({line.split("\t", 1)[1] for line in unmerged})
    conflicts += sorted(
        p.relative_to(project).as_posix() for p in project.rglob("*.rej") if ".git" not in p.parts
    )
    git(project, "add", "-A")
    message = f"Template update to berth {target}"
    if conflicts:
        message += f"\n\nConflicts to resolve: {', '.join(conflicts)}"
    git(project, "commit", "-q", "--no-verify", "-m", message)
    if conflicts:
        outcome.result, outcome.files, outcome.needs_human = "conflicts", conflicts, True
        outcome.detail = f"{', '.join(conflicts)}; markers committed on {branch}"
        return outcome
    outcome.detail = f"on {branch}"
    if options.no_tests:
        return outcome
    log = Path(git(project, "rev-parse", "--git-dir").stdout.strip())
    log = (project / log if not log.is_absolute() else log) / "berth-fleet-tests.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    with log.open("w") as out:
        for command_line in local_commands(project):
            out.write(f"$ {command_line}\n")
            out.flush()
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command_line],
                cwd=project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            if result.returncode != 0:
                outcome.result, outcome.needs_human = "tests failed", True
                outcome.detail = f"`{command_line}` failed on {branch}; log: {log}"
                break
    # What the tests left behind (a .venv, data/) is git-ignored; anything else is reverted.
    git(project, "reset", "-q", "--hard")
    return outcome


def command_update(options: argparse.Namespace) -> int:
    outcomes = in_parallel(options.projects, lambda p: update_one(p, options), options.jobs)
    return report(outcomes, "updated")


# ---- the report ------------------------------------------------------------------------------


def report(outcomes: Iterable[Outcome], verb: str) -> int:
    outcomes = list(outcomes)
    human = [o for o in outcomes if o.needs_human]
    print(f"berth fleet: {len(outcomes) - len(human)} of {len(outcomes)} {verb} or current")
    for outcome in human:
        print(f"  needs a human: {outcome.project}: {outcome.result}: {outcome.detail}")
    return 1 if human else 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="scripts/fleet",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    commands = main.add_subparsers(dest="command", required=True)
    jobs = {"type": int, "default": 4, "help": "projects at a time (default 4)"}

    new = commands.add_parser("new", help="create the projects of a manifest")
    new.add_argument("--manifest", type=Path, required=True, help="projects.yml")
    new.add_argument("dest", type=Path, help="the folder the projects are created in")
    new.add_argument("--template", default=str(BERTH), help="berth's location (default: here)")
    new.add_argument("--vcs-ref", help="template release or commit (default: the newest tag)")
    new.add_argument("--data-file", type=Path, help="organisation defaults (YAML answers)")
    new.add_argument("--jobs", **jobs)

    status = commands.add_parser("status", help="template version of each project")
    status.add_argument("projects", nargs="+", type=Path, metavar="DIR")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--jobs", type=int, default=8, help="projects at a time (default 8)")

    update = commands.add_parser("update", help="update each project on a new branch")
    update.add_argument("projects", nargs="+", type=Path, metavar="DIR")
    update.add_argument("--to", help="the release to update to (default: the newest)")
    update.add_argument("--no-tests", action="store_true", help="skip the projects' tests")
    update.add_argument("--jobs", **jobs)
    return main


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    # copier runs in each project's folder: paths given relative to here must not change.
    for name in ("manifest", "dest", "data_file"):
        if getattr(options, name, None) is not None:
            setattr(options, name, getattr(options, name).resolve())
    if getattr(options, "projects", None):
        options.projects = [project.resolve() for project in options.projects]
    if getattr(options, "template", None) and Path(options.template).exists():
        options.template = str(Path(options.template).resolve())
    handlers = {"new": command_new, "status": command_status, "update": command_update}
    try:
        return handlers[options.command](options)
    except ManifestError as error:
        print(f"berth fleet: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
