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


def is_safe_stem(name: object) -> bool:
    """A clip id names files: [A-Za-z0-9_.-]+ and not starting with '.', so it can never
    name a path outside its folder, '.', '..' or a hidden (temporary) file."""
    return isinstance(name, str) and bool(SAFE_STEM.match(name)) and not name.startswith(".")


def check_clip_id(clip_id: str, where: str) -> None:
    if not is_safe_stem(clip_id):
        raise CorpusError(f"{where}: clip_id {clip_id!r} is not a safe file stem "
                          f"([A-Za-z0-9_.-]+, not starting with '.')")


def read_clips(path: str | Path, split_seed: int | None = None) -> pd.DataFrame:
    """Load clips.tsv, checking columns, ids, splits, durations and audio file names.

    Line numbers in errors are 1-based file lines (line 1 is the header). A table without a
    `split` column gets a seeded split per category (`data.corpus.splits.assign_splits`) when
    `split_seed` is given; without a seed the column is required. An optional `file` column
    names each clip's audio, relative to the table's folder (empty: found by clip id).
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: corpus table not found")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder; expected the corpus table clips.tsv")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"clip_id": str, "category": str, "description": str, "file": str},
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        # pandas names the line ("Expected 5 fields in line 3, saw 6"); say which file
        raise CorpusError(f"{path}: not a tab-separated table ({str(error).strip()})") from None
    required = [c for c in CLIP_COLUMNS if c != "split" or split_seed is None]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CorpusError(f"{path}: missing column(s) {missing}; expected {required}"
                          f"{' (split optional)' if split_seed is not None else ''}")
    for column in ("clip_id", "category", "description"):
        table[column] = table[column].astype(str)
    assigned = "split" not in table.columns
    for row, record in enumerate(table.itertuples(index=False), start=2):
        where = f"{path}:{row}"
        check_clip_id(record.clip_id, where)
        if not assigned and record.split not in SPLITS:
            raise CorpusError(f"{where}: split {record.split!r} is not one of {SPLITS}")
        if not str(record.category).strip():
            raise CorpusError(f"{where}: empty category")
        if "file" in table.columns:
            check_file_name(str(record.file), where)
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
    if assigned:
        from .splits import assign_splits

        table["split"] = assign_splits(table["category"], seed=split_seed)
    return table[CLIP_COLUMNS + [c for c in table.columns if c not in CLIP_COLUMNS]]


def check_file_name(name: str, where: str) -> None:
    """A `file` entry must stay inside the corpus folder: relative, no '..', no backslashes."""
    if not name:
        return
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ":" in parts[0] or ".." in parts or "" in parts:
        raise CorpusError(f"{where}: file {name!r} is not a relative path inside the corpus folder "
                          "(use / between folders, no '..')")


def label_text(category: str) -> str:
    """The text of a label query for a category name ('phone_ring' -> 'phone ring')."""
    return category.replace("_", " ").strip().lower()


def select_categories(clips: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """Keep only the listed categories (all when the list is empty); unknown names are an error."""
    if not categories:
        return clips
    unknown = sorted(set(categories) - set(clips["category"]))
    if unknown:
        raise ValueError(f"corpus.categories: {unknown} not in the corpus; it has {sorted(clips['category'].unique())}")
    return clips[clips["category"].isin(categories)]
