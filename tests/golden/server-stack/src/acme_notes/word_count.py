"""Background jobs. Run by the worker process; enqueue them from views (see jobs.py)."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def word_stats(text: str) -> dict[str, object]:
    """Count the words of a text and list the most common ones."""
    words = [word.lower() for word in WORD.findall(text)]
    return {
        "words": len(words),
        "unique": len(set(words)),
        "top": Counter(words).most_common(5),
    }
