"""Queries per mixture: positives (each present category, as its label and as the clip's
description) and negatives (absent categories, as label and as another clip's description).

With examples, each of them is also asked by example: the query names a clip of the split
(its id is the query's text) of the target category that does not sound in the mixture, for a
positive one another clip of the same category. A category whose only clips in the split are in
the mixture gets no example query. Example clips are drawn with their own generator, so the label
and description queries are the same with examples or without."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from arseg.data.corpus.table import SPLITS, label_text
from arseg.io import atomic

QUERY_COLUMNS = ["query_id", "filename", "text", "kind", "target_label", "positive"]


def make_queries(events: pd.DataFrame, clips: pd.DataFrame, split: str, negatives_per_mixture: int,
                 seed: int, examples: bool = False, first: int = 0) -> pd.DataFrame:
    """Build the query table of one split from its events and the split's clips. `first`: the
    index of the first mixture (generate_split's), so each mixture's queries are drawn alike
    in whichever set it is."""
    pool = clips[clips["split"] == split]
    categories = sorted(pool["category"].unique())
    descriptions = {c: pool.loc[pool["category"] == c, "description"].tolist() for c in categories}
    clip_ids = {c: sorted(pool.loc[pool["category"] == c, "clip_id"]) for c in categories}
    rows = []
    for index, (filename, group) in enumerate(events.groupby("filename", sort=True), start=first):
        rng = np.random.default_rng([seed, SPLITS.index(split), index])
        present = group.drop_duplicates("event_label")
        absent = [c for c in categories if c not in set(group["event_label"])]
        negatives = list(rng.permutation(absent)[:negatives_per_mixture])
        queries = text_queries(present, negatives, descriptions, rng)
        if examples:
            queries += example_queries(list(present["event_label"]), set(group["clip_id"]), negatives, clip_ids,
                                       np.random.default_rng([seed, SPLITS.index(split), index, 1]))
        rows += query_rows(filename, queries)
    return pd.DataFrame(rows, columns=QUERY_COLUMNS)


def text_queries(present: pd.DataFrame, negatives: list[str], descriptions: dict[str, list[str]],
                 rng: np.random.Generator) -> list[tuple]:
    """(text, kind, target, positive) of the label and description queries of one mixture:
    each event of `present` (one per category) by its category's label and by its own clip's
    description; each absent category of `negatives` by its label and by a description drawn
    from its clips' (`descriptions`)."""
    queries = []
    for event in present.itertuples(index=False):
        queries.append((label_text(event.event_label), "label", event.event_label, 1))
        if event.description.strip():
            queries.append((event.description, "description", event.event_label, 1))
    for category in negatives:
        queries.append((label_text(category), "label", category, 0))
        texts = [t for t in descriptions[category] if t.strip()]
        if texts:
            queries.append((texts[int(rng.integers(len(texts)))], "description", category, 0))
    return queries


def query_rows(filename: str, queries: list[tuple]) -> list[list]:
    """A mixture's queries as rows of QUERY_COLUMNS, numbered <stem>_q00, _q01, ..."""
    stem = Path(filename).stem
    return [[f"{stem}_q{j:02d}", filename, text, kind, target, positive]
            for j, (text, kind, target, positive) in enumerate(queries)]


def example_queries(present: list[str], in_mixture: set[str], negatives: list[str],
                    clip_ids: dict[str, list[str]], rng: np.random.Generator) -> list[tuple]:
    """One example query per present category and per queried absent one: a clip of the
    category (clip_ids: the split's, by category), never one of those in the mixture."""
    queries = []
    for category, positive in [*((c, 1) for c in present), *((c, 0) for c in negatives)]:
        candidates = [c for c in clip_ids.get(category, []) if c not in in_mixture]
        if candidates:
            queries.append((candidates[int(rng.integers(len(candidates)))], "example", category, positive))
    return queries


def read_queries(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", keep_default_na=False,
                        dtype={"query_id": str, "filename": str, "text": str, "kind": str, "target_label": str})
    missing = [c for c in QUERY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {QUERY_COLUMNS}")
    return table


def write_queries(path: str | Path, table: pd.DataFrame) -> None:
    atomic.write_tsv(path, table)
