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

from ..features.split_writer import write_split
from ..io.audio import read_mono
from ..model.aisfx import Encoder, output_frames
from ..model.backbone_specs import ENCODER_DIM, ENCODER_DTYPE
from ..model.examples import EXAMPLE_DIM, ExampleBank, clip_embedding


def load_aisfx(checkpoint: str | Path) -> Encoder:
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
    encoder = load_aisfx(checkpoint)
    write_split(audio_paths, out_npy, out_index,
                lambda first: (output_frames(first.frames, first.sample_rate), ENCODER_DIM[kind]), ENCODER_DTYPE[kind],
                lambda audio, rate: encoder_output(encoder, audio[0], rate, kind)[None], desc=f"encoder {out_npy.stem}")


def embed_clips(clips: pd.DataFrame, audio_dir: str | Path, checkpoint: str | Path, sample_rate: int,
                window_seconds: float) -> ExampleBank:
    """The clip embedding of each clip of a corpus table (audio_dir/<clip_id>.wav), of its
    first window_seconds: a model takes examples no longer than its window."""
    encoder = load_aisfx(checkpoint)
    vectors = np.zeros((len(clips), EXAMPLE_DIM), np.float32)
    for i, clip_id in enumerate(tqdm(clips["clip_id"], desc="example clips", unit="clip", mininterval=5)):
        audio, _ = read_mono(Path(audio_dir) / f"{clip_id}.wav", sample_rate)
        vectors[i] = clip_embedding(encoder, audio[:int(round(window_seconds * sample_rate))], sample_rate)
    return ExampleBank(list(clips["clip_id"]), vectors, list(clips["category"]), list(clips["split"]))
