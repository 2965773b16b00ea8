"""Numbers in words: a count with its noun, singular or plural, for the sentences the notebooks print."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with thousands separators and ``noun``, plural unless the count is one.

    ``counted(1, "photo")`` is ``"1 photo"``, ``counted(1200, "photo")`` is ``"1,200 photos"``;
    ``plural`` gives an irregular plural (``counted(2, "is", "are")``).
    """
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
