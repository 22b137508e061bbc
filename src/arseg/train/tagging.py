"""Auxiliary tagging: a training-only head that says, for every time bin of a mixture, which
of the training corpus's categories sound there, read from the query-free audio features.

Why: a query supervises only its own category, so the audio encoder learns from a few
categories per mixture. Asking it for every category in every bin gives it a dense signal
at no cost per query. The head is dropped after training: model files and inference never
see it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass
class TagEvents:
    """The events of a split's mixtures, by feature row, as (label index, onset, offset) rows."""
    labels: list
    per_row: list  # row -> (k, 3) float64 array


def tag_events(events: pd.DataFrame, feature_rows: dict) -> TagEvents:
    """Events of the mixtures that have a feature row; labels sorted, so the head is reproducible."""
    events = events[events["filename"].isin(feature_rows.keys())]
    labels = sorted(set(events["event_label"]))
    index = {label: i for i, label in enumerate(labels)}
    per_row = [np.zeros((0, 3)) for _ in range(len(feature_rows))]
    for filename, group in events.groupby("filename"):
        per_row[feature_rows[filename]] = np.column_stack(
            [group["event_label"].map(index), group["onset"], group["offset"]]).astype(np.float64)
    return TagEvents(labels, per_row)


def tag_targets(tags: TagEvents, rows, n_bins: int, bin_width: float) -> np.ndarray:
    """(len(rows), n_bins, n_labels): the fraction of each bin during which each category sounds."""
    target = np.zeros((len(rows), n_bins, len(tags.labels)), dtype=np.float32)
    lo = np.arange(n_bins) * bin_width
    for i, row in enumerate(rows):
        for label, onset, offset in tags.per_row[row]:
            overlap = np.clip(np.minimum(offset, lo + bin_width) - np.maximum(onset, lo), 0.0, None)
            target[i, :, int(label)] += overlap / bin_width
    return np.minimum(target, 1.0, out=target)  # overlapping events of one category


class TaggingHead(nn.Module):
    """Audio features (B, C, T') -> per-bin category logits (B, n_bins, n_labels)."""

    def __init__(self, channels: int, n_labels: int):
        super().__init__()
        self.proj = nn.Conv1d(channels, n_labels, 1)

    def forward(self, audio: torch.Tensor, n_bins: int) -> torch.Tensor:
        return self.proj(F.adaptive_avg_pool1d(audio, n_bins)).transpose(1, 2)


def tagging_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over bins and categories, averaged over mixtures."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum((1, 2)).mean()


def audio_channels(model) -> int:
    """Channels of model.encode_audio's output, from one silent window (no state changes)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        silent = torch.zeros(1, model.cfg.window_frames, model.cfg.n_mels, device=model.feature_mean.device)
        channels = model.encode_audio(silent).shape[1]
    model.train(was_training)
    return channels
