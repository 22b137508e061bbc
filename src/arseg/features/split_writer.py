"""Write one split's features, whatever computes them (log-mel, the pretrained encoder): one
(N, frames, dim) .npy array, a row per mixture, and its index (row -> filename), as
features.store reads them."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from arseg.io import atomic
from arseg.io.audio import AudioInfo, info, read_mono


def write_split(audio_paths: list[Path], out_npy: Path, out_index: Path,
                row_shape: Callable[[AudioInfo], tuple[int, int]], dtype,
                compute: Callable[[np.ndarray, int], np.ndarray], sample_rate: int | None = None,
                batch_size: int = 1, desc: str = "") -> None:
    """compute(audio (B, samples), sample rate) -> (B, *row_shape(first mixture's info)): the
    features of a batch of mixtures. Every mixture of a split has the first's length and `sample_rate` (None: the
    first's rate); else the split is not what the features should describe: an error, not a
    resample. So the array is rectangular. Written to a temporary file and renamed, so a
    killed job leaves no finished-looking array."""
    if not audio_paths:
        raise ValueError(f"no audio to extract features from for {out_npy}")
    first = info(audio_paths[0])
    rate = sample_rate or first.sample_rate
    with atomic.atomic_path(out_npy, suffix=".tmp.npy") as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(audio_paths), *row_shape(first)))
        with tqdm(total=len(audio_paths), desc=desc or out_npy.stem, unit="mixture", mininterval=5) as progress:
            for start in range(0, len(audio_paths), batch_size):
                batch = [read_mixture(p, rate, first.frames) for p in audio_paths[start:start + batch_size]]
                array[start:start + len(batch)] = compute(np.stack(batch), rate)
                progress.update(len(batch))
        array.flush()
        del array
    atomic.write_tsv(out_index, pd.DataFrame({"row": range(len(audio_paths)),
                                              "filename": [Path(p).name for p in audio_paths]}))


def read_mixture(path: Path, sample_rate: int, frames: int) -> np.ndarray:
    """One of a split's mixtures: written at `sample_rate` and `frames` long like the others."""
    audio, meta = read_mono(path, sample_rate)
    if meta.sample_rate != sample_rate or meta.frames != frames:
        raise ValueError(f"{path}: {meta.frames} samples at {meta.sample_rate} Hz, expected "
                         f"{frames} at {sample_rate} Hz like the rest of the split")
    return audio
