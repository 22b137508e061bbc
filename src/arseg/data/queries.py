"""Queries per mixture: positives (each present category, as its label and as the clip's
description) and negatives (absent categories, as label and as another clip's description)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from arseg.data.corpus.table import SPLITS, label_text
from arseg.io import atomic

QUERY_COLUMNS = ["query_id", "filename", "text", "kind", "target_label", "positive"]


def make_queries(events: pd.DataFrame, clips: pd.DataFrame, split: str, negatives_per_mixture: int,
                 seed: int) -> pd.DataFrame:
    """Build the query table of one split from its events and the split's clips."""
    pool = clips[clips["split"] == split]
    categories = sorted(pool["category"].unique())
    descriptions = {c: pool.loc[pool["category"] == c, "description"].tolist() for c in categories}
    rows = []
    for index, (filename, group) in enumerate(events.groupby("filename", sort=True)):
        rng = np.random.default_rng([seed, SPLITS.index(split), index])
        queries = []
        for event in group.drop_duplicates("event_label").itertuples(index=False):
            queries.append((label_text(event.event_label), "label", event.event_label, 1))
            if event.description.strip():
                queries.append((event.description, "description", event.event_label, 1))
        absent = [c for c in categories if c not in set(group["event_label"])]
        for category in rng.permutation(absent)[:negatives_per_mixture]:
            queries.append((label_text(category), "label", category, 0))
            texts = [t for t in descriptions[category] if t.strip()]
            if texts:
                queries.append((texts[int(rng.integers(len(texts)))], "description", category, 0))
        stem = Path(filename).stem
        for j, (text, kind, target, positive) in enumerate(queries):
            rows.append([f"{stem}_q{j:02d}", filename, text, kind, target, positive])
    return pd.DataFrame(rows, columns=QUERY_COLUMNS)


def read_queries(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", keep_default_na=False,
                        dtype={"query_id": str, "filename": str, "text": str, "kind": str, "target_label": str})
    missing = [c for c in QUERY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {QUERY_COLUMNS}")
    return table


def write_queries(path: str | Path, table: pd.DataFrame) -> None:
    atomic.write_tsv(path, table)
