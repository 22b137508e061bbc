"""The evaluate rule's step: every metric of one model (backbone, seed), from the files the
workflow writes, into one JSON file, a per-query counts table and the PSD-ROC curves.

metrics JSON: the sed_eval metrics of `sed_metrics.evaluate` (overall, positives, by_kind,
by_category, by_snr, by_duration, negatives, negatives_by_kind), with the threshold-free
scores of `psds.threshold_free` merged into overall, by_kind and by_category, plus
`val_thresholds` (chosen on validation) and `settings` (what was computed, and how).
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from arseg.data.events import read_events
from arseg.data.queries import read_queries
from arseg.eval.psds import SETTINGS, choose_thresholds, criteria_deltas, ground_truth, score_frames, threshold_free
from arseg.eval.scoring import EvalConfig, Scores, estimated_events, read_scores, reference_events
from arseg.eval.sed_metrics import Buckets, evaluate, per_query_counts
from arseg.io import atomic

# What the per-query counts keep of each query (its text is in the query table).
COUNT_KEY_COLUMNS = ["query_id", "filename", "kind", "target_label", "positive"]


def answered(queries: pd.DataFrame, query_ids) -> pd.DataFrame:
    """The queries a model answered (those in its scores file), in the scores file's order."""
    order = {q: i for i, q in enumerate(query_ids)}
    table = queries[queries["query_id"].isin(order)]
    missing = set(order) - set(table["query_id"])
    if missing:
        raise ValueError(f"scores name {len(missing)} queries that the query table lacks, e.g. {sorted(missing)[:3]}")
    return table.sort_values("query_id", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def evaluate_model(test_queries: pd.DataFrame, test_events: pd.DataFrame, predictions: pd.DataFrame,
                   test_scores: Scores, val_queries: pd.DataFrame, val_events: pd.DataFrame, val_scores: Scores,
                   duration: float, cfg: EvalConfig = EvalConfig(), buckets: Buckets = Buckets()):
    """-> (metrics dict, per-query counts DataFrame, PSD-ROC curves DataFrame)."""
    queries = answered(test_queries, test_scores.query_id)
    metrics = evaluate(queries, test_events, predictions, duration, cfg, buckets)

    reference = reference_events(queries, test_events)
    counts = per_query_counts(reference, estimated_events(predictions), duration, cfg)
    counts = queries[COUNT_KEY_COLUMNS].merge(counts, on="query_id", validate="one_to_one")

    val = answered(val_queries, val_scores.query_id)
    val_gt = ground_truth(reference_events(val, val_events), val["query_id"])
    thresholds = choose_thresholds(score_frames(val_scores.query_id, val_scores.presence, val_scores.bin_width,
                                                duration), val_gt, cfg)

    scores = score_frames(test_scores.query_id, test_scores.presence, test_scores.bin_width, duration)
    gt = ground_truth(reference, queries["query_id"])
    category = dict(zip(queries["query_id"], queries["target_label"]))
    deltas = criteria_deltas(scores, gt, cfg)
    curves: list = []

    def subset(mask, keep_curves=False) -> dict:
        ids = queries.loc[mask, "query_id"]
        return threshold_free({q: scores[q] for q in ids}, {q: gt[q] for q in ids}, duration, category,
                              thresholds, cfg, deltas, curves if keep_curves else None)

    metrics["overall"].update(subset(slice(None), keep_curves=True))
    for kind, entry in metrics["by_kind"].items():
        entry.update(subset(queries["kind"] == kind))
    for cat, entry in metrics["by_category"].items():
        entry.update(subset(queries["target_label"] == cat))
    metrics["val_thresholds"] = thresholds
    metrics["settings"] = {
        "sed_eval": dataclasses.asdict(cfg),
        "buckets": {k: list(v) for k, v in dataclasses.asdict(buckets).items()},
        "psds": {s.name: {**dataclasses.asdict(s), "alpha_ct": 0.0} for s in SETTINGS},
        "duration": duration,
    }
    roc = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["setting", "efpr", "etpr"])
    return metrics, counts, roc


def evaluate_files(segments, test_scores, test_queries, test_events, val_scores, val_queries, val_events,
                   duration: float, cfg: EvalConfig, buckets: Buckets, out_json, out_queries, out_roc,
                   provenance: dict | None = None) -> dict:
    """Score one model's test predictions into out_json (with `provenance`: what made the
    scores and the model, arseg.provenance), per-query counts and PSD-ROC curves."""
    predictions = pd.read_csv(segments, sep="\t", dtype={"query_id": str})
    metrics, counts, roc = evaluate_model(
        read_queries(test_queries), read_events(test_events), predictions, read_scores(test_scores),
        read_queries(val_queries), read_events(val_events), read_scores(val_scores), duration, cfg, buckets)
    atomic.write_json(out_json, atomic.json_ready({**metrics, "provenance": provenance or {}}))
    atomic.write_tsv(out_queries, counts)
    atomic.write_tsv(out_roc, roc)
    overall = metrics["overall"]
    print("  ".join(f"{k} {overall[k]:.3f}" for k in ("event_f1", "segment_f1", "psds_tag", "psds1", "collar_f1")
                    if overall.get(k) is not None), "| false alarms", metrics["negatives"])
    return metrics
