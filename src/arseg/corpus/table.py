"""Read and check a corpus table (clips.tsv) against the corpus contract."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

CLIP_COLUMNS = ["clip_id", "category", "description", "duration", "split"]
SPLITS = ("train", "val", "test")
SAFE_STEM = re.compile(r"^[A-Za-z0-9_.-]+$")


class CorpusError(ValueError):
    """A corpus table or audio file breaks the contract; the message names file and line."""


def check_clip_id(clip_id: str, where: str) -> None:
    if not SAFE_STEM.match(clip_id) or clip_id in (".", ".."):
        raise CorpusError(f"{where}: clip_id {clip_id!r} is not a safe file stem ([A-Za-z0-9_.-]+)")


def read_clips(path: str | Path) -> pd.DataFrame:
    """Load clips.tsv, checking columns, ids, splits and durations.

    Line numbers in errors are 1-based file lines (line 1 is the header).
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: corpus table not found")
    table = pd.read_csv(path, sep="\t", dtype={"clip_id": str, "category": str, "description": str},
                        keep_default_na=False)
    missing = [c for c in CLIP_COLUMNS if c not in table.columns]
    if missing:
        raise CorpusError(f"{path}: missing column(s) {missing}; expected {CLIP_COLUMNS}")
    for row, record in enumerate(table.itertuples(index=False), start=2):
        where = f"{path}:{row}"
        check_clip_id(record.clip_id, where)
        if record.split not in SPLITS:
            raise CorpusError(f"{where}: split {record.split!r} is not one of {SPLITS}")
        if not str(record.category).strip():
            raise CorpusError(f"{where}: empty category")
    duplicated = table["clip_id"][table["clip_id"].duplicated()]
    if len(duplicated):
        first = duplicated.index[0]
        raise CorpusError(f"{path}:{first + 2}: duplicate clip_id {table['clip_id'][first]!r}")
    durations = pd.to_numeric(table["duration"], errors="coerce")
    bad = durations.isna() | (durations <= 0)
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        raise CorpusError(f"{path}:{first + 2}: duration {table['duration'][first]!r} is not a positive number")
    table["duration"] = durations.astype(float)
    return table[CLIP_COLUMNS + [c for c in table.columns if c not in CLIP_COLUMNS]]


def label_text(category: str) -> str:
    """The text of a label query for a category name ('phone_ring' -> 'phone ring')."""
    return category.replace("_", " ").strip().lower()
