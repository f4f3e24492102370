"""Generated files moved from OLD to NEW in a new template version: the project's own edits
of each OLD follow it to its NEW. Run by copier's `_migrations` in both stages of an update:

    migrate_moved_file.py before ANSWERS_FILE OLD NEW [OLD NEW ...]
    migrate_moved_file.py after  ANSWERS_FILE OLD NEW [OLD NEW ...]

OLD and NEW may name answers as `{project_slug}`; they are filled in from the answers file
(copier renders "before" migration commands without the answers, so `{{ }}` would be empty).

copier deletes files that the new version no longer generates, edits included. So, before the
update, this renders the old template version (the answers file's _src_path at _commit, no
tasks) to get OLD as it was generated, and saves it with the project's OLD when the two differ.
After the update, `git merge-file` replays the project's edits (generated OLD -> project's OLD)
onto the new NEW; where template and project changed the same lines, the usual conflict
markers appear in NEW. Nothing is saved when OLD was not edited, so the new NEW stays as is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml


def state_dir(old: str) -> Path:
    git_path = subprocess.run(
        ["git", "rev-parse", "--git-path", "berth-moved-files"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(git_path) / old.replace("/", "%")


def render_old_version(answers_file: Path, olds: list[str]) -> dict[str, bytes]:
    """Each of `olds` as the project's template version generated it (absent: not generated)."""
    answers = yaml.safe_load(answers_file.read_text())
    data = {k: v for k, v in answers.items() if not k.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="berth-move-") as tmp:
        data_file = Path(tmp) / "answers.yml"
        data_file.write_text(yaml.safe_dump(data))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "copier",
                "copy",
                "--quiet",
                "--defaults",
                "--skip-tasks",
                "--data-file",
                str(data_file),
                "--vcs-ref",
                str(answers["_commit"]),
                str(answers["_src_path"]),
                str(Path(tmp) / "old"),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            sys.exit(
                f"berth: could not render version {answers['_commit']} to carry your edits "
                f"of {', '.join(olds)} over:\n{result.stderr}"
            )
        rendered = {old: Path(tmp) / "old" / old for old in olds}
        return {old: path.read_bytes() for old, path in rendered.items() if path.is_file()}


def before(answers_file: Path, olds: list[str]) -> None:
    present = [old for old in olds if Path(old).is_file()]
    if not present:
        return
    generated = render_old_version(answers_file, present)
    for old in present:
        project_copy = Path(old)
        if old not in generated or generated[old] == project_copy.read_bytes():
            continue  # not edited (or not generated): the new file needs nothing from it
        saved = state_dir(old)
        saved.mkdir(parents=True, exist_ok=True)
        (saved / "generated").write_bytes(generated[old])
        shutil.copy2(project_copy, saved / "edited")


def after(old: str, new: str) -> None:
    saved = state_dir(old)
    if not (saved / "edited").is_file():
        return
    target = Path(new)
    if not target.is_file():  # the new version does not generate it for these answers
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(saved / "edited", target)
    else:
        merged = subprocess.run(
            [
                "git",
                "merge-file",
                "-L",
                "after updating",
                "-L",
                f"generated {old}",
                "-L",
                f"your {old}",
                str(target),
                str(saved / "generated"),
                str(saved / "edited"),
            ],
            capture_output=True,
            text=True,
        )
        if merged.returncode < 0 or merged.returncode > 127:
            sys.exit(f"berth: merging your edits of {old} into {new} failed: {merged.stderr}")
        if merged.returncode:
            print(
                f"berth: {new}: your edits of {old} conflict with the update; "
                "resolve the conflict markers"
            )
    Path(old).unlink(missing_ok=True)
    shutil.rmtree(saved)
    print(f"berth: {old} moved to {new}; your edits came along")


def main(argv: list[str]) -> int:
    if len(argv) < 4 or len(argv) % 2 or argv[0] not in ("before", "after"):
        print(__doc__, file=sys.stderr)
        return 2
    stage, answers_file = argv[0], Path(argv[1])
    answers = yaml.safe_load(answers_file.read_text())
    paths = [path.format(**answers) for path in argv[2:]]
    moves = list(zip(paths[::2], paths[1::2], strict=True))
    if stage == "before":
        before(answers_file, [old for old, _ in moves])
    else:
        for old, new in moves:
            after(old, new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
