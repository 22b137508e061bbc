"""The `demo` rule: the best model, chosen on validation, on held-out long audio.

1. The best model is the one whose validation event F1 (stored in its model file by
   training, `extra["validation_decoding"]["chosen"]["event_f1"]`) is highest; the test
   split never takes part in the choice. Ties go to the first in the workflow's order
   (backbones as configured, then seeds).
2. Each demo file (`arseg.data.long_mixtures`) is segmented by the functions behind `arseg segment`
   (`arseg.infer.segment.segment_file`, with pictures and cut-outs), so the demo shows exactly
   what a user gets: per query a segments TSV, a picture and the cut-out audio.
3. The segments are scored against the file's reference with the project's sed_eval
   settings (`arseg.eval.sed_metrics.evaluate`, the function behind the test metrics), per query
   and over all queries, next to the chosen model's test scores; queries for absent
   categories report how many segments they got (the right answer is none).
"""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from arseg.data.events import read_events
from arseg.data.queries import read_queries
from arseg.eval.scoring import EvalConfig, estimated_events, f1_from_counts, reference_events
from arseg.eval.sed_metrics import evaluate, per_query_counts
from arseg.io import atomic

MODEL_PATH = re.compile(r"(?:^|/)models/(?P<backbone>[^/]+)/seed(?P<seed>\d+)/(?:refit/)?model\.pt$")
METRICS_PATH = re.compile(r"(?:^|/)metrics/(?P<backbone>[^/]+)/seed(?P<seed>\d+)\.json$")


# ---------------------------------------------------------------- the best model


def model_identity(path: str | Path) -> tuple[str, int]:
    """(backbone, seed) of results/models/{backbone}/seed{seed}/model.pt (or its refit/model.pt)."""
    match = MODEL_PATH.search(Path(path).as_posix())
    if not match:
        raise ValueError(f"{path}: not a path of the form models/<backbone>/seed<k>/[refit/]model.pt")
    return match["backbone"], int(match["seed"])


