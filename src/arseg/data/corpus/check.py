"""Check and decode every clip of a corpus before anything is built from it.

This is the one place that reads the corpus's own audio files: any format soundfile or
librosa reads (WAV, FLAC, OGG, MP3, ...), any rate, any channel count. Each accepted clip is
written as mono 16-bit WAV at the workflow's sample rate to `<out>/<clip_id>.wav`, and every
later step reads those.

A clip's audio is its table's `file` entry (relative to the table's folder) when the table has
one, else the first of `audio/<clip_id>.<ext>` for the extensions in AUDIO_EXTENSIONS.

What happens to a bad clip (the rest of the corpus goes on; rejected.tsv lists each case,
naming the table line and the audio file):

| problem                                   | action |
|-------------------------------------------|--------|
| audio file missing, unreadable, truncated | skip, recorded in rejected.tsv |
| empty file or silent clip                 | skip, recorded |
| NaN or Inf samples                        | skip, recorded |
| other sample rate or several channels     | keep: resampled / downmixed, noted |
| duration in clips.tsv differs from audio  | keep, duration taken from the audio, noted |
| the same audio file as an earlier clip    | keep, noted |
| empty description                         | keep (no description queries for it), noted |
| bad table (columns, fields, ids, splits)  | stop: `read_clips` names file and line |
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from arseg.io.audio import AudioError, read_mono, write_wav

from .table import SPLITS, CorpusError, clip_lines, find_audio

# Columns the checked table adds; the corpus's own table must not hold them.
ADDED_COLUMNS = ("note", "source_file")
SILENCE_PEAK = 1e-4  # about -80 dBFS
REJECTED_COLUMNS = ["clip_id", "problem", "detail"]


def check_clip(path, sample_rate: int) -> tuple[str | None, str, np.ndarray | None]:
    """(problem or None, detail, mono audio at sample_rate) for one audio file."""
    try:
        audio, meta = read_mono(path, sample_rate)
    except AudioError as error:
        return error.kind, str(error), None
    if meta.cut_short:
        return "truncated", f"{path}: {meta.cut_short}", None
    if np.abs(audio).max() < SILENCE_PEAK:
        return "silent", f"{path} peaks below {SILENCE_PEAK:g}", None
    notes = []
    if meta.sample_rate != sample_rate:
        notes.append(f"resampled from {meta.sample_rate} Hz")
    if meta.channels > 1:
        notes.append(f"downmixed from {meta.channels} channels")
    return None, "; ".join(notes), audio


def check_corpus(clips: pd.DataFrame, corpus_dir, sample_rate: int, out_audio=None,
                 table_path=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accepted clips with a `note` column, rejected clips with problem and detail).

    corpus_dir: the folder of the corpus table (clips' `file` entries and audio/ are in it).
    out_audio: where each accepted clip goes as <clip_id>.wav (mono, 16-bit, sample_rate);
    None checks only. table_path: named with the line in each rejected clip's detail.
    """
    corpus_dir = Path(corpus_dir)
    added = [c for c in ADDED_COLUMNS if c in clips.columns]
    if added:
        raise CorpusError(f"{table_path or corpus_dir}: column {added[0]!r} is one the checked table adds; rename it")
    lines = {}
    if table_path is not None:  # the table's own line of each clip, for the report
        lines = {clip_id: f"{table_path}:{line}: " for clip_id, line in clip_lines(table_path).items()}
    if out_audio is not None:
        Path(out_audio).mkdir(parents=True, exist_ok=True)
    has_file = "file" in clips.columns
    accepted, rejected, read_from = [], [], {}
    for clip in tqdm(clips.itertuples(index=False), total=len(clips), desc="check corpus", unit="clip"):
        path, found_note = find_audio(corpus_dir, clip.clip_id, str(clip.file) if has_file else "")
        where = lines.get(clip.clip_id, "")
        if found_note.startswith("no audio/"):
            rejected.append([clip.clip_id, "missing", f"{where}{corpus_dir}: {found_note}"])
            continue
        problem, detail, audio = check_clip(path, sample_rate)
        if problem:
            rejected.append([clip.clip_id, problem, f"{where}{detail}"])
            continue
        duration = len(audio) / sample_rate
        notes = [n for n in (found_note, detail) if n]
        if abs(duration - clip.duration) > 0.05:
            notes.append(f"duration {clip.duration:g} s in the table, {duration:.3f} s in the audio")
        if not str(clip.description).strip():
            notes.append("empty description: no description queries")
        first = read_from.setdefault(path.resolve(), clip.clip_id)
        if first != clip.clip_id:  # the same sound twice, perhaps in two splits
            notes.append(f"the same audio file as clip {first}")
        if out_audio is not None:
            write_wav(Path(out_audio) / f"{clip.clip_id}.wav", audio, sample_rate)
        row = clip._asdict()
        if has_file:  # later steps read <out_audio>/<clip_id>.wav; keep where it came from
            row["source_file"] = row.pop("file") or str(path.relative_to(corpus_dir))
        accepted.append({**row, "duration": round(duration, 3), "note": "; ".join(notes)})
    columns = [("source_file" if c == "file" else c) for c in clips.columns] + ["note"]
    return pd.DataFrame(accepted, columns=columns), pd.DataFrame(rejected, columns=REJECTED_COLUMNS)


def check_usable(accepted: pd.DataFrame, rejected: pd.DataFrame, table_path) -> None:
    """Stop, saying why, when the clips kept cannot make the workflow's queries: none at all
    (each rejected clip's problem is listed here, as the failed rule's outputs, rejected.tsv
    among them, are removed), a single category (a query for an absent sound names
    another category of the corpus), or a split with no clip (each makes its own mixtures)."""
    if accepted.empty:
        lines = [f"{r.clip_id}: {r.problem}: {r.detail}" for r in rejected.head(20).itertuples()]
        more = [f"... and {len(rejected) - 20} more"] if len(rejected) > 20 else []
        raise CorpusError(f"{table_path}: no usable clip; the {len(rejected)} rejected:\n  "
                          + "\n  ".join(lines + more))
    categories = sorted(accepted["category"].unique())
    if len(categories) < 2:
        raise CorpusError(f"{table_path}: every usable clip is of one category ({categories[0]}); the workflow "
                          "needs two or more, as it also asks for sounds that are absent")
    empty = [split for split in SPLITS if not (accepted["split"] == split).any()]
    if empty:
        counts = accepted["split"].value_counts()
        held = ", ".join(f"{split} {counts[split]}" for split in SPLITS if split in counts)
        raise CorpusError(f"{table_path}: no usable clip in the {' and '.join(empty)} split (usable clips: {held}); "
                          "the workflow trains, chooses and tests on clips of its own in each of train, val, test. "
                          "A folder corpus: give the table's split column clips of each, or leave the column out "
                          "and corpus.split_seed assigns a 60/20/20 split per category; otherwise choose "
                          "categories (corpus.categories) with usable clips in each split")


def split_gaps(clips: pd.DataFrame) -> list[str]:
    """A line per category that has no clip in some split (a category of fewer than three
    clips cannot be split 60/20/20): it is then never asked for there."""
    gaps = []
    for category, splits in clips.groupby("category")["split"]:
        missing = [s for s in SPLITS if s not in set(splits)]
        if missing:
            gaps.append(f"category {category!r}: no clip in {', '.join(missing)} ({len(splits)} accepted)")
    return gaps
