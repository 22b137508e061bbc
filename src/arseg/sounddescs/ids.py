"""Clip ids: safe file stems only, so an id can never name a path outside its folder."""
from __future__ import annotations

import re

SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")


class UnsafeIdError(ValueError):
    """A clip id that is not a safe file stem."""


def check_clip_id(clip_id: object, where: str = "") -> str:
    """Return `clip_id` if it is a safe file stem, else raise UnsafeIdError.

    Safe means `[A-Za-z0-9_.-]+` and not starting with '.', which also rules out
    '.', '..' and hidden names (our temporary files start with '.').
    """
    if not isinstance(clip_id, str) or not SAFE_ID.fullmatch(clip_id) or clip_id.startswith("."):
        prefix = f"{where}: " if where else ""
        raise UnsafeIdError(
            f"{prefix}unsafe clip id {clip_id!r}: a clip id must match [A-Za-z0-9_.-]+ "
            "and must not start with '.'"
        )
    return clip_id
