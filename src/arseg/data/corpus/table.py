"""Read and check a corpus table (clips.tsv) against the corpus contract."""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

CLIP_COLUMNS = ["clip_id", "category", "description", "duration", "split"]
SPLITS = ("train", "val", "test")
SAFE_STEM = re.compile(r"^[A-Za-z0-9_.-]+$")


class CorpusError(ValueError):
    """A corpus table or audio file breaks the contract; the message names file and line."""


# Looked for in this order when a clip has no `file` entry (lower and upper case).
AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "mp3", "opus", "aiff", "aif", "m4a")


def find_audio(corpus_dir: Path, clip_id: str, file: str = "", listing: set[str] | None = None) -> tuple[Path, str]:
    """(the clip's audio file, a note): its `file` entry, or audio/<clip_id>.<ext>; `listing`,
    the names in audio/ if already known (one listing for a whole table, not a look per name)."""
    if file:
        return corpus_dir / file, ""
    found = [corpus_dir / "audio" / f"{clip_id}.{ext}" for e in AUDIO_EXTENSIONS for ext in (e, e.upper())]
    found = [p for p in found if (p.name in listing if listing is not None else p.is_file())]
    if not found:
        return corpus_dir / "audio" / f"{clip_id}.wav", f"no audio/{clip_id}.<{'|'.join(AUDIO_EXTENSIONS)}>"
    note = f"several files for this id; read {found[0].name}" if len(found) > 1 else ""
    return found[0], note


def has_split_column(table_path) -> bool:
    """Whether a corpus table names each clip's split (read from its header line alone, when
    the workflow plans its jobs): then corpus.split_seed changes nothing."""
    try:
        with open(table_path, newline="", encoding="utf-8-sig") as f:
            return "split" in next(csv.reader(f, delimiter="\t"), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def audio_files(table_path, categories: list[str] = ()) -> list[Path]:
    """The audio files a corpus table's clips are read from (those that exist; of the listed
    categories only, as `select_categories` keeps them, when any are listed), so that the
    workflow tracks each file, not the folder: an edited clip reruns what is made from it, a
    stray file beside them or a clip of a category left out nothing. None listed when the
    table cannot be read: the corpus check then says what is wrong with it."""
    table_path = Path(table_path)
    try:
        header, records, _ = read_rows(table_path)
    except (CorpusError, OSError):
        return []
    column = {name: i for i, name in enumerate(header or [])}
    if "clip_id" not in column:
        return []
    audio = table_path.parent / "audio"
    listing = {entry.name for entry in os.scandir(audio) if entry.is_file()} if audio.is_dir() else set()
    found = set()
    for record in records:
        if categories and "category" in column and record[column["category"]] not in categories:
            continue
        file = record[column["file"]] if "file" in column else ""
        try:
            check_file_name(file, str(table_path))
        except CorpusError:
            return []
        path = find_audio(table_path.parent, record[column["clip_id"]], file, listing)[0]
        if path.is_file() if file else path.name in listing:
            found.add(path)
    return sorted(found)


def is_safe_stem(name: object) -> bool:
    """A clip id names files: [A-Za-z0-9_.-]+ and not starting with '.', so it can never
    name a path outside its folder, '.', '..' or a hidden (temporary) file."""
    return isinstance(name, str) and bool(SAFE_STEM.match(name)) and not name.startswith(".")


def check_clip_id(clip_id: str, where: str) -> str:
    """`clip_id` if it is a safe file stem (is_safe_stem), else CorpusError saying where."""
    if not is_safe_stem(clip_id):
        raise CorpusError(f"{where}: clip_id {clip_id!r} is not a safe file stem "
                          f"([A-Za-z0-9_.-]+, not starting with '.')")
    return clip_id


def read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the records and each record's 1-based line in the file, read as the csv
    module reads a tab-separated file (fields in double quotes may hold quotes, as pandas
    writes them). Blank lines are skipped; a record must have the header's number of fields
    and fit on one line (a field over several lines is an unclosed quote). A field that opens
    with a quote must close with one: read loosely, '"Thud" of a door' would lose its quotes."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)  # the error counts after the BOM
        line = raw.count(b"\n", 0, start) + 1
        raise CorpusError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[start:start + 1].hex()}); "
                          "save the table as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True)
    header, records, lines, end = None, [], [], 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if header is None:
                header = record
                continue
            if not any(field.strip() for field in record):
                continue
            if end != start or any("\n" in field or "\r" in field for field in record):
                raise CorpusError(f"{path}:{start}: a field runs over lines {start}-{end}: an unclosed \" quote?")
            if len(record) != len(header):
                raise CorpusError(f"{path}:{start}: {len(record)} fields, the header has {len(header)} "
                                  "(fields are separated by tabs)")
            records.append(record)
            lines.append(start)
    except csv.Error as error:
        if "expected after" in str(error):
            raise CorpusError(f"{path}:{reader.line_num}: a field opens with a \" quote and goes on after "
                              "its closing quote; quote the whole field and double the quotes in it "
                              '("""Thud"" of a door" for "Thud" of a door)') from None
        if "unexpected end of data" in str(error):
            raise CorpusError(f"{path}:{end + 1}: a field runs from here to the end of the table: "
                              "an unclosed \" quote?") from None
        raise CorpusError(f"{path}:{reader.line_num}: not a tab-separated table ({error})") from None
    if header is None:
        raise CorpusError(f"{path}: empty file; expected a header line and one line per clip")
    return header, records, lines


