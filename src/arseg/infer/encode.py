"""Features of one split from the pretrained encoder (arseg.model.aisfx): each mixture through
the frozen front end and trunk once, into one (N, frames, 768) float32 .npy array (or, for
the backbone that trains the last block, the block's input: (N, frames, 3328) float16), read
like the log-mel features (arseg.features.store). The backbones' training reads these and
never runs the frozen part of the trunk. Likewise the clip embeddings of the
example queries' clips (arseg.model.examples), once per clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..io import atomic
from ..io.audio import info, read_mono
from ..model.aisfx import Encoder, output_frames
from ..model.backbone_specs import ENCODER_DIM, ENCODER_DTYPE
from ..model.examples import EXAMPLE_DIM, ExampleBank, clip_embedding


def load_encoder(checkpoint: str | Path) -> Encoder:
    return Encoder().load_checkpoint(checkpoint).to(memory_format=torch.channels_last)


def encoder_output(encoder: Encoder, audio: np.ndarray, sample_rate: int, kind: str, progress=None) -> np.ndarray:
    """What a backbone of the encoder kind `kind` (model/backbone_specs.py: ENCODER) reads of
    the audio, in the precision the workflow stores it in: "aisfx", the trunk's features;
    "aisfx_maps", its last block's input. progress: as Encoder.forward's."""
    features = encoder(audio, sample_rate, maps=kind == "aisfx_maps", progress=progress)
    return features.cpu().numpy().astype(ENCODER_DTYPE[kind])


def compute_split(audio_paths: list[Path], out_npy: Path, out_index: Path, checkpoint: str | Path,
                  kind: str = "aisfx") -> None:
    """Every mixture of a split (one length and rate, as the log-mel features require); kind
    (model/backbone_specs.py: ENCODER): "aisfx", the trunk's features, or "aisfx_maps", its
    last block's input."""
    if not audio_paths:
        raise ValueError(f"no audio to extract features from for {out_npy}")
    first = info(audio_paths[0])
    n_frames = output_frames(first.frames, first.sample_rate)
    encoder = load_encoder(checkpoint)
    with atomic.atomic_path(out_npy, suffix=".tmp.npy") as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=ENCODER_DTYPE[kind],
                                          shape=(len(audio_paths), n_frames, ENCODER_DIM[kind]))
        for row, path in enumerate(tqdm(audio_paths, desc=f"encoder {out_npy.stem}", unit="mixture", mininterval=5)):
            audio, meta = read_mono(path, first.sample_rate)
            if meta.frames != first.frames or meta.sample_rate != first.sample_rate:
                raise ValueError(f"{path}: {meta.frames} samples at {meta.sample_rate} Hz, expected "
                                 f"{first.frames} at {first.sample_rate} Hz like the rest of the split")
            array[row] = encoder_output(encoder, audio, first.sample_rate, kind)
        array.flush()
        del array
    atomic.write_tsv(out_index, pd.DataFrame({"row": range(len(audio_paths)),
                                              "filename": [Path(p).name for p in audio_paths]}))


def embed_clips(clips: pd.DataFrame, audio_dir: str | Path, checkpoint: str | Path, sample_rate: int,
                window_seconds: float) -> ExampleBank:
    """The clip embedding of each clip of a corpus table (audio_dir/<clip_id>.wav), of its
    first window_seconds: a model takes examples no longer than its window."""
    encoder = load_encoder(checkpoint)
    vectors = np.zeros((len(clips), EXAMPLE_DIM), np.float32)
    for i, clip_id in enumerate(tqdm(clips["clip_id"], desc="example clips", unit="clip", mininterval=5)):
        audio, _ = read_mono(Path(audio_dir) / f"{clip_id}.wav", sample_rate)
        vectors[i] = clip_embedding(encoder, audio[:int(round(window_seconds * sample_rate))], sample_rate)
    return ExampleBank(list(clips["clip_id"]), vectors, list(clips["category"]), list(clips["split"]))
