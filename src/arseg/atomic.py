"""Atomic file writes: a killed job never leaves a file that looks finished.

Every writer goes to a temporary file in the destination folder, then renames it
into place (rename is atomic on POSIX within one file system).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or (path.suffix + ".tmp")
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_tsv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as TSV (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono/multichannel float audio as 16-bit PCM WAV, atomically.

    Encoded in memory and written with one call: libsndfile writing to a path issues
    dozens of small writes and an fsync per file, which dominated writing many mixtures.
    """
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV")
    with atomic_path(path, suffix=".tmp.wav") as tmp:
        tmp.write_bytes(buffer.getbuffer())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".tmp.npy") as tmp:
        np.save(tmp, array)
