"""`scripts/new DESTINATION [copier options]`: generate a project from this checkout of berth.

Checks what it can before copier writes anything, so a mistake costs a message, not a half
project: the destination must be new or empty, and every `-d question=value` must name a
question and fit its type and choices. A multiselect answer may be given as `eng,deu` (or
as copier's YAML list, `[eng, deu]`). Copier's own errors (e.g. a validator's message) are
shown as one line with the way to pass another answer, without a traceback (BERTH_DEBUG=1
shows it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from copier._template import load_template_config  # copier.yml with its !include

BERTH = Path(__file__).resolve().parents[1]
USAGE = "usage: scripts/new DESTINATION [copier options, e.g. -d database=postgresql]"
TRUE, FALSE = {"true", "yes", "y", "on", "1"}, {"false", "no", "n", "off", "0"}


class Refused(Exception):
    """An answer or destination that copier would choke on; the message says what to do."""


def questions() -> dict[str, dict[str, Any]]:
    data = load_template_config(BERTH / "copier.yml")
    return {
        name: spec
        for name, spec in data.items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("when") is not False
    }


def allowed_values(spec: dict[str, Any]) -> list[str]:
    choices = spec.get("choices") or []
    return [str(v) for v in (choices.values() if isinstance(choices, dict) else choices)]


def checked_answer(name: str, value: str, spec: dict[str, Any]) -> str:
    """`value` for question `name` in the form copier parses, or Refused saying why."""
    kind, allowed = spec.get("type", "str"), allowed_values(spec)
    if spec.get("multiselect"):
        items = value.strip().strip("[]")
        picked = [item.strip().strip("'\"") for item in items.split(",") if item.strip()]
        wrong = [item for item in picked if item not in allowed]
        if wrong:
            raise Refused(
                f"{name}: {', '.join(wrong)} is not one of {', '.join(allowed)}. "
                f"Give several as a list: -d '{name}=[{', '.join(allowed[:2])}]'"
            )
        return f"{name}=[{', '.join(picked)}]"
    if kind == "int":
        try:
            int(value)
        except ValueError:
            raise Refused(f"{name}: {value!r} is not a whole number, e.g. -d {name}=8000") from None
    elif kind == "bool" and value.lower() not in TRUE | FALSE:
        raise Refused(f"{name}: {value!r} is not yes or no: use -d {name}=true or -d {name}=false")
    elif allowed and value not in allowed:
        raise Refused(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return f"{name}={value}"


def checked_options(options: list[str]) -> list[str]:
    """Copier options with every -d/--data answer checked (and multiselects normalised)."""
    known, checked, index = questions(), [], 0
    while index < len(options):
        option = options[index]
        match = re.fullmatch(r"(-d|--data)(?:=(.*))?", option)
        if not match:
            checked.append(option)
            index += 1
            continue
        if match[2] is None:
            index += 1
            if index == len(options):
                raise Refused(f"{option} needs an answer: {option} question=value")
        assignment = options[index] if match[2] is None else match[2]
        name, separator, value = assignment.partition("=")
        if not separator:
            raise Refused(f"{assignment!r} is not question=value (e.g. -d database=postgresql)")
        if name not in known:
            raise Refused(f"there is no question {name!r}: berth asks {', '.join(known)}")
        checked += ["-d", checked_answer(name, value, known[name])]
        index += 1
    return checked


def check_destination(destination: Path) -> None:
    too_long = [part for part in destination.parts if len(part.encode()) > 255]
    if too_long:
        raise Refused(
            f"the folder name {too_long[0][:20]}... is {len(too_long[0].encode())} bytes long: "
            "file systems allow 255. Choose a shorter name (set project_name with -d)."
        )
    if destination.exists() and not destination.is_dir():
        raise Refused(f"{destination} is a file: give a folder for the new project")
    if destination.is_dir() and any(destination.iterdir()):
        entries = sorted(p.name for p in destination.iterdir())
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise Refused(
            f"{destination} is not empty ({shown}): scripts/new only creates new projects, so "
            "nothing of yours is overwritten. Choose a new folder, or update an existing berth "
            "project with `copier update`."
        )


def project_name(destination: Path) -> str:
    words = re.split(r"[-_ ]+", destination.resolve().name)
    return " ".join(word[:1].upper() + word[1:] for word in words if word)


def report_failure(stderr_lines: list[str]) -> None:
    """Copier's error as one line and the way out; the traceback only with BERTH_DEBUG."""
    text = "".join(stderr_lines)
    validation = re.search(r"Validation error for question '([^']+)': (.*)", text)
    if validation:
        question, message = validation[1], validation[2].strip()
        print(f"berth: invalid answer for {question!r}: {message}", file=sys.stderr)
        print(
            f"berth: give another answer: scripts/new DESTINATION -d {question}=VALUE",
            file=sys.stderr,
        )
        return
    last = [line for line in stderr_lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    print(f"berth: copier failed: {(last[-1] if last else text[-500:]).strip()}", file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    destination, options = Path(argv[0]), argv[1:]
    try:
        check_destination(destination)
        options = checked_options(options)
    except Refused as refusal:
        print(f"berth: {refusal}", file=sys.stderr)
        return 2
    if not any(o.startswith("project_name=") for o in options):
        options = ["-d", f"project_name={project_name(destination)}", *options]
    # An absolute template path is recorded in .copier-answers.yml, so `copier update` works
    # later; --vcs-ref HEAD: this checkout as it is (copier would take the newest release tag).
    command = [
        str(Path(sys.executable).parent / "copier"),
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        "HEAD",
        *options,
        str(BERTH),
        str(destination),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines, in_traceback = [], False
    for line in process.stderr:  # copier's progress, passed on as it comes
        lines.append(line)
        in_traceback = in_traceback or line.startswith("Traceback (most recent call last)")
        if os.environ.get("BERTH_DEBUG") or not in_traceback:
            sys.stderr.write(line)
            sys.stderr.flush()
    status = process.wait()
    if status != 0:
        report_failure(lines)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
