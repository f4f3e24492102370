"""Create or complete the project's git-ignored `.env` from `.env.example`.

    sync_env.py [EXAMPLE TARGET]    (default: .env.example .env)

The same for any other example/secrets pair, e.g. a Kubernetes overlay's `secrets.env`.
Run by copier in the project directory on copy and on every update. It only ever *adds*
variables that `.env` lacks (with their comments); values already in `.env` are never changed,
so generated secrets survive every update. A variable whose comment block says `Secret: yes`
gets a fresh random value instead of the example's placeholder.
"""

from __future__ import annotations

import re
import secrets
import sys
from pathlib import Path

ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def example_entries(text: str) -> list[tuple[str, list[str], str]]:
    """(name, comment lines, value) for every assignment, with the comments right above it."""
    entries, comments = [], []
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            entries.append((match[1], comments, match[2]))
            comments = []
        elif line.startswith("#"):
            comments.append(line)
        else:
            comments = []
    return entries


def defined_names(text: str) -> set[str]:
    return {m[1] for line in text.splitlines() if (m := ASSIGNMENT.match(line.strip()))}


def main() -> None:
    example, env = (
        Path(a) for a in (sys.argv[1:3] if len(sys.argv) == 3 else (".env.example", ".env"))
    )
    if not example.exists():
        return
    existing = env.read_text() if env.exists() else ""
    have = defined_names(existing)
    added = []
    for name, comments, value in example_entries(example.read_text()):
        if name in have:
            continue
        if any("Secret: yes" in c for c in comments):
            value = secrets.token_urlsafe(32)
        added.append("\n".join([*comments, f"{name}={value}"]))
    if not added:
        return
    header = (
        ""
        if existing
        else (
            "# Local settings and secrets for this checkout. Git-ignored: never commit this file.\n"
            f"# Created from {example.name} by berth; "
            "`copier update` only adds missing variables.\n\n"
        )
    )
    separator = (
        ""
        if not existing or existing.endswith("\n\n")
        else ("\n" if existing.endswith("\n") else "\n\n")
    )
    env.write_text(existing + separator + header + "\n\n".join(added) + "\n")
    env.chmod(0o600)


if __name__ == "__main__":
    main()
