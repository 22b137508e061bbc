"""Example queries: a short clip of the sound, put to the model as its clip embedding (the
pretrained encoder's features, averaged and maximised over time), and a bank of such
embeddings of every corpus clip, kept in one .npz file so every clip is encoded once.

The model answers an example through the categories it was trained on (`ExampleClassifier`):
a classifier on clip embeddings gives the clip's category posterior, and the query is the
posterior-weighted blend of those categories' label queries. A free projection of the clip
embedding into the query space, trained end to end, learned the training clips by heart and
generalised to new clips barely above chance (docs/experiments.md).

A model's query input row holds a sentence embedding in its first `text_dim` values or a
clip embedding in its last EXAMPLE_DIM values, the other part zero (`input_rows`): a
sentence embedding has unit length, so a row whose text part is zero is an example."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from arseg.io import atomic
from arseg.io.optional_input import optional_input
from . import aisfx
from .aisfx import FEATURE_DIM, Encoder

EXAMPLE_DIM = 2 * FEATURE_DIM  # mean and maximum over the clip's frames


class ExampleError(ValueError):
    """An example clip the model cannot take (too long); the message names it."""


def clip_embedding(encoder: Encoder, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(EXAMPLE_DIM,) float32: the mean and the maximum over time of the clip's encoder features."""
    features = encoder(audio, sample_rate)
    return torch.cat([features.mean(0), features.amax(0)]).cpu().numpy().astype(np.float32)


class ExampleClassifier(nn.Module):
    """Clip embedding -> posterior over the model's categories (standardised input, one linear
    layer), with each category's label text embedding (`prototypes`) to blend the label queries
    with. Fitted on the training split's clips before the segmenter trains
    (train.example_classifier), then frozen."""

    def __init__(self, example_dim: int, n_categories: int, text_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(example_dim))
        self.register_buffer("std", torch.ones(example_dim))
        self.register_buffer("prototypes", torch.zeros(n_categories, text_dim))
        # Zeros, not a random initialisation: it is fitted anyway, and drawing nothing from the
        # random generator leaves the segmenter's initial weights as they are without examples.
        self.weight = nn.Parameter(torch.zeros(n_categories, example_dim), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(n_categories), requires_grad=False)

    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        return ((clips - self.mean) / self.std) @ self.weight.T + self.bias

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(clips), dim=-1)


# How far past the model's window an example may run, and is then cut to it: a clip exported
# as 8 s is a sample or two longer at some rates, or after resampling.
LENGTH_SLACK_SECONDS = 0.01


def fit_length(name: str, audio: np.ndarray, sample_rate: int, window_seconds: float) -> np.ndarray:
    """The example, which must fit in one of the model's windows, as the clips it learned
    from did (up to LENGTH_SLACK_SECONDS more are cut off), and hold at least one of the
    encoder's analysis windows (46 ms): of less, the encoder hears mostly the silence it is
    padded with."""
    seconds = len(audio) / sample_rate
    shortest = aisfx.N_FFT / aisfx.SAMPLE_RATE
    if seconds < shortest:
        raise ExampleError(f"{name}: example clip is {seconds * 1000:.0f} ms long; the model takes examples of at "
                           f"least {shortest * 1000:.0f} ms (one window of its encoder's analysis)")
    if seconds > window_seconds + LENGTH_SLACK_SECONDS:
        raise ExampleError(f"{name}: example clip is {seconds:.2f} s long; the model takes examples of at most "
                           f"{window_seconds:g} s (its window): cut out the part with the sound")
    return audio[:int(round(window_seconds * sample_rate))]


def input_rows(text_dim: int, texts: np.ndarray | None = None, examples: np.ndarray | None = None) -> np.ndarray:
    """Query input rows of a model that takes example queries: sentence embeddings (Q, text_dim)
    and/or clip embeddings (Q, EXAMPLE_DIM), each in its own part of a (Q, text_dim +
    EXAMPLE_DIM) row."""
    parts = []
    if texts is not None:
        parts.append(np.concatenate([texts, np.zeros((len(texts), EXAMPLE_DIM), np.float32)], axis=1))
    if examples is not None:
        parts.append(np.concatenate([np.zeros((len(examples), text_dim), np.float32), examples], axis=1))
    return np.concatenate(parts).astype(np.float32)


class ExampleBank:
    """Clip id -> clip embedding (and each clip's category and split, where known), backed by
    an .npz file (arrays `clip_ids`, `vectors`, `categories`, `splits`)."""

    def __init__(self, clip_ids: list[str], vectors: np.ndarray, categories=None, splits=None):
        self.index = {c: i for i, c in enumerate(clip_ids)}
        self.clip_ids = list(clip_ids)
        self.vectors = np.asarray(vectors, dtype=np.float32).reshape(len(clip_ids), EXAMPLE_DIM)
        self.categories = list(categories) if categories is not None else [""] * len(clip_ids)
        self.splits = list(splits) if splits is not None else [""] * len(clip_ids)

    @classmethod
    def load(cls, path: str | Path) -> "ExampleBank":
        with np.load(path, allow_pickle=False) as data:
            return cls([str(c) for c in data["clip_ids"]], data["vectors"], [str(c) for c in data["categories"]],
                       [str(s) for s in data["splits"]])

    def save(self, path: str | Path) -> None:
        with atomic.atomic_path(path, suffix=".tmp.npz") as tmp:
            np.savez(tmp, clip_ids=np.array(self.clip_ids, dtype=str), vectors=self.vectors,
                     categories=np.array(self.categories, dtype=str), splits=np.array(self.splits, dtype=str))

    def lookup(self, clip_ids) -> np.ndarray:
        missing = sorted({c for c in clip_ids if c not in self.index})
        if missing:
            raise KeyError(f"no embedding for example clip(s) {missing[:5]}; rerun rule embed_examples")
        return self.vectors[[self.index[c] for c in clip_ids]]


def load_bank(examples) -> ExampleBank | None:
    """The bank a rule names as input: a path, or a list of at most one path (empty when the
    run asks no example queries)."""
    path = optional_input(examples)
    return ExampleBank.load(path) if path else None
