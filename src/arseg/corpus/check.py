"""Check every clip of a corpus before anything is built from it.

What happens to a bad clip (the rest of the corpus goes on; the report lists each case):

| problem                                   | action |
|-------------------------------------------|--------|
| audio file missing, unreadable, truncated | skip, recorded in rejected.tsv |
| empty file or silent clip                 | skip, recorded |
| NaN or Inf samples                        | skip, recorded |
| other sample rate or several channels     | keep: resampled / downmixed when mixed, noted |
| duration in clips.tsv differs from audio  | keep, duration taken from the audio, noted |
| empty description                         | keep (no description queries for it), noted |
| bad table (columns, ids, splits)          | stop: `read_clips` names file and line |
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

SILENCE_PEAK = 1e-4  # about -80 dBFS
REJECTED_COLUMNS = ["clip_id", "problem", "detail"]


def check_clip(path, sample_rate: int) -> tuple[str | None, str, float | None]:
    """(problem or None, detail, duration in seconds) for one audio file."""
    if not path.exists():
        return "missing", f"{path} does not exist", None
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as error:  # libsndfile's errors vary by format and damage
        return "unreadable", f"{path}: {error}", None
    if len(audio) == 0:
        return "empty", f"{path} has no samples", None
    if not np.isfinite(audio).all():
        return "non-finite", f"{path} has NaN or Inf samples", None
    if np.abs(audio).max() < SILENCE_PEAK:
        return "silent", f"{path} peaks below {SILENCE_PEAK:g}", None
    notes = []
    if rate != sample_rate:
        notes.append(f"resampled from {rate} Hz")
    if audio.shape[1] > 1:
        notes.append(f"downmixed from {audio.shape[1]} channels")
    return None, "; ".join(notes), len(audio) / rate


def check_corpus(clips: pd.DataFrame, audio_dir, sample_rate: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accepted clips with a `note` column, rejected clips with problem and detail)."""
    from pathlib import Path

    audio_dir = Path(audio_dir)
    accepted, rejected = [], []
    for clip in tqdm(clips.itertuples(index=False), total=len(clips), desc="check corpus", unit="clip"):
        problem, detail, duration = check_clip(audio_dir / f"{clip.clip_id}.wav", sample_rate)
        if problem:
            rejected.append([clip.clip_id, problem, detail])
            continue
        notes = [detail] if detail else []
        if abs(duration - clip.duration) > 0.05:
            notes.append(f"duration {clip.duration:g} s in the table, {duration:.3f} s in the audio")
        if not str(clip.description).strip():
            notes.append("empty description: no description queries")
        accepted.append({**clip._asdict(), "duration": round(duration, 3), "note": "; ".join(notes)})
    columns = list(clips.columns) + ["note"]
    return pd.DataFrame(accepted, columns=columns), pd.DataFrame(rejected, columns=REJECTED_COLUMNS)
