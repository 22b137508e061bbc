"""YOHO targets: per time bin, presence and the start and end of the sound inside the bin
(as fractions of the bin width), and decoding those back into segments."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    threshold: float = 0.5
    merge_gap: float = 0.3     # seconds; closer segments are merged
    min_duration: float = 0.1  # seconds; shorter segments are dropped
    gate: float = 0.0          # a segment is kept only if some bin in it reaches this presence


def encode(events: list[tuple[float, float]], n_bins: int, bin_width: float) -> np.ndarray:
    """(onset, offset) events in seconds -> (n_bins, 3) array of presence, start, end."""
    target = np.zeros((n_bins, 3), dtype=np.float32)
    for onset, offset in events:
        first = max(int(np.floor(onset / bin_width)), 0)
        last = min(int(np.ceil(offset / bin_width)), n_bins)
        for b in range(first, last):
            lo, hi = b * bin_width, (b + 1) * bin_width
            start, end = (max(onset, lo) - lo) / bin_width, (min(offset, hi) - lo) / bin_width
            if end <= start:
                continue
            if target[b, 0]:  # two events in one bin: keep their union
                start, end = min(start, target[b, 1]), max(end, target[b, 2])
            target[b] = (1.0, start, end)
    return target


def decode(prediction: np.ndarray, bin_width: float, cfg: DecodeConfig = DecodeConfig(),
           duration: float | None = None) -> list[tuple[float, float, float]]:
    """(n_bins, 3) presence/start/end -> [(onset, offset, score)] segments in seconds.

    Hysteresis: bins at or above `threshold` give a segment its extent, and the segment is
    kept only if one of its bins reaches `gate` (a low threshold finds where a sound starts
    and ends, a high one decides whether it is there at all).

    A bin's segment is [bin_start + width * start, bin_start + width * end]; the original
    YOHO code computed the end as start + width * end, which shifts every offset.
    """
    return [(on, off, score) for on, off, score, peak in
            candidates(prediction, bin_width, cfg.threshold, cfg.merge_gap, duration)
            if off - on >= cfg.min_duration and peak >= cfg.gate]


def candidates(prediction: np.ndarray, bin_width: float, threshold: float, merge_gap: float,
               duration: float | None = None) -> list[tuple[float, float, float, float]]:
    """decode's segments before the minimum duration and the gate: (onset, offset, mean
    presence, peak presence) each."""
    presence = prediction[:, 0]
    active = np.flatnonzero(presence >= threshold)
    if not len(active):
        return []
    lo = active * bin_width
    start = lo + bin_width * np.clip(prediction[active, 1], 0.0, 1.0).astype(np.float64)
    end = lo + bin_width * np.clip(prediction[active, 2], 0.0, 1.0).astype(np.float64)
    flipped = end <= start  # regression disagrees with presence: trust presence, keep the bin
    start[flipped], end[flipped] = lo[flipped], lo[flipped] + bin_width
    # A bin's segment lies inside the bin, so the end so far is the running maximum of the
    # ends; a bin further than merge_gap from it starts a new segment (touching bins join).
    reach = np.maximum.accumulate(end)
    firsts = np.concatenate([[0], np.flatnonzero(start[1:] - reach[:-1] > merge_gap + 1e-6) + 1])
    lasts = np.append(firsts[1:], len(active))
    offsets = reach[lasts - 1]
    if duration is not None:
        offsets = np.minimum(offsets, duration)
    scores = presence[active].astype(np.float64).tolist()
    return [(float(on), float(off), sum(scores[a:b]) / (b - a), max(scores[a:b]))
            for a, b, on, off in zip(firsts.tolist(), lasts.tolist(), start[firsts], offsets)]
