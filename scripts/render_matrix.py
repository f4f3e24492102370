"""Render one project per combination of the test matrix, to compare template revisions.

    .venv/bin/python scripts/render_matrix.py OUT [--ref REV]

Writes OUT/<combination>/ for the fast tier's covering set, the docker tier's stacks and the
hostile answers, from this checkout (uncommitted changes included) or from git revision REV.
Copier's tasks are skipped: no lock files, no .env, in seconds. Compare two runs with
`diff -r -x .copier-answers.yml before after`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import copier  # noqa: E402

from matrix import COMBOS, DOCKER_COMBOS, HOSTILE, combo_id  # noqa: E402


def combinations() -> dict[str, dict]:
    named = {}
    for combo in [*COMBOS, *DOCKER_COMBOS]:
        named.setdefault(combo_id(combo), {"project_name": "Acme Notes", **combo})
    named["hostile"] = {"project_name": "Hostile", **HOSTILE}
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--ref", help="git revision of berth (default: the working tree)")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
    for name, answers in combinations().items():
        copier.run_copy(
            str(ROOT),
            args.out / name,
            data=answers,
            defaults=True,
            unsafe=True,
            skip_tasks=True,
            quiet=True,
            vcs_ref=args.ref,
        )
    print(f"{len(combinations())} projects in {args.out}")


if __name__ == "__main__":
    main()
