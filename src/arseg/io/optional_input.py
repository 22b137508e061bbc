"""A rule input that may be absent: an input function gives a path, or nothing, which reaches
the rule script as an empty list (no text embeddings for a label model, no clip embeddings
when no example queries are asked)."""
from __future__ import annotations

import os
from pathlib import Path


def input_paths(value) -> list[Path]:
    """The paths of a rule input given as one path or as a list of them (empty: none)."""
    return [Path(value)] if isinstance(value, (str, os.PathLike)) else [Path(p) for p in value or []]


def optional_input(value) -> Path | None:
    """The path of a rule input given as a path, or as a list of at most one path; None when
    there is none."""
    paths = input_paths(value)
    return paths[0] if paths else None