def validation_event_f1(extra: dict) -> float | None:
    """The validation event F1 that training stored with the decoding it chose (None if absent)."""
    try:
        value = extra["validation_decoding"]["chosen"]["event_f1"]
    except (KeyError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def choose_best(candidates: list[dict]) -> dict:
    """The candidate with the highest `validation_event_f1`; ties: the first given.

    candidates: dicts with at least `path` and `validation_event_f1` (None: not eligible).
    """
    eligible = [c for c in candidates if c.get("validation_event_f1") is not None]
    if not eligible:
        names = ", ".join(str(c["path"]) for c in candidates) or "none given"
        raise ValueError("no model file holds a validation event F1 (extra['validation_decoding']['chosen']"
                         f"['event_f1']); retrain them: {names}")
    return max(eligible, key=lambda c: c["validation_event_f1"])  # max keeps the first of equals


def read_candidates(paths) -> list[dict]:
    """One row per model file: backbone, seed, query kind, validation event F1."""
    from arseg.model.segmenter import load_model

    rows = []
    for path in paths:
        backbone, seed = model_identity(path)
        model, extra = load_model(path)
        rows.append({"path": str(path), "backbone": backbone, "seed": seed, "query_encoder": model.cfg.query_encoder,
                     "validation_event_f1": validation_event_f1(extra)})
    return rows


def chosen_test_scores(metrics_paths, backbone: str, seed: int) -> dict:
    """The chosen model's test event F1 (all queries, positives), read for comparison only."""
    for path in metrics_paths:
        match = METRICS_PATH.search(Path(path).as_posix())
        if match and match["backbone"] == backbone and int(match["seed"]) == seed:
            data = json.loads(Path(path).read_text())
            return {"path": str(path),
                    "event_f1": data.get("overall", {}).get("event_f1"),
                    "segment_f1": data.get("overall", {}).get("segment_f1"),
                    "positives_event_f1": data.get("positives", {}).get("event_f1"),
                    "positives_segment_f1": data.get("positives", {}).get("segment_f1"),
                    "false_alarm_rate": data.get("negatives", {}).get("false_alarm_rate")}
    return {}


# ---------------------------------------------------------------- segmenting as `arseg segment` does


def load_embeddings(embeddings):
    """The workflow's text-embedding cache (the same encoder), or an empty one."""
    from arseg.model.text_encoder import EMBEDDING_DIM, EmbeddingCache, load_cache

    return load_cache(embeddings) or EmbeddingCache([], np.zeros((0, EMBEDDING_DIM), np.float32))


def segment_files(model, asked: pd.DataFrame, audio_dir: Path, cache, out_segments: Path, out_cuts: Path,
                  threads: int = 1, pad: float = 0.1, clips_dir: Path | None = None) -> tuple[pd.DataFrame, dict, dict]:
    """Segment each demo file for its queries with `arseg segment`'s steps: per query a
    segments TSV and a picture in OUT_SEGMENTS/<file>/, the cut-out audio in OUT_CUTS/<file>/.
    An example query's clip (clips_dir/<clip_id>.wav) is asked as `--example` asks it, from
    OUT_CUTS/<file>/examples/<clip_id>.wav (`example_clip`), where the report offers it too.
    Returns (predictions: query_id, onset, offset, score as `arseg segment` reports them;
    per query its output files; per file its duration)."""
    import torch

    from arseg.infer import segment
    from arseg.infer.windows import model_decodings
    from arseg.model.query_inputs import query_inputs
    from arseg.model.segmenter import prepare_for_inference

    label = model.cfg.query_encoder == "label"
    if not label:  # every text at once: the encoder, if needed at all, is loaded once
        texts = asked.loc[asked["kind"] != "example", "text"]
        query_inputs(model, list(dict.fromkeys(t.strip() for t in texts if t.strip())), cache)
    decode, fast = model_decodings(model), prepare_for_inference(model)
    rows, outputs, durations = [], {}, {}
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for filename, group in asked.groupby("filename", sort=True):
            path, stem = audio_dir / filename, Path(filename).stem
            asked_as = [str(example_clip(clips_dir, row.text, out_cuts / stem, model.cfg)) if row.kind == "example"
                        else row.target_label if label else row.text for row in group.itertuples(index=False)]
            is_example = (group["kind"] == "example").tolist()
            texts = [a for a, example in zip(asked_as, is_example) if not example]
            clips = [a for a, example in zip(asked_as, is_example) if example]
            queries = segment.check_queries(model, [] if label else texts, texts if label else [], str(path), clips)
            inputs = query_inputs(model, [q.text for q in queries], cache, kinds=[q.kind for q in queries],
                                  examples=segment.embed_examples(model, queries))
            (out_segments / stem).mkdir(parents=True, exist_ok=True)
            entry = segment.segment_file(path, segment.file_keys([path])[path], model, fast, queries, inputs, decode,
                                         out_segments / stem, out_cuts / stem, pad, picture=True)
            durations[filename] = entry["duration"]
            by_query = {item["query"]: item for item in entry["results"]}
            for row, text in zip(group.itertuples(index=False), asked_as):
                item = by_query[text.strip()]
                outputs[row.query_id] = {"tsv": item["tsv"], "plot": item.get("plot"),
                                         "extracted": item.get("extracted", [])}
                rows += [[row.query_id, s["onset"], s["offset"], s["score"]] for s in item["segments"]]
            print(f"{filename}: {len(group)} queries, {sum(len(item['segments']) for item in by_query.values())} "
                  f"segments", flush=True)
    finally:  # leave the caller's setting as it was
        torch.set_num_threads(threads_before)
    return pd.DataFrame(rows, columns=["query_id", "onset", "offset", "score"]), outputs, durations


def example_clip(clips_dir: Path, clip_id: str, folder: Path, cfg) -> Path:
    """The corpus clip of an example query as the workflow embeds it (its first window, at the
    model's rate), written to FOLDER/examples/<clip_id>.wav for `--example` to read."""
    from arseg.io.audio import read_mono, write_wav

    audio, _ = read_mono(clips_dir / f"{clip_id}.wav", cfg.sample_rate)
    path = folder / "examples" / f"{clip_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, audio[:int(round(cfg.window_seconds * cfg.sample_rate))], cfg.sample_rate)
    return path


# ---------------------------------------------------------------- scoring


def reference_coverage(reference: list[tuple[float, float]], segments: list[tuple[float, float]]) -> float | None:
    """Share of the reference's time that the segments cover (None without a reference)."""
    total = sum(off - on for on, off in reference)
    if total <= 0:
        return None
    covered = 0.0
    for on, off in reference:
        for s_on, s_off in segments:
            covered += max(0.0, min(off, s_off) - max(on, s_on))
    return min(1.0, covered / total)


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
                     "reference_covered": reference_coverage(reference[query.query_id], segments)})
    return pd.DataFrame(rows), metrics


# ---------------------------------------------------------------- the rule's step


