"""Metrics with sed_eval, each (mixture, query) pair scored as its own file with one
label, as in text-to-audio grounding: event-based F1/ER (collar, % of length) and
segment-based F1/ER; plus false alarms on negative queries (absent sounds)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # sed_eval's dependency imports the deprecated pkg_resources
    import sed_eval

TARGET = "target"


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    t_collar: float = 0.2
    percentage_of_length: float = 0.2
    segment_seconds: float = 1.0


def reference_events(queries: pd.DataFrame, events: pd.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """query_id -> reference (onset, offset) list: the target category's events in its mixture."""
    spans = {key: list(zip(g["onset"], g["offset"])) for key, g in events.groupby(["filename", "event_label"])}
    return {q: (spans.get((f, lab), []) if pos else [])
            for q, f, lab, pos in zip(queries["query_id"], queries["filename"], queries["target_label"], queries["positive"])}


def sed_eval_scores(reference: dict, estimated: dict, duration: float, cfg: EvalConfig) -> dict:
    """Event- and segment-based F1, precision, recall, error rate over the given queries."""
    event_metrics = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=[TARGET], t_collar=cfg.t_collar, percentage_of_length=cfg.percentage_of_length,
        empty_system_output_handling="zero_score")
    segment_metrics = sed_eval.sound_event.SegmentBasedMetrics(
        event_label_list=[TARGET], time_resolution=cfg.segment_seconds)
    for query_id, ref in reference.items():
        ref_list = [{"filename": query_id, "event_label": TARGET, "onset": on, "offset": off} for on, off in ref]
        est_list = [{"filename": query_id, "event_label": TARGET, "onset": on, "offset": off}
                    for on, off in estimated.get(query_id, [])]
        event_metrics.evaluate(ref_list, est_list)
        segment_metrics.evaluate(ref_list, est_list, evaluated_length_seconds=duration)
    event = event_metrics.results_overall_metrics()
    segment = segment_metrics.results_overall_metrics()
    return {
        "event_f1": finite(event["f_measure"]["f_measure"]),
        "event_precision": finite(event["f_measure"]["precision"]),
        "event_recall": finite(event["f_measure"]["recall"]),
        "event_error_rate": finite(event["error_rate"]["error_rate"]),
        "segment_f1": finite(segment["f_measure"]["f_measure"]),
        "segment_error_rate": finite(segment["error_rate"]["error_rate"]),
        "n_queries": len(reference),
        "n_reference_events": int(sum(len(r) for r in reference.values())),
    }


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


def evaluate(queries: pd.DataFrame, events: pd.DataFrame, predictions: pd.DataFrame, duration: float,
             cfg: EvalConfig = EvalConfig()) -> dict:
    """All metrics: overall, positives only, per query kind, per category, and false alarms.

    `queries` are the queries the model answered (a query with no segment still counts).
    """
    reference = reference_events(queries, events)
    estimated = {q: list(zip(g["onset"], g["offset"])) for q, g in predictions.groupby("query_id")}

    def subset(mask) -> dict:
        ids = queries.loc[mask, "query_id"]
        return sed_eval_scores({q: reference[q] for q in ids}, estimated, duration, cfg)

    positive = queries["positive"] == 1
    result = {"overall": subset(slice(None)), "positives": subset(positive)}
    result["by_kind"] = {kind: subset(queries["kind"] == kind) for kind in sorted(queries["kind"].unique())}
    result["by_category"] = {cat: subset(queries["target_label"] == cat) for cat in sorted(queries["target_label"].unique())}
    result["negatives"] = false_alarms(queries.loc[~positive, "query_id"].tolist(), estimated, duration)
    result["negatives_by_kind"] = {
        kind: false_alarms(queries.loc[~positive & (queries["kind"] == kind), "query_id"].tolist(), estimated, duration)
        for kind in sorted(queries["kind"].unique())}
    return result
