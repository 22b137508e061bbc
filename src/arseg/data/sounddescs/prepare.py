"""Turn downloaded SoundDescs WAVs into corpus clips.

Each source WAV is decoded, averaged to mono and resampled to the corpus rate (`io.audio.read_mono`),
then cut into event-sized excerpts (SoundDescs clips average about two minutes):

- mode 'longest_active': one excerpt, the longest region whose frame energy is
  within `threshold_db` of the clip's loudest frame (and above `floor_db` dBFS),
  short gaps (< merge_gap_s) bridged, cut to the most energetic `max_seconds`,
  widened to at least `min_seconds`.
- mode 'n_excerpts': up to `n_excerpts` non-overlapping windows of
  `excerpt_seconds`, greedily the most energetic ones that contain active frames.

Excerpt k of source <id> becomes clip `<id>_<k>` (k in time order).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from arseg.data.corpus.table import CLIP_COLUMNS, check_clip_id
from arseg.io.atomic import write_tsv
from arseg.io.audio import AudioError, read_mono, write_wav

EXCERPT_COLUMNS = CLIP_COLUMNS + ["source_id", "start", "end"]
EXCERPT_DEFAULTS = dict(
    mode="longest_active", max_seconds=10.0, min_seconds=1.0, threshold_db=-30.0, floor_db=-60.0,
    merge_gap_s=0.5, frame_s=0.05, n_excerpts=3, excerpt_seconds=5.0,
)
MODES = ("longest_active", "n_excerpts")


def excerpt_options(excerpt: Mapping | None = None) -> dict:
    """Defaults overlaid with `excerpt`; unknown keys and modes are errors, not ignored."""
    excerpt = dict(excerpt or {})
    unknown = set(excerpt) - set(EXCERPT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown excerpt option(s) {sorted(unknown)}; known: {sorted(EXCERPT_DEFAULTS)}")
    opts = {**EXCERPT_DEFAULTS, **excerpt}
    if opts["mode"] not in MODES:
        raise ValueError(f"excerpt mode must be one of {MODES}, got {opts['mode']!r}")
    for key in ("max_seconds", "excerpt_seconds", "frame_s"):
        if not opts[key] > 0:
            raise ValueError(f"excerpt option {key} must be > 0, got {opts[key]!r}")
    if opts["n_excerpts"] < 1:
        raise ValueError(f"excerpt option n_excerpts must be >= 1, got {opts['n_excerpts']!r}")
    return opts


def frame_power(audio: np.ndarray, hop: int) -> np.ndarray:
    """Mean square per frame of `hop` samples (last frame zero-padded)."""
    n = -(-len(audio) // hop)
    padded = np.zeros(n * hop, dtype=np.float64)
    padded[: len(audio)] = audio
    return (padded.reshape(n, hop) ** 2).mean(axis=1)


def active_mask(power: np.ndarray, threshold_db: float, floor_db: float) -> np.ndarray:
    db = 10 * np.log10(power + 1e-12)
    return db >= max(db.max() + threshold_db, floor_db)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def longest_active(audio, sr, *, max_seconds, min_seconds, threshold_db, floor_db, merge_gap_s, frame_s, **_):
    """One (start, end) sample span, or [] for a silent clip."""
    hop = max(1, round(frame_s * sr))
    power = frame_power(audio, hop)
    mask = active_mask(power, threshold_db, floor_db)
    if not mask.any():
        return []
    runs = _runs(mask)
    for (_, e0), (s1, _) in zip(runs, runs[1:]):  # bridge short pauses inside one event
        if s1 - e0 < merge_gap_s / frame_s:
            mask[e0:s1] = True
    s, e = max(_runs(mask), key=lambda r: (r[1] - r[0], -r[0]))  # longest, then earliest
    width = max(1, round(max_seconds / frame_s))
    if e - s > width:  # keep the most energetic window of the region
        sums = np.convolve(power[s:e], np.ones(width), mode="valid")
        s += int(np.argmax(sums))
        e = s + width
    start, end = s * hop, min(e * hop, len(audio))
    need = round(min_seconds * sr) - (end - start)
    if need > 0:  # widen around the centre, staying inside the clip
        start = max(0, start - need // 2)
        end = min(len(audio), start + round(min_seconds * sr))
        start = max(0, end - round(min_seconds * sr))
    return [(start, end)]


def most_active(audio, sr, *, n_excerpts, excerpt_seconds, threshold_db, floor_db, frame_s, **_):
    """Up to n non-overlapping (start, end) spans of excerpt_seconds, in time order."""
    hop = max(1, round(frame_s * sr))
    length = round(excerpt_seconds * sr)
    power = frame_power(audio, hop)
    mask = active_mask(power, threshold_db, floor_db)
    if not mask.any():
        return []
    if len(audio) <= length:
        return [(0, len(audio))]
    width = max(1, round(excerpt_seconds / frame_s))
    last = (len(audio) - length) // hop  # windows must fit inside the clip
    energy = np.convolve(power, np.ones(width), mode="valid")[: last + 1]
    active = np.convolve(mask.astype(float), np.ones(width), mode="valid")[: last + 1] > 0
    energy = np.where(active, energy, -np.inf)
    picks = []
    for _ in range(int(n_excerpts)):  # greedy, at most n rounds
        best = int(np.argmax(energy))
        if not np.isfinite(energy[best]):
            break
        picks.append(best * hop)
        energy[max(0, best - width + 1): best + width] = -np.inf  # no overlap with this pick
    return [(s, s + length) for s in sorted(picks)]


def excerpt_spans(audio: np.ndarray, sr: int, excerpt: Mapping | None = None) -> list[tuple[int, int]]:
    opts = excerpt_options(excerpt)
    pick = longest_active if opts["mode"] == "longest_active" else most_active
    return pick(audio, sr, **opts)


def prepare_clips(table: pd.DataFrame, raw_dir, audio_dir, *, sample_rate: int,
                  excerpt: Mapping | None = None, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `audio_dir/<id>_<k>.wav` for each clip-table row with a downloaded WAV.

    Returns (excerpts with EXCERPT_COLUMNS, skipped sources with source_id/reason).
    Missing, undecodable or silent sources are skipped, not fatal.
    """
    opts = excerpt_options(excerpt)
    raw_dir, audio_dir = Path(raw_dir), Path(audio_dir)
    rows, skipped = [], []
    for src in tqdm(table.itertuples(index=False), total=len(table), desc="prepare sounddescs",
                    unit="clip", disable=not progress):
        source_id = check_clip_id(src.clip_id, "clip table")
        path = raw_dir / f"{source_id}.wav"
        if not path.exists():
            skipped.append((source_id, f"no downloaded audio {path}"))
            continue
        try:
            audio = read_mono(path, sample_rate)[0]
        except Exception as e:  # a broken file costs one clip, not the corpus
            silent = isinstance(e, AudioError) and e.kind == "silent"  # as a silent excerpt search below
            skipped.append((source_id, "silent: no active region" if silent else
                            f"cannot decode {path}: {type(e).__name__}: {e}"))
            continue
        spans = excerpt_spans(audio, sample_rate, opts)
        if not spans:
            skipped.append((source_id, "silent: no active region"))
        for k, (start, end) in enumerate(spans):
            clip_id = f"{source_id}_{k}"
            # clip to the 16-bit range so loud resampled peaks do not wrap around
            write_wav(audio_dir / f"{clip_id}.wav", np.clip(audio[start:end], -1.0, 32767 / 32768), sample_rate)
            rows.append((clip_id, src.category, src.description, (end - start) / sample_rate, src.split,
                         source_id, start / sample_rate, end / sample_rate))
    return (pd.DataFrame(rows, columns=EXCERPT_COLUMNS),
            pd.DataFrame(skipped, columns=["source_id", "reason"]))


