"""Threshold-dependent metrics with sed_eval, each (mixture, query) pair scored as its own
file with one label, as in text-to-audio grounding (Xu et al., ICASSP 2021): event-based
F1/ER (collar, % of length) and segment-based F1/ER on the decoded segments; false alarms
on negative queries (absent sounds); breakdowns by query kind, category, SNR and event
duration. The threshold-free scores (PSDS, F1 at a threshold chosen on validation) live in
`psds.py`; `evaluate.evaluate_files` runs both from the files the workflow writes.

Every number is sed_eval's own: a subset (a category, a kind, an SNR bucket) is scored by
running sed_eval on that subset's query-files. The per-query counts (`per_query_counts`)
are sed_eval's counters read after each query-file, so summing them over any subset gives
that subset's F1 exactly (used for the paired comparison across backbones).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # sed_eval's dependency imports the deprecated pkg_resources
    import sed_eval

from arseg.eval.scoring import Buckets, EvalConfig, estimated_events, reference_events

TARGET = "target"
COUNT_COLUMNS = ["event_ntp", "event_nref", "event_nsys", "segment_ntp", "segment_nref", "segment_nsys"]


def _event_list(query_id: str, spans) -> list[dict]:
    return [{"filename": query_id, "event_label": TARGET, "onset": float(on), "offset": float(off)} for on, off in spans]


def _run_sed_eval(reference: dict, estimated: dict, duration: float, cfg: EvalConfig, counts: list | None = None):
    event_metrics = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=[TARGET], t_collar=cfg.t_collar, percentage_of_length=cfg.percentage_of_length,
        empty_system_output_handling="zero_score")
    segment_metrics = sed_eval.sound_event.SegmentBasedMetrics(
        event_label_list=[TARGET], time_resolution=cfg.segment_seconds)
    for query_id, ref in reference.items():
        ref_list, est_list = _event_list(query_id, ref), _event_list(query_id, estimated.get(query_id, []))
        before = (dict(event_metrics.overall), dict(segment_metrics.overall)) if counts is not None else None
        event_metrics.evaluate(ref_list, est_list)
        segment_metrics.evaluate(ref_list, est_list, evaluated_length_seconds=duration)
        if counts is not None:
            ev, seg = event_metrics.overall, segment_metrics.overall
            counts.append([query_id] + [int(ev[k] - before[0][k]) for k in ("Ntp", "Nref", "Nsys")]
                          + [int(seg[k] - before[1][k]) for k in ("Ntp", "Nref", "Nsys")])
    return event_metrics, segment_metrics


def sed_eval_scores(reference: dict, estimated: dict, duration: float, cfg: EvalConfig) -> dict:
    """Event- and segment-based F1, precision, recall, error rate over the given queries.

    reference, estimated: query_id -> [(onset, offset)]; a query with an empty reference
    is a negative (its segments are false positives).
    """
    event_metrics, segment_metrics = _run_sed_eval(reference, estimated, duration, cfg)
    return _summary(event_metrics, segment_metrics, reference)


def _summary(event_metrics, segment_metrics, reference: dict) -> dict:
    """sed_eval's overall scores; none (None) for a group of no queries, where sed_eval would
    report an error rate of 0 and a precision of 0 for nothing scored."""
    event = event_metrics.results_overall_metrics()
    segment = segment_metrics.results_overall_metrics()
    scores = {
        "event_f1": finite(event["f_measure"]["f_measure"]),
        "event_precision": finite(event["f_measure"]["precision"]),
        "event_recall": finite(event["f_measure"]["recall"]),
        "event_error_rate": finite(event["error_rate"]["error_rate"]),
        "segment_f1": finite(segment["f_measure"]["f_measure"]),
        "segment_precision": finite(segment["f_measure"]["precision"]),
        "segment_recall": finite(segment["f_measure"]["recall"]),
        "segment_error_rate": finite(segment["error_rate"]["error_rate"]),
    }
    if not reference:
        scores = dict.fromkeys(scores)
    return {**scores, "n_queries": len(reference), "n_reference_events": int(sum(len(r) for r in reference.values()))}


def per_query_counts(reference: dict, estimated: dict, duration: float, cfg: EvalConfig) -> pd.DataFrame:
    """sed_eval's true-positive, reference and system counts per query-file (event and segment based)."""
    counts: list = []
    _run_sed_eval(reference, estimated, duration, cfg, counts)
    return pd.DataFrame(counts, columns=["query_id", *COUNT_COLUMNS])


def finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def false_alarms(negatives: list[str], estimated: dict, duration: float) -> dict:
    """How often and how long the model answers a query whose sound is absent."""
    fired = [q for q in negatives if estimated.get(q)]
    seconds = sum(off - on for q in negatives for on, off in estimated.get(q, []))
    hours = len(negatives) * duration / 3600
    return {"false_alarm_rate": len(fired) / len(negatives) if negatives else None,
            "false_alarm_seconds_per_hour": seconds / hours if hours else None,
            "n_negative_queries": len(negatives)}


def bucket_labels(edges, unit: str) -> list[str]:
    """[5, 10] dB -> ['<5 dB', '5–10 dB', '≥10 dB']."""
    edges = [f"{e:g}" for e in edges]
    if not edges:
        return ["all"]
    return [f"<{edges[0]} {unit}"] + [f"{a}–{b} {unit}" for a, b in zip(edges, edges[1:])] + [f"≥{edges[-1]} {unit}"]


def bucket_of(values, edges) -> np.ndarray:
    """Index of each value's bucket: bucket i holds edges[i-1] <= v < edges[i]."""
    return np.searchsorted(np.asarray(edges, dtype=float), np.asarray(values, dtype=float), side="right")


def target_event_properties(queries: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per positive query: mean SNR (dB) and mean duration (s) of its target events in the mixture."""
    events = events.assign(duration=events["offset"] - events["onset"])
    per_target = events.groupby(["filename", "event_label"])[["snr_db", "duration"]].mean()
    positives = queries[queries["positive"] == 1]
    keys = pd.MultiIndex.from_arrays([positives["filename"], positives["target_label"]])
    props = per_target.reindex(keys)
    return pd.DataFrame({"query_id": positives["query_id"].to_numpy(), "snr_db": props["snr_db"].to_numpy(),
                         "duration": props["duration"].to_numpy()}).dropna()


def evaluate(queries: pd.DataFrame, events: pd.DataFrame, predictions: pd.DataFrame, duration: float,
             cfg: EvalConfig = EvalConfig(), buckets: Buckets = Buckets()) -> dict:
    """All threshold-dependent metrics: overall, positives only, per query kind, per category,
    per SNR and event-duration bucket (positives), and false alarms (negatives).

    `queries` are the queries the model answered (a query with no segment still counts).
    """
    reference = reference_events(queries, events)
    estimated = estimated_events(predictions)

    def subset(ids) -> dict:
        return sed_eval_scores({q: reference[q] for q in ids}, estimated, duration, cfg)

    positive = queries["positive"] == 1
    kinds, categories = sorted(queries["kind"].unique()), sorted(queries["target_label"].unique())
    result = {"overall": subset(queries["query_id"]), "positives": subset(queries.loc[positive, "query_id"])}
    result["by_kind"] = {kind: subset(queries.loc[queries["kind"] == kind, "query_id"]) for kind in kinds}
    result["by_category"] = {cat: subset(queries.loc[queries["target_label"] == cat, "query_id"]) for cat in categories}
    props = target_event_properties(queries, events)
    for key, column, edges, unit in (("by_snr", "snr_db", buckets.snr_edges_db, "dB"),
                                     ("by_duration", "duration", buckets.duration_edges_seconds, "s")):
        index = bucket_of(props[column], edges)
        bounds = [-math.inf, *edges, math.inf]
        result[key] = [{"bucket": label, "low": finite(bounds[i]), "high": finite(bounds[i + 1]),
                        **subset(props.loc[index == i, "query_id"])}
                       for i, label in enumerate(bucket_labels(edges, unit))]
    result["negatives"] = false_alarms(queries.loc[~positive, "query_id"].tolist(), estimated, duration)
    result["negatives_by_kind"] = {
        kind: false_alarms(queries.loc[~positive & (queries["kind"] == kind), "query_id"].tolist(), estimated, duration)
        for kind in kinds}
    return result
