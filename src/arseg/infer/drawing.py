"""The pieces of the picture of a segmented recording (spectrogram, presence scores,
segments), drawn on given axes: `arseg segment --plot` (infer.segment.plot) and the paper's
examples figure (report.figures.examples_figure) both draw with these. Matplotlib only (no
pyplot, no seaborn): the segment env has no seaborn."""
from __future__ import annotations

import numpy as np


def spectrogram(ax, features: np.ndarray, hop_seconds: float, max_columns: int | None = None,
                range_db: float | None = None, interpolation: str | None = None) -> float:
    """The log-mel (frames, mels) on `ax`, time in seconds; with `max_columns`, a long one
    is reduced to at most that many columns (max over time), so an hour draws fast; with
    `range_db`, the colours span that many dB below the loudest value. Returns the seconds
    the drawing spans."""
    step = max(1, int(np.ceil(len(features) / max_columns))) if max_columns else 1
    if step > 1:
        usable = (len(features) // step) * step
        spec = features[:usable].reshape(-1, step, features.shape[1]).max(axis=1)
    else:
        spec = features
    seconds = len(spec) * step * hop_seconds
    limits = {}
    if range_db is not None:
        top = float(spec.max())
        limits = {"vmin": top - range_db, "vmax": top}
    ax.imshow(spec.T, origin="lower", aspect="auto", extent=(0.0, seconds, 0, features.shape[1]), cmap="magma",
              interpolation=interpolation, **limits)
    ax.set_ylabel("mel band")
    return seconds


def presence(ax, scores: np.ndarray, bin_width: float, threshold: float, gate: float = 0.0,
             duration: float | None = None, color: str = "black", line_color: str = "0.4", linewidth: float = 1.0,
             labels: bool = False, **stairs) -> list[float]:
    """The per-bin presence scores as stairs (bin edges cut at `duration`), the decoding
    threshold dashed and, where it filters anything (above the threshold), the gate dotted.
    Returns the levels drawn (threshold, and gate if drawn)."""
    edges = np.arange(len(scores) + 1) * bin_width
    if duration is not None:
        edges = np.minimum(edges, duration)
    def label(text: str) -> dict:
        return {"label": text} if labels else {}

    ax.stairs(scores, edges, color=color, **label("score"), **stairs)
    ax.axhline(threshold, color=line_color, linestyle="--", linewidth=linewidth, **label(f"threshold {threshold:g}"))
    levels = [threshold]
    if gate > threshold:  # hysteresis: a segment must reach the gate somewhere
        ax.axhline(gate, color=line_color, linestyle=":", linewidth=linewidth, **label(f"gate {gate:g}"))
        levels.append(gate)
    return levels


def spans(ax, segments, y: tuple[float, float], **style) -> list[tuple[float, float]]:
    """(onset, offset) segments as one collection of bars at y = (bottom, height), however
    many there are (an hour may have thousands); returns the (start, width) bars drawn."""
    bars = [(float(on), float(off) - float(on)) for on, off in segments]
    ax.broken_barh(bars, y, **style)
    return bars
