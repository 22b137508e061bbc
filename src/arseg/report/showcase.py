"""The demo's summary (the `demo` rule): what the best model answered on the held-out long
audio (`arseg.infer.demo`) scored against the files' reference with the project's sed_eval
settings (`arseg.eval.sed_metrics.evaluate`, the function behind the test metrics), per query
and over all queries, next to the chosen model's test scores; queries for absent categories
report how many segments they got (the right answer is none).
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd

from arseg.data.events import read_events
from arseg.data.queries import read_queries
from arseg.eval.scoring import EvalConfig, coverage, estimated_events, f1_from_counts, reference_events
from arseg.eval.sed_metrics import evaluate, per_query_counts
from arseg.io import atomic
from arseg.report.tables import fmt
from arseg.results_layout import seed_file

def chosen_test_scores(metrics_paths, backbone: str, seed: int) -> dict:
    """The chosen model's test event F1 (all queries, positives), read for comparison only."""
    for path in metrics_paths:
        if seed_file(path, ".json") == (backbone, seed):
            data = json.loads(Path(path).read_text())
            return {"path": str(path),
                    "event_f1": data.get("overall", {}).get("event_f1"),
                    "segment_f1": data.get("overall", {}).get("segment_f1"),
                    "positives_event_f1": data.get("positives", {}).get("event_f1"),
                    "positives_segment_f1": data.get("positives", {}).get("segment_f1"),
                    "false_alarm_rate": data.get("negatives", {}).get("false_alarm_rate")}
    return {}


# ---------------------------------------------------------------- scoring


def score(queries: pd.DataFrame, events: pd.DataFrame, predictions: pd.DataFrame, duration: float,
          cfg: EvalConfig) -> tuple[pd.DataFrame, dict]:
    """(per-query table, metrics of `sed_metrics.evaluate` over all the demo's queries).

    predictions: query_id, onset, offset, score (every answered query of `queries`)."""
    metrics = evaluate(queries, events, predictions, duration, cfg)
    reference = reference_events(queries, events)
    estimated = estimated_events(predictions)
    counts = per_query_counts(reference, estimated, duration, cfg).set_index("query_id")
    rows = []
    for query in queries.itertuples(index=False):
        c = counts.loc[query.query_id]
        segments = estimated.get(query.query_id, [])

        def f1(kind):
            found = (c[f"{kind}_ntp"], c[f"{kind}_nref"], c[f"{kind}_nsys"])
            return f1_from_counts(*found) if found[1] + found[2] else None
        rows.append({"filename": query.filename, "query_id": query.query_id, "kind": query.kind,
                     "target_label": query.target_label, "present": int(query.positive), "text": query.text,
                     "n_reference": len(reference[query.query_id]), "n_segments": len(segments),
                     "segment_seconds": round(sum(off - on for on, off in segments), 3),
                     "event_f1": f1("event") if query.positive else None,
                     "segment_f1": f1("segment") if query.positive else None,
                     "reference_covered": coverage(reference[query.query_id], segments)})
    return pd.DataFrame(rows), metrics


# ---------------------------------------------------------------- the rule's step


def summarise_demo(answers_path, metrics, events_path, queries_path, out_tsv, out_json, out_html,
                   cfg: EvalConfig) -> dict:
    """The `demo` rule: score the answers of `segment_demo` against the demo files' reference
    with the evaluation settings, and write the summary (TSV, JSON, HTML)."""
    answers = json.loads(Path(answers_path).read_text())
    outputs = {q["query_id"]: q for q in answers["queries"]}
    queries = read_queries(queries_path)
    asked = queries[queries["query_id"].isin(outputs)].reset_index(drop=True)
    predictions = pd.DataFrame(answers["segments"], columns=["query_id", "onset", "offset", "score"])
    durations = [f["duration"] for f in answers["files"].values()]
    table, scores = score(asked, read_events(events_path), predictions, max(durations, default=0.0), cfg)
    table["segments_tsv"] = [outputs[q]["tsv"] for q in table["query_id"]]
    table["picture"] = [outputs[q]["plot"] for q in table["query_id"]]
    table["cut_outs"] = [len(outputs[q]["extracted"]) for q in table["query_id"]]
    summary = summarise(answers, metrics, table, scores, cfg)
    atomic.write_tsv(out_tsv, table)
    atomic.write_json(out_json, atomic.json_ready(summary))
    atomic.write_text(out_html, summary_html(summary, table))
    present, absent = summary["demo"]["present"], summary["demo"]["absent"]
    print(f"demo: event F1 on present queries {fmt(present['event_f1'])} (test: "
          f"{fmt(summary['model']['test'].get('positives_event_f1'))}); absent queries: "
          f"{absent['n_segments']} segments in {int((table['present'] == 0).sum())} queries", flush=True)
    return summary


