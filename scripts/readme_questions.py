"""Write the README's question table from copier.yml (tests/test_readme_commands.py fails on drift).

    .venv/bin/python scripts/readme_questions.py          rewrite the table in README.md
    .venv/bin/python scripts/readme_questions.py --check  exit 1 if README.md is out of date

copier.yml decides which questions there are, their order, their choices and their defaults; the
table's last column ("What it changes") is prose kept from README.md, one cell per question. A new
question gets a row with an empty last column to fill in; a removed one loses its row.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from copier._template import load_template_config  # copier.yml with its !include

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN = "<!-- The question table is written by scripts/readme_questions.py from copier.yml. -->"
END = "<!-- End of the question table. -->"
HEADER = "| Question | Choices | Default | What it changes |\n|---|---|---|---|"

# What a free-text answer may be (its validator in copier.yml says it exactly).
TEXT_KINDS = {
    "project_name": "text",
    "project_slug": "Python identifier",
    "description": "text",
    "author_name": "text",
    "author_email": "email",
    "registry": "text (host/namespace)",
    "http_port": "1024-65535",
}
# Defaults that copier.yml computes from other answers, in words.
COMPUTED_DEFAULTS = {
    "project_slug": "derived from the name",
    "author_name": "`<project_name> team`",
}
# When a question is asked only with other answers, in words.
ASKED_ONLY = {
    "admin_ui": "with a database server",
    "ocr_languages": "with `ocr`",
}


def questions() -> dict[str, dict]:
    """copier.yml's questions a user answers, in order (not its tables or computed values)."""
    config = load_template_config(ROOT / "copier.yml")
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and isinstance(spec, dict) and spec.get("when") is not False
    }


def backticked(values) -> str:
    return ", ".join(f"`{value}`" for value in values)


def choices_cell(name: str, spec: dict) -> str:
    notes = []
    if "choices" in spec:
        values = spec["choices"]
        cell = backticked(values.values() if isinstance(values, dict) else values)
        if spec.get("multiselect"):
            notes.append("several")
    elif spec["type"] == "bool":
        cell = "yes / no"
    else:
        cell = TEXT_KINDS[name]
    if "when" in spec:
        notes.append(f"asked only {ASKED_ONLY[name]}")
    return f"{cell} ({'; '.join(notes)})" if notes else cell


def default_cell(name: str, spec: dict) -> str:
    if "default" not in spec:
        return "(required)"
    value = spec["default"]
    if isinstance(value, str) and "{{" in value:
        return COMPUTED_DEFAULTS[name]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return backticked(value)
    return f"`{value}`" if value != "" else "empty"


def described(readme: str) -> dict[str, str]:
    """The last column of the table in README.md, by question."""
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    cells = {}
    for line in table.splitlines():
        if row := re.fullmatch(r"\| `(\w+)` \|.*?\|.*?\| (.*) \|", line):
            cells[row[1]] = row[2]
    return cells


def table(readme: str) -> str:
    descriptions = described(readme)
    rows = [
        f"| `{name}` | {choices_cell(name, spec)} | {default_cell(name, spec)} | "
        f"{descriptions.get(name, '')} |"
        for name, spec in questions().items()
    ]
    return "\n".join([BEGIN, "", HEADER, *rows, "", END])


def updated(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + table(readme) + readme[end:]


def main(argv: list[str]) -> int:
    readme = README.read_text()
    new = updated(readme)
    if "--check" in argv:
        if new != readme:
            print(
                "README.md's question table differs from copier.yml: "
                "run .venv/bin/python scripts/readme_questions.py",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
