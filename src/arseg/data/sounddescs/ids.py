"""Clip ids: safe file stems only (the corpus contract's rule, arseg.data.corpus.table), so an id
can never name a path outside its folder."""
from __future__ import annotations

from arseg.data.corpus.table import is_safe_stem


class UnsafeIdError(ValueError):
    """A clip id that is not a safe file stem."""


def check_clip_id(clip_id: object, where: str = "") -> str:
    """Return `clip_id` if it is a safe file stem, else raise UnsafeIdError."""
    if not is_safe_stem(clip_id):
        prefix = f"{where}: " if where else ""
        raise UnsafeIdError(
            f"{prefix}unsafe clip id {clip_id!r}: a clip id must match [A-Za-z0-9_.-]+ "
            "and must not start with '.'"
        )
    return clip_id
