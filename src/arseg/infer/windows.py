"""Apply a model to features of any length: overlapping windows, each output bin taken
from the window in which it lies closest to the centre (as YOHO stitches), then decoded
into segments (with the model's stored decodings, or the user's)."""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from arseg.model import targets
from arseg.model.segmenter import ReferringSegmenter


def window_plan(n_frames: int, model: ReferringSegmenter) -> tuple[list[int], int, int]:
    """Start frames of the windows, window hop in bins, and the total number of bins: as many
    as cover the features' time. A log-mel frame is a point in time (frames centred on 0,
    hop, 2 hop, ... span (n - 1) hops); a pretrained encoder's frame is a stretch of it (n
    frames span n frame lengths: 43 of them are a whole 8 s window)."""
    cfg = model.cfg
    hop_bins = max(cfg.n_bins // 2, 1)
    hop_frames = hop_bins * cfg.bin_width / cfg.hop_seconds
    span = (n_frames if cfg.encoder else n_frames - 1) * cfg.hop_seconds
    duration_bins = int(np.ceil(span / cfg.bin_width - 1e-9))
    n_windows = max(1, int(np.ceil(max(duration_bins - cfg.n_bins, 0) / hop_bins)) + 1)
    starts = [int(round(k * hop_frames)) for k in range(n_windows)]
    return starts, hop_bins, max(duration_bins, 1)


def pad_to(features: np.ndarray, n_frames: int, floor: np.ndarray | None = None) -> np.ndarray:
    """Pad with each band's quietest value in the recording (a neutral 'nothing here');
    `floor` (1, mels) is that value, taken from `features` when not given."""
    if len(features) >= n_frames:
        return features[:n_frames]
    floor = features.min(axis=0, keepdims=True) if floor is None else floor
    return np.concatenate([features, np.repeat(floor, n_frames - len(features), axis=0)])


@torch.no_grad()
def predict_bins(model: ReferringSegmenter, features: np.ndarray, queries: torch.Tensor,
                 batch_windows: int = 32, progress=None) -> np.ndarray:
    """(frames, mels) features and Q query inputs -> (Q, total_bins, 3) sigmoid outputs.

    Windows are cut one batch at a time (an hour of audio never needs all of them in
    memory); `progress`, if given, is called with the number of windows each batch finished.
    """
    cfg = model.cfg
    device = next(model.parameters()).device
    starts, hop_bins, total_bins = window_plan(len(features), model)
    floor = features.min(axis=0, keepdims=True)  # the recording's quietest value per band
    out = np.zeros((len(queries), len(starts) * hop_bins + cfg.n_bins, 3), dtype=np.float32)
    distance = np.full(out.shape[1], np.inf)
    centre = np.abs(np.arange(cfg.n_bins) + 0.5 - cfg.n_bins / 2)
    queries = queries.to(device)
    for first in range(0, len(starts), batch_windows):
        chunk = torch.from_numpy(np.stack([pad_to(features[s:], cfg.window_frames, floor)
                                           for s in starts[first:first + batch_windows]])).to(device)
        audio = model.encode_audio(chunk)
        n_win, n_q = len(chunk), len(queries)
        index = torch.arange(n_win, device=device).repeat_interleave(n_q)
        logits = model.forward_queries(audio, index, queries.repeat(n_win, *[1] * (queries.dim() - 1)))
        scores = torch.sigmoid(logits).float().cpu().numpy().reshape(n_win, n_q, cfg.n_bins, 3)
        for w in range(n_win):
            offset = (first + w) * hop_bins
            span = slice(offset, offset + cfg.n_bins)
            better = centre < distance[span]
            out[:, span][:, better] = scores[w][:, better]
            distance[span] = np.minimum(distance[span], centre)
        if progress is not None:
            progress(n_win)
    return out[:, :total_bins]


@dataclasses.dataclass(frozen=True)
class Decodings:
    """How each kind of query is decoded: text queries (labels, descriptions) and example clips."""
    text: targets.DecodeConfig
    example: targets.DecodeConfig

    def of(self, kind: str) -> targets.DecodeConfig:
        """The decoding of a query of this kind ("label", "description", "text" or "example")."""
        return self.example if kind == "example" else self.text


def model_decodings(model: ReferringSegmenter, threshold: float | None = None, merge_gap: float | None = None,
                  min_duration: float | None = None, gate: float | None = None) -> Decodings:
    """The model's stored decodings, overridden (for every kind of query) where the user gave a value."""
    cfg = model.cfg

    def decoding(stored: dict) -> targets.DecodeConfig:
        return targets.DecodeConfig(stored["threshold"] if threshold is None else threshold,
                                    stored["merge_gap"] if merge_gap is None else merge_gap,
                                    cfg.min_duration if min_duration is None else min_duration,
                                    stored["gate"] if gate is None else gate)

    text = {"threshold": cfg.threshold, "merge_gap": cfg.merge_gap, "gate": cfg.gate}
    return Decodings(decoding(text), decoding({**text, **cfg.example_decoding}))


def segments_from_bins(bins: np.ndarray, model: ReferringSegmenter, duration: float,
                       decode: targets.DecodeConfig | None = None) -> list[tuple[float, float, float]]:
    """Segments of one query's bins, decoded by `decode` (by default the model's text decoding)."""
    return targets.decode(bins, model.cfg.bin_width, decode or model_decodings(model).text, duration=duration)