def check_header(path: Path, header: list[str], required: list[str], split_optional: bool) -> None:
    """Missing, misspelt, doubled and empty column names stop with what was expected."""
    missing = [c for c in required if c not in header]
    if missing:
        hint = ("; it has no tab: the table must be tab-separated" if len(header) == 1 and
                any(sep in header[0] for sep in ",;") else f"; its header line reads {header}")
        raise CorpusError(f"{path}: missing column(s) {missing}; expected {required}"
                          f"{' (split optional)' if split_optional else ''}{hint}")
    known = [*CLIP_COLUMNS, "file", "group"]
    for name in header:
        if not name.strip():
            raise CorpusError(f"{path}:1: an empty column name (a stray tab?) in {header}")
        if header.count(name) > 1:
            raise CorpusError(f"{path}:1: column {name!r} appears twice")
        near = [k for k in known if k != name and k == name.strip().lower()]
        if near:
            raise CorpusError(f"{path}:1: column {name!r}: did you mean {near[0]!r}? (column names are "
                              "lower case, without spaces)")


def read_clips(path: str | Path, split_seed: int | None = None) -> pd.DataFrame:
    """Load clips.tsv, checking columns, ids, splits, durations and audio file names.

    Line numbers in errors are 1-based file lines (line 1 is the header). A table without a
    `split` column gets a seeded split per category (`data.corpus.splits.assign_splits`) when
    `split_seed` is given; without a seed the column is required. An optional `file` column
    names each clip's audio, relative to the table's folder (empty: found by clip id); an
    optional `group` column keeps clips of one group (takes of one sound) in one split when
    the split is assigned. Every column is read as text (duration then as a number).
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: corpus table not found")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder; expected the corpus table clips.tsv")
    header, records, lines = read_rows(path)
    required = [c for c in CLIP_COLUMNS if c != "split" or split_seed is None]
    check_header(path, header, required, split_optional=split_seed is not None)
    if not records:
        raise CorpusError(f"{path}: no clips, only a header line")
    table = pd.DataFrame(records, columns=header, dtype=str)
    assigned = "split" not in table.columns
    labels: dict[str, tuple[str, int]] = {}
    for line, record in zip(lines, table.itertuples(index=False)):
        where = f"{path}:{line}"
        check_clip_id(record.clip_id, where)
        if not assigned and record.split not in SPLITS:
            raise CorpusError(f"{where}: split {record.split!r} is not one of {SPLITS}")
        if not record.category.strip():
            raise CorpusError(f"{where}: empty category")
        other, first = labels.setdefault(label_text(record.category), (record.category, line))
        if other != record.category:
            raise CorpusError(f"{where}: category {record.category!r} reads as the same label as {other!r} "
                              f"(line {first}); write them alike")
        if "file" in table.columns:
            check_file_name(record.file, where)
    duplicated = table["clip_id"][table["clip_id"].duplicated()]
    if len(duplicated):
        row = duplicated.index[0]
        raise CorpusError(f"{path}:{lines[row]}: duplicate clip_id {table['clip_id'][row]!r}")
    folded = table["clip_id"].str.lower()
    if folded.duplicated().any():  # <clip_id>.wav files of these would be one file on macOS and Windows
        row = int(folded.duplicated().to_numpy().nonzero()[0][0])
        first = int((folded == folded[row]).to_numpy().nonzero()[0][0])
        raise CorpusError(f"{path}:{lines[row]}: clip_id {table['clip_id'][row]!r} differs from "
                          f"{table['clip_id'][first]!r} (line {lines[first]}) only in case; rename one")
    durations = pd.to_numeric(table["duration"], errors="coerce")
    bad = ~np.isfinite(durations) | (durations <= 0)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise CorpusError(f"{path}:{lines[row]}: duration {table['duration'][row]!r} is not a positive number")
    table["duration"] = durations.astype(float)
    if assigned:
        from .splits import assign_splits

        # a clip without a group is a group of its own
        groups = [g.strip() or f"clip:{c}" for g, c in zip(table["group"], table["clip_id"])] \
            if "group" in table.columns else None
        table["split"] = assign_splits(table["category"], groups, seed=split_seed)
    return table[CLIP_COLUMNS + [c for c in table.columns if c not in CLIP_COLUMNS]]


def clip_lines(path: str | Path) -> dict[str, int]:
    """Each clip id's line in the table (for messages about its audio)."""
    header, records, lines = read_rows(Path(path))
    column = header.index("clip_id")
    return {record[column]: line for record, line in zip(records, lines)}


def check_file_name(name: str, where: str) -> None:
    """A `file` entry must stay inside the corpus folder: relative, no '..', no backslashes."""
    if not name:
        return
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ":" in parts[0] or ".." in parts:
        raise CorpusError(f"{where}: file {name!r} is not a relative path inside the corpus folder "
                          "(use / between folders, no '..')")
    if name.endswith("/"):
        raise CorpusError(f"{where}: file {name!r} names a folder; give the audio file in it")
    if "" in parts:
        raise CorpusError(f"{where}: file {name!r} has an empty folder name (//); write one / between folders")


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
