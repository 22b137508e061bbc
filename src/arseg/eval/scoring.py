"""What scoring needs without sed_eval: the settings, the reference and estimated events of
each query, F1 from counts, and sed_eval's event-based counting rules.

Training chooses its decoding by event F1 on validation in the torch env, which has no
sed_eval; the metrics of record (`sed_metrics.py`) stay sed_eval's own. `EventCounts`
applies sed_eval's rules (onset within the collar, offset within the larger of the collar
and a share of the reference's length, a maximum matching between reference and
estimated events) and `sed_eval_f1` its arithmetic, so the decoding grid scores what
sed_eval would score (tests/test_targets.py checks them against sed_eval).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    t_collar: float = 0.2
    percentage_of_length: float = 0.2
    segment_seconds: float = 1.0


@dataclasses.dataclass(frozen=True)
class Buckets:
    """Bucket edges for the breakdowns of positive queries by their target event."""
    snr_edges_db: tuple[float, ...] = (5.0, 10.0, 15.0)
    duration_edges_seconds: tuple[float, ...] = (1.0, 2.0, 4.0)

    def __post_init__(self):
        for name in ("snr_edges_db", "duration_edges_seconds"):
            edges = list(getattr(self, name))
            if any(b <= a for a, b in zip(edges, edges[1:])):
                raise ValueError(f"evaluation.{name}: edges must increase, got {edges}")


def eval_config(config: dict) -> EvalConfig:
    """The sed_eval settings of the workflow config's evaluation section."""
    ev = config["evaluation"]
    return EvalConfig(t_collar=ev["t_collar"], percentage_of_length=ev["percentage_of_length"],
                      segment_seconds=ev["segment_seconds"])


def buckets_config(config: dict) -> Buckets:
    """The breakdown buckets (target SNR, target duration) of the evaluation section."""
    ev = config["evaluation"]
    return Buckets(snr_edges_db=tuple(ev["snr_edges_db"]), duration_edges_seconds=tuple(ev["duration_edges_seconds"]))


def merge_spans(spans) -> list[tuple[float, float]]:
    """Union of (onset, offset) spans: overlapping or touching spans become one.

    A query refers to a sound, not to one clip of it, so two overlapping events of the
    queried category are one reference region (and sed_scores_eval rejects overlapping
    or touching events of one class in a file).
    """
    merged: list[list[float]] = []
    for on, off in sorted((float(a), float(b)) for a, b in spans):
        if merged and on <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], off)
        else:
            merged.append([on, off])
    return [(on, off) for on, off in merged]


def reference_events(queries: pd.DataFrame, events: pd.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """query_id -> reference (onset, offset) list: the target category's events in its mixture, merged."""
    spans = {key: merge_spans(zip(g["onset"], g["offset"])) for key, g in events.groupby(["filename", "event_label"])}
    return {q: (spans.get((f, lab), []) if pos else [])
            for q, f, lab, pos in zip(queries["query_id"], queries["filename"], queries["target_label"], queries["positive"])}


def estimated_events(predictions: pd.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """query_id -> its predicted (onset, offset) list (queries without a segment are absent)."""
    return {q: list(zip(g["onset"], g["offset"])) for q, g in predictions.groupby("query_id")}


def f1_from_counts(ntp, nref, nsys):
    """F1 = 2 TP / (Nref + Nsys) of true-positive, reference and system counts (0 when there
    is nothing to find nor found); scalars give a float, arrays an array. One division, so
    equal ratios give equal floats: per-mixture differences that are zero stay zero (the
    Wilcoxon test drops them)."""
    ntp, denominator = np.asarray(ntp, dtype=float), np.asarray(nref, dtype=float) + np.asarray(nsys, dtype=float)
    f1 = np.divide(2 * ntp, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(f1) if f1.ndim == 0 else f1


def sed_eval_f1(ntp: int, nref: int, nsys: int) -> float:
    """The F1 sed_eval reports for these counts, to the last digit: precision and recall
    first, then their harmonic mean (empty system output: zero score). It differs from
    f1_from_counts in the last bits; the decoding grid ranks by it, so the choice and the
    stored validation F1 are those sed_eval gives."""
    precision = ntp / nsys if nsys else 0.0
    recall = ntp / nref if nref else math.nan
    if precision == 0 and recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall) or 0.0


def event_matches(ref, est, cfg: EvalConfig) -> int:
    """sed_eval's event-based true positives of one query-file: the size of a maximum
    matching between reference and estimated events, an edge where the onsets are within
    the collar and the offsets within max(collar, percentage_of_length x reference length)."""
    ref = [(float(on), float(off)) for on, off in ref]
    est = [(float(on), float(off)) for on, off in est]
    hits = [[j for j, (r_on, r_off) in enumerate(ref)
             if math.fabs(r_on - e_on) <= cfg.t_collar
             and math.fabs(r_off - e_off) <= max(cfg.t_collar, cfg.percentage_of_length * (r_off - r_on))]
            for e_on, e_off in est]
    owner: dict[int, int] = {}  # reference index -> estimated index matched to it

    def augment(i: int, seen: set) -> bool:
        for j in hits[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(est)))


class EventCounts:
    """Event-based counts (Ntp, Nref, Nsys) of single query-files, remembered by content: a
    decoding grid scores the same few segments over and over, and the counts of one
    query-file do not depend on the others."""

    def __init__(self, cfg: EvalConfig):
        self.cfg = cfg
        self._known: dict = {}

    def __call__(self, ref, est) -> tuple[int, int, int]:
        key = (tuple(ref), tuple(est))
        if key not in self._known:
            self._known[key] = (event_matches(ref, est, self.cfg), len(ref), len(est))
        return self._known[key]

    def totals(self, reference: dict, estimated: dict) -> tuple[int, int, int]:
        """(Ntp, Nref, Nsys) summed over these query-files."""
        ntp = nref = nsys = 0
        for query_id, ref in reference.items():
            est = estimated.get(query_id, [])
            if ref or est:  # neither: the query-file changes no count
                tp, r, s = self(ref, est)
                ntp, nref, nsys = ntp + tp, nref + r, nsys + s
        return ntp, nref, nsys


@dataclasses.dataclass
class Scores:
    """A split's per-bin presence scores as infer.predict writes them (<split>.scores.npz):
    one row per query answered, and the threshold and gate its kind of query was decoded with."""
    query_id: list[str]
    presence: np.ndarray  # (queries, bins)
    bin_width: float
    threshold: np.ndarray
    gate: np.ndarray

    @property
    def row(self) -> dict[str, int]:
        return {query: i for i, query in enumerate(self.query_id)}


def read_scores(path) -> Scores:
    with np.load(path) as data:
        return Scores(data["query_id"].astype(str).tolist(), np.asarray(data["presence"], dtype=float),
                      float(data["bin_width"]), np.asarray(data["threshold"], dtype=float),
                      np.asarray(data["gate"], dtype=float))


def coverage(reference: list[tuple[float, float]], segments: list[tuple[float, float]]) -> float | None:
    """Share of the reference's time that the segments cover (None without a reference)."""
    total = sum(off - on for on, off in reference)
    if total <= 0:
        return None
    covered = 0.0
    for on, off in reference:
        for s_on, s_off in segments:
            covered += max(0.0, min(off, s_off) - max(on, s_on))
    return min(1.0, covered / total)
