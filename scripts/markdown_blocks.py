"""Fenced code blocks of a Markdown document, by the section they are in.

A generated README's commands are found as a reader finds them, by the heading of their section
and their place in it: `scripts/fleet.py` runs a project's local check this way, and berth's
tests run the documented commands the same way (tests/helpers.py).
"""

from __future__ import annotations

import re

HEADING = re.compile(r"(#+) (.*)")
# The README's local check (install, migrate, test, lint): the block before the dev server's,
# the last one of its section.
LOCAL_CHECK = ("Quick start: local", -2)


def fenced_blocks(text: str, language: str = "sh") -> list[tuple[list[str], list[list[str]]]]:
    """[(headings from the top down to a section, [lines of its blocks in `language`]), ...],
    one per section, in order."""
    sections: list[tuple[list[str], list[list[str]]]] = [([], [])]
    fence: str | None = None  # the language of the fenced block we are in
    for line in text.splitlines():
        if fence is None and line.startswith("```"):
            fence = line.removeprefix("```")
            if fence == language:
                sections[-1][1].append([])
        elif fence is not None and line.startswith("```"):
            fence = None
        elif fence == language:
            sections[-1][1][-1].append(line)
        elif fence is None and (heading := HEADING.fullmatch(line)):
            level, title = len(heading[1]), heading[2]
            sections.append((sections[-1][0][: level - 1] + [title], []))
    return sections


def block_at(text: str, heading: str, place: int, language: str = "sh") -> list[str] | None:
    """The lines of the block at `place` (negative: from the end) of the section `heading`."""
    for headings, blocks in fenced_blocks(text, language):
        if headings[-1:] == [heading] and -len(blocks) <= place < len(blocks):
            return blocks[place]
    return None
