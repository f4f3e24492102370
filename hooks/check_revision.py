"""Warn at copy time when the project records a template revision that `copier update` will not
find later: copier generated it from uncommitted template changes, which it committed in a
temporary clone only. The answers file then holds e.g. `1.2.0-3-gabc1234`, and every future
update fails with "Unknown revision". Generating from a commit of the template avoids it.

usage: check_revision.py COMMIT SRC_PATH
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    commit, src_path = (argv + ["", ""])[:2]
    described = re.fullmatch(r".+-\d+-g([0-9a-f]{7,40})", commit)
    if not described or not Path(src_path).is_dir():
        return 0  # a tag, or a remote template whose history is not at hand
    found = subprocess.run(
        ["git", "-C", src_path, "cat-file", "-e", f"{described[1]}^{{commit}}"], capture_output=True
    )
    if found.returncode == 0:
        return 0
    print(
        f"\nberth: warning: this project records template revision {commit!r}, made from "
        f"uncommitted changes in {src_path}.\n"
        '  That revision exists nowhere, so `copier update` will fail with "Unknown revision".\n'
        "  Commit (and tag) the template, then generate the project again:\n"
        f"    copier copy --trust {src_path} DEST\n",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
