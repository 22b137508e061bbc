"""Predictions for a split: per query its segments, and per query its bin scores (for
threshold-free metrics and pictures) with the threshold and gate that decoded it.
`predict_one` is the predict rule's run from the workflow's files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from arseg.data.queries import read_queries
from arseg.features.store import FeatureStore
from arseg.infer.windows import model_decodings, predict_bins, segments_from_bins
from arseg.io import atomic
from arseg.model.examples import ExampleBank, load_bank
from arseg.model.query_inputs import supported, table_inputs
from arseg.model.segmenter import ReferringSegmenter, load_model, prepare_for_inference
from arseg.model.text_encoder import EmbeddingCache, load_cache

PREDICTION_COLUMNS = ["query_id", "onset", "offset", "score"]


def predict_split(model: ReferringSegmenter, features: FeatureStore, queries: pd.DataFrame,
                  cache: EmbeddingCache | None, duration: float, out_tsv: Path, out_scores: Path,
                  examples: ExampleBank | None = None) -> pd.DataFrame:
    queries = supported(model, queries)
    fast = prepare_for_inference(model)  # what `arseg segment` runs
    decodings = model_decodings(model)
    rows, ids, scores, used = [], [], [], []
    for filename, group in tqdm(queries.groupby("filename", sort=True), desc="predict", unit="mix"):
        bins = predict_bins(fast, features[filename], table_inputs(model, group, cache, examples))
        for query_id, kind, query_bins in zip(group["query_id"], group["kind"], bins):
            decode = decodings.of(kind)
            for onset, offset, score in segments_from_bins(query_bins, model, duration, decode):
                rows.append([query_id, round(onset, 4), round(offset, 4), round(score, 4)])
            ids.append(query_id)
            scores.append(query_bins[:, 0])
            used.append((decode.threshold, decode.gate))
    table = pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
    atomic.write_tsv(out_tsv, table)
    with atomic.atomic_path(out_scores, suffix=".tmp.npz") as tmp:
        np.savez_compressed(tmp, query_id=np.array(ids, dtype=str),
                            presence=np.stack(scores).astype(np.float32) if scores else np.zeros((0, 0), np.float32),
                            bin_width=np.float64(model.cfg.bin_width),
                            threshold=np.array([t for t, _ in used], np.float64),
                            gate=np.array([g for _, g in used], np.float64))
    return table


def predict_one(model, features, index, queries, embeddings, duration: float, out_tsv: Path, out_scores: Path,
                examples=()):
    """The predict rule: a model file, a split's stored features, queries, text embeddings and
    example clip embeddings in; segments and bin scores out."""
    segmenter, _ = load_model(model)
    return predict_split(segmenter, FeatureStore(features, index), read_queries(queries), load_cache(embeddings),
                         duration, out_tsv, out_scores, load_bank(examples))
