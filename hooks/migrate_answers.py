"""Answer migrations, run by copier's `_migrations` before an update (stage "before"), when
the answers file is re-read afterwards.

usage: migrate_answers.py ANSWERS_FILE rename OLD NEW
       migrate_answers.py ANSWERS_FILE keep NAME VALUE

rename  a question was renamed: the recorded answer moves from OLD to NEW.
keep    a question's default changed (or a new question's default differs from what older
        versions did): projects that never recorded NAME keep VALUE (parsed as YAML), so only
        new projects get the new default.

Idempotent: running it again (or on a project that already has NEW/NAME) changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HEADER = "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in ("rename", "keep"):
        print(__doc__, file=sys.stderr)
        return 2
    path, action, first, second = Path(argv[0]), argv[1], argv[2], argv[3]
    if not path.is_file():
        print(f"berth: answers file {path} not found; nothing to migrate", file=sys.stderr)
        return 1
    answers = yaml.safe_load(path.read_text()) or {}
    if action == "rename":
        if first not in answers or second in answers:
            return 0
        answers = {(second if key == first else key): value for key, value in answers.items()}
        print(f"berth: answer '{first}' is now '{second}' ({answers[second]!r})")
    else:
        if first in answers:
            return 0
        answers[first] = yaml.safe_load(second)
        print(f"berth: keeping {first}={answers[first]!r} (the new default is for new projects)")
    path.write_text(HEADER + yaml.safe_dump(answers, sort_keys=False, allow_unicode=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
