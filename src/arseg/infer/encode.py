"""Features of one split from the pretrained encoder (arseg.model.aisfx): each mixture through
the frozen front end and trunk once, into one (N, frames, 768) float32 .npy array, read like
the log-mel features (arseg.features.store). The trunk is frozen, so the pretrained
backbone's training reads these and never runs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..io import atomic
from ..io.audio import info, read_mono
from ..model.aisfx import FEATURE_DIM, Encoder, output_frames


def load_encoder(checkpoint: str | Path) -> Encoder:
    return Encoder().load_checkpoint(checkpoint).to(memory_format=torch.channels_last)


def compute_split(audio_paths: list[Path], out_npy: Path, out_index: Path, checkpoint: str | Path) -> None:
    """Every mixture of a split (one length and rate, as the log-mel features require)."""
    if not audio_paths:
        raise ValueError(f"no audio to extract features from for {out_npy}")
    first = info(audio_paths[0])
    n_frames = output_frames(first.frames, first.sample_rate)
    encoder = load_encoder(checkpoint)
    with atomic.atomic_path(out_npy, suffix=".tmp.npy") as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                          shape=(len(audio_paths), n_frames, FEATURE_DIM))
        for row, path in enumerate(tqdm(audio_paths, desc=f"encoder {out_npy.stem}", unit="mixture", mininterval=5)):
            audio, meta = read_mono(path, first.sample_rate)
            if meta.frames != first.frames or meta.sample_rate != first.sample_rate:
                raise ValueError(f"{path}: {meta.frames} samples at {meta.sample_rate} Hz, expected "
                                 f"{first.frames} at {first.sample_rate} Hz like the rest of the split")
            array[row] = encoder(audio, first.sample_rate).cpu().numpy()
        array.flush()
        del array
    atomic.write_tsv(out_index, pd.DataFrame({"row": range(len(audio_paths)),
                                              "filename": [Path(p).name for p in audio_paths]}))