def run_demo(models, metrics, events_path, queries_path, audio_dir, embeddings, out_segments, out_cuts,
             out_tsv, out_json, out_html, cfg: EvalConfig, threads: int = 1, pad: float = 0.1,
             clips_dir: Path | None = None) -> dict:
    """Choose the best model on validation, segment every demo file with it as `arseg
    segment` does, score the segments, write the summary (TSV, JSON, HTML)."""
    from arseg.model.query_inputs import supported
    from arseg.model.segmenter import load_model

    candidates = read_candidates(models)
    for c in candidates:
        print(f"candidate {c['path']}: validation event F1 {c['validation_event_f1']}", flush=True)
    best = choose_best(candidates)
    print(f"best on validation: {best['backbone']} seed {best['seed']} ({best['path']})", flush=True)
    model, _ = load_model(best["path"])
    events, queries = read_events(events_path), read_queries(queries_path)
    asked = supported(model, queries).reset_index(drop=True)
    predictions, outputs, durations = segment_files(model, asked, Path(audio_dir), load_embeddings(embeddings),
                                                    Path(out_segments), Path(out_cuts), threads, pad,
                                                    Path(clips_dir) if clips_dir else None)
    table, scores = score(asked, events, predictions, max(durations.values()) if durations else 0.0, cfg)
    table["segments_tsv"] = [outputs[q]["tsv"] for q in table["query_id"]]
    table["picture"] = [outputs[q]["plot"] for q in table["query_id"]]
    table["cut_outs"] = [len(outputs[q]["extracted"]) for q in table["query_id"]]
    summary = summarise(best, model.cfg, candidates, metrics, durations, table, scores, cfg, pad)
    atomic.write_tsv(out_tsv, table)
    atomic.write_json(out_json, atomic.json_ready(summary))
    atomic.write_text(out_html, summary_html(summary, table))
    present, absent = summary["demo"]["present"], summary["demo"]["absent"]
    print(f"demo: event F1 on present queries {_fmt(present['event_f1'])} (test: "
          f"{_fmt(summary['model']['test'].get('positives_event_f1'))}); absent queries: "
          f"{absent['n_segments']} segments in {int((table['present'] == 0).sum())} queries", flush=True)
    return summary


def summarise(best: dict, model_cfg, candidates: list[dict], metrics, durations: dict, table: pd.DataFrame,
              scores: dict, cfg: EvalConfig, pad: float) -> dict:
    """The demo's summary: the model chosen and its test scores, the demo's scores, every query."""
    absent = table[table["present"] == 0]
    return {
        "model": {**best, "test": chosen_test_scores(metrics, best["backbone"], best["seed"]),
                  "threshold": model_cfg.threshold, "gate": model_cfg.gate, "merge_gap": model_cfg.merge_gap,
                  "min_duration": model_cfg.min_duration, "example_decoding": dict(model_cfg.example_decoding)},
        "candidates": candidates,
        "files": {f: {"duration": d} for f, d in durations.items()},
        "demo": {"present": scores["positives"], "all_queries": scores["overall"], "by_kind": scores["by_kind"],
                 "absent": {**scores["negatives"], "n_segments": int(absent["n_segments"].sum()),
                            "queries_with_segments": int((absent["n_segments"] > 0).sum())}},
        "settings": {"t_collar": cfg.t_collar, "percentage_of_length": cfg.percentage_of_length,
                     "segment_seconds": cfg.segment_seconds, "pad": pad},
        "queries": _records(table),
    }


def _records(table: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


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
        ["event F1, present sounds", _fmt(demo["present"]["event_f1"]), _fmt(test.get("positives_event_f1"))],
        ["segment F1, present sounds", _fmt(demo["present"]["segment_f1"]), _fmt(test.get("positives_segment_f1"))],
        ["event F1, all queries", _fmt(demo["all_queries"]["event_f1"]), _fmt(test.get("event_f1"))],
        ["false-alarm rate (absent sounds)", _fmt(demo["absent"]["false_alarm_rate"]),
         _fmt(test.get("false_alarm_rate"))],
    ]
    per_query = [[r.filename, "present" if r.present else "absent", r.kind, r.text, r.n_reference, r.n_segments,
                  _fmt(r.event_f1), _fmt(r.segment_f1), _fmt(r.reference_covered, 2), r.cut_outs]
                 for r in table.itertuples(index=False)]
    candidates = [[f"{c['backbone']} seed {c['seed']}", _fmt(c["validation_event_f1"]),
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
