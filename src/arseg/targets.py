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
    presence = prediction[:, 0]
    active = np.flatnonzero(presence >= cfg.threshold)
    segments: list[list[float]] = []  # [onset, offset, score_sum, n_bins, peak]
    for b in active:
        lo = b * bin_width
        start = lo + bin_width * float(np.clip(prediction[b, 1], 0.0, 1.0))
        end = lo + bin_width * float(np.clip(prediction[b, 2], 0.0, 1.0))
        if end <= start:  # regression disagrees with presence: trust presence, keep the bin
            start, end = lo, lo + bin_width
        if segments and start - segments[-1][1] <= cfg.merge_gap + 1e-6:  # touching bins always join
            last = segments[-1]
            last[1] = max(last[1], end)
            last[2] += float(presence[b])
            last[3] += 1
            last[4] = max(last[4], float(presence[b]))
        else:
            segments.append([start, end, float(presence[b]), 1, float(presence[b])])
    if duration is not None:
        for seg in segments:
            seg[1] = min(seg[1], duration)
    return [(on, off, total / n) for on, off, total, n, peak in segments
            if off - on >= cfg.min_duration and peak >= cfg.gate]