def summarise(answers: dict, metrics, table: pd.DataFrame, scores: dict, cfg: EvalConfig) -> dict:
    """The demo's summary: the model chosen and its test scores, the demo's scores, every query."""
    model = answers["model"]
    absent = table[table["present"] == 0]
    return {
        "model": {**model, "test": chosen_test_scores(metrics, model["backbone"], model["seed"])},
        "candidates": answers["candidates"],
        "files": answers["files"],
        "demo": {"present": scores["positives"], "all_queries": scores["overall"], "by_kind": scores["by_kind"],
                 "absent": {**scores["negatives"], "n_segments": int(absent["n_segments"].sum()),
                            "queries_with_segments": int((absent["n_segments"] > 0).sum())}},
        "settings": {"t_collar": cfg.t_collar, "percentage_of_length": cfg.percentage_of_length,
                     "segment_seconds": cfg.segment_seconds, "pad": answers["pad"]},
        "queries": _records(table),
    }


def _records(table: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


QUERY_HEADERS = ["file", "sound", "kind", "query", "reference events", "segments", "event F1", "segment F1",
                 "reference covered", "cut-outs"]


def example_decoding_note(example: dict | None) -> str:
    """The example-clip queries' own decoding, for the notes (nothing when they have none)."""
    if not example:
        return ""
    return (f"; example clips: threshold {example['threshold']:g}, gate {example['gate']:g}, "
            f"merge gap {example['merge_gap']:g} s")


def summary_html(summary: dict, table: pd.DataFrame) -> str:
    """The demo's summary for the report: the model chosen, demo versus test scores, every query."""
    from arseg.report.tables import HTML_STYLE

    model, demo, test = summary["model"], summary["demo"], summary["model"]["test"]
    e = html.escape

    def rows_html(rows, header, keys=1):  # the first `keys` columns are text, left-aligned
        head = "".join(f'<th{" class=key" if j < keys else ""}>{e(h)}</th>' for j, h in enumerate(header))
        body = "\n".join("<tr>" + "".join(f'<td{" class=key" if j < keys else ""}>{e(str(c))}</td>'
                                          for j, c in enumerate(r)) + "</tr>" for r in rows)
        return f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>"

    scores = [
        ["event F1, present sounds", fmt(demo["present"]["event_f1"]), fmt(test.get("positives_event_f1"))],
        ["segment F1, present sounds", fmt(demo["present"]["segment_f1"]), fmt(test.get("positives_segment_f1"))],
        ["event F1, all queries", fmt(demo["all_queries"]["event_f1"]), fmt(test.get("event_f1"))],
        ["false-alarm rate (absent sounds)", fmt(demo["absent"]["false_alarm_rate"]),
         fmt(test.get("false_alarm_rate"))],
    ]
    per_query = [[r.filename, "present" if r.present else "absent", r.kind, r.text, r.n_reference, r.n_segments,
                  fmt(r.event_f1), fmt(r.segment_f1), fmt(r.reference_covered, digits=2), r.cut_outs]
                 for r in table.itertuples(index=False)]
    candidates = [[f"{c['backbone']} seed {c['seed']}", fmt(c["validation_event_f1"]),
                   "chosen" if c["path"] == model["path"] else ""] for c in summary["candidates"]]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Demo on held-out audio</title>'
        f"<style>{HTML_STYLE} table {{ margin-bottom: 1.5em; }}</style></head><body>\n"
        f'<table id="demo-scores"><caption>Demo: {e(model["backbone"])} seed {model["seed"]} on '
        f'{len(summary["files"])} held-out file(s) versus its test split</caption>\n'
        f'{rows_html(scores, ["metric", "demo", "test split"])}</table>\n'
        f'<table id="demo-queries"><caption>Every query of the demo</caption>\n'
        f'{rows_html(per_query, QUERY_HEADERS, keys=4)}'
        "</table>\n"
        f'<table id="demo-models"><caption>The models, by validation event F1</caption>\n'
        f'{rows_html(candidates, ["model", "validation event F1", ""])}</table>\n'
        f'<p class="notes">Model {e(model["path"])}; decoding threshold {model["threshold"]:g}, gate '
        f'{model.get("gate", 0.0):g}, merge gap {model["merge_gap"]:g} s, minimum duration {model["min_duration"]:g} s'
        f'{example_decoding_note(model.get("example_decoding"))} (chosen on validation). Event F1: '
        f'sed_eval with an onset collar of {summary["settings"]["t_collar"]:g} s and an offset tolerance of the '
        f'larger of that and {summary["settings"]["percentage_of_length"]:.0%} of the event; the test split\'s '
        "numbers are the evaluate rule's, on the test mixtures (not these files). Absent sounds should get no segment: "
        f'{demo["absent"]["n_segments"]} segment(s) over {demo["absent"]["n_negative_queries"]} such queries.</p>\n'
        "</body></html>\n")
