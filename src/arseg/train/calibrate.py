"""Choose the decoding settings (presence threshold, gate, gap merging) on validation, so the
test split never influences them; the choice is stored in the model file."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from arseg.eval.scoring import EvalConfig, EventCounts, event_f1
from arseg.model import targets

THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
GATES = (0.0, 0.6, 0.7, 0.8, 0.9)  # 0: no gate; a gate at or below the threshold changes nothing
MERGE_GAPS = (0.15, 0.3, 0.6)


def choose_decoding(bins: np.ndarray, query_target: np.ndarray, cfg, min_duration: float,
                    eval_cfg: EvalConfig = EvalConfig(), max_false_alarm_rate: float | None = None) -> dict:
    """Grid-search threshold x gate x merge gap for the best validation event-based F1, among
    the settings that answer at most `max_false_alarm_rate` of the queries for absent sounds
    with a segment (None: any; none within it: the fewest false alarms).

    bins: the model's sigmoid outputs (Q, n_bins, 3) on the validation queries; query_target:
    their targets (Q, n_bins, 3); cfg: the model's config (bin width, window)."""
    reference = {q: targets.decode(query_target[q], cfg.bin_width,
                                   targets.DecodeConfig(0.5, 0.0, 0.0), cfg.window_seconds)
                 for q in range(len(bins))}
    reference = {str(q): [(on, off) for on, off, _ in segs] for q, segs in reference.items()}
    peaks = bins[..., 0].max(axis=1)
    counts = EventCounts(eval_cfg)
    # Segments per threshold and gap, before the gate, which only filters them (a query with
    # no bin at the threshold has none)
    found = {(threshold, gap): {str(q): [s for s in targets.candidates(bins[q], cfg.bin_width, threshold, gap,
                                                                       cfg.window_seconds)
                                         if s[1] - s[0] >= min_duration]
                                for q in np.flatnonzero(peaks >= threshold)}
             for threshold, gap in itertools.product(THRESHOLDS, MERGE_GAPS)}
    absent = [q for q, spans in reference.items() if not spans]
    results = []
    for threshold, gate, gap in itertools.product(THRESHOLDS, GATES, MERGE_GAPS):
        if 0 < gate <= threshold:
            continue
        estimated = {q: [(on, off) for on, off, _, peak in segs if peak >= gate]
                     for q, segs in found[threshold, gap].items()}
        results.append({"threshold": threshold, "gate": gate, "merge_gap": gap,
                        "event_f1": event_f1(reference, estimated, eval_cfg, counts),
                        "false_alarm_rate": sum(bool(estimated.get(q)) for q in absent) / max(len(absent), 1)})
    allowed = [r for r in results if max_false_alarm_rate is None or r["false_alarm_rate"] <= max_false_alarm_rate]
    if not allowed:
        fewest = min(r["false_alarm_rate"] for r in results)
        allowed = [r for r in results if r["false_alarm_rate"] == fewest]
    best = max(allowed, key=lambda r: (r["event_f1"], -abs(r["threshold"] - 0.5), -r["gate"]))
    return {"chosen": best, "grid": results}


def apply_decoding(model, chosen: dict) -> None:
    """Store the chosen settings in the model's config (saved with it, used by every prediction)."""
    model.cfg = dataclasses.replace(model.cfg, threshold=chosen["threshold"], merge_gap=chosen["merge_gap"],
                                    gate=chosen.get("gate", 0.0))