def write_corpus(corpus_dir, excerpts: pd.DataFrame, skipped: pd.DataFrame | None = None) -> None:
    """clips.tsv (the corpus contract) plus excerpts.tsv (provenance) and skipped.tsv.

    clips.tsv is written last: its presence means the folder is complete.
    """
    corpus_dir = Path(corpus_dir)
    excerpts = excerpts.sort_values(["source_id", "start"], kind="stable", ignore_index=True)
    write_tsv(corpus_dir / "excerpts.tsv", excerpts[["clip_id", "source_id", "start", "end"]])
    if skipped is not None:
        write_tsv(corpus_dir / "skipped.tsv", skipped)
    write_tsv(corpus_dir / "clips.tsv", excerpts[CLIP_COLUMNS])


EXCERPT_TEXT = {"clip_id": str, "category": str, "description": str, "split": str, "source_id": str}


def gather_corpus(excerpt_tables, audio_dirs, skipped_tables, corpus_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shards' prepared clips (each shard's excerpts table, audio folder and skipped table,
    as prepare_clips made them) as one corpus folder: every clip's audio linked (copied where
    the file system cannot link) into corpus_dir/audio, then write_corpus. Returns (excerpts,
    skipped); RuntimeError when no clip could be prepared."""
    audio = Path(corpus_dir) / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    parts = []
    for excerpts_path, shard_audio in zip(excerpt_tables, audio_dirs):
        part = pd.read_csv(excerpts_path, sep="\t", dtype=EXCERPT_TEXT, keep_default_na=False)
        for clip_id in part.clip_id:
            link_or_copy(Path(shard_audio) / f"{clip_id}.wav", audio / f"{clip_id}.wav")
        parts.append(part)
    excerpts = pd.concat(parts, ignore_index=True)
    skipped = pd.concat([pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in skipped_tables],
                        ignore_index=True)
    if excerpts.empty:
        raise RuntimeError(f"no SoundDescs clip could be prepared; the reasons are in {list(map(str, skipped_tables))}")
    write_corpus(corpus_dir, excerpts, skipped)
    return excerpts, skipped


def link_or_copy(src: Path, dst: Path) -> None:
    """No second copy of the audio where the file system allows a hard link."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
