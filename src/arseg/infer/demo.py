"""The demo's segmenting (the `demo_segments` rule): the best model, chosen on validation, on
held-out long audio, through `arseg segment`'s own steps.

1. The best model is the one whose validation event F1 (stored in its model file by
   training, `extra["validation_decoding"]["chosen"]["event_f1"]`) is highest; the test
   split never takes part in the choice. Ties go to the first in the workflow's order
   (backbones as configured, then seeds).
2. Each demo file (`arseg.data.long_mixtures`) is segmented by the functions behind `arseg segment`
   (`arseg.infer.segment.segment_file`, with pictures and cut-outs), so the demo shows exactly
   what a user gets: per query a segments TSV, a picture and the cut-out audio.
3. What it answered is written to a JSON file, which `arseg.report.showcase` scores: an edit
   of the evaluation settings then rescores without segmenting again.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from arseg.data.queries import read_queries
from arseg.io import atomic
from arseg.results_layout import model_file

# ---------------------------------------------------------------- the best model


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
        backbone, seed, _ = model_file(path)
        model, extra = load_model(path)
        rows.append({"path": str(path), "backbone": backbone, "seed": seed, "query_encoder": model.cfg.query_encoder,
                     "validation_event_f1": validation_event_f1(extra)})
    return rows


# ---------------------------------------------------------------- segmenting as `arseg segment` does


def load_embeddings(embeddings):
    """The workflow's text-embedding cache (the same encoder), or an empty one."""
    from arseg.model.text_encoder import EmbeddingCache, load_cache

    return load_cache(embeddings) or EmbeddingCache.empty()


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


def segment_demo(models, queries_path, audio_dir, embeddings, out_segments, out_cuts, out_answers,
                 threads: int = 1, pad: float = 0.1, clips_dir: Path | None = None) -> dict:
    """The `demo_segments` rule: choose the best model on validation, segment every demo file
    with it as `arseg segment` does, and write what it answered to OUT_ANSWERS (JSON: the
    model and its decoding, the candidates, the queries asked, their segments and output
    files, each file's duration). Scoring is `summarise_demo`'s, so that an edit of the
    evaluation settings rescores these answers without segmenting again."""
    from arseg.model.query_inputs import supported
    from arseg.model.segmenter import load_model

    candidates = read_candidates(models)
    for c in candidates:
        print(f"candidate {c['path']}: validation event F1 {c['validation_event_f1']}", flush=True)
    best = choose_best(candidates)
    print(f"best on validation: {best['backbone']} seed {best['seed']} ({best['path']})", flush=True)
    model, _ = load_model(best["path"])
    asked = supported(model, read_queries(queries_path))
    predictions, outputs, durations = segment_files(model, asked.reset_index(drop=True), Path(audio_dir),
                                                    load_embeddings(embeddings), Path(out_segments), Path(out_cuts),
                                                    threads, pad, Path(clips_dir) if clips_dir else None)
    cfg = model.cfg
    answers = {
        "model": {**best, "threshold": cfg.threshold, "gate": cfg.gate, "merge_gap": cfg.merge_gap,
                  "min_duration": cfg.min_duration, "example_decoding": dict(cfg.example_decoding)},
        "candidates": candidates,
        "pad": pad,
        "files": {f: {"duration": d} for f, d in durations.items()},
        "queries": [{"query_id": q, **outputs[q]} for q in asked["query_id"]],
        "segments": predictions.values.tolist(),
    }
    atomic.write_json(out_answers, atomic.json_ready(answers))
    return answers
