"""Fresh example clips for training: a training query by example names one clip, but any
clip of its category that does not sound in the mixture would do. Drawing one of them anew
each time the query is asked keeps the model from learning the pairs by heart; validation
and test keep the clip their query names."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from arseg.model.examples import ExampleBank


@dataclasses.dataclass
class ExampleDraws:
    vectors: np.ndarray  # (K, EXAMPLE_DIM) the clip embeddings to draw from
    choices: list        # per query: indices into vectors (empty: not an example query)
    offset: int          # where the clip embedding starts in a query input row (the text width)


def example_draws(queries: pd.DataFrame, events: pd.DataFrame, bank: ExampleBank, split: str,
                  offset: int) -> ExampleDraws:
    """For each example query of a split, the clips it may be asked with: the split's clips of
    its category (as the bank records them), less those in the query's mixture."""
    examples = queries[queries["kind"] == "example"]
    by_category = {c: bank.clips_of(c, split) for c in examples["target_label"].unique()}
    in_mixture = {f: set(g) for f, g in events.groupby("filename")["clip_id"]}
    choices = []
    for query in queries.itertuples(index=False):
        if query.kind != "example":
            choices.append(np.zeros(0, np.int64))
            continue
        allowed = [c for c in by_category[query.target_label] if c not in in_mixture.get(query.filename, set())]
        choices.append(np.array([bank.index[c] for c in allowed], dtype=np.int64))
    return ExampleDraws(bank.vectors, choices, offset)


def redraw(inputs: torch.Tensor, query_ids: np.ndarray, draws: ExampleDraws, rng: np.random.Generator) -> torch.Tensor:
    """The batch's query inputs with each example query's clip drawn anew."""
    rows = [(j, draws.choices[q]) for j, q in enumerate(query_ids) if len(draws.choices[q])]
    if not rows:
        return inputs
    inputs = inputs.clone()
    picked = np.array([choices[rng.integers(len(choices))] for _, choices in rows])
    inputs[[j for j, _ in rows], draws.offset:] = torch.from_numpy(draws.vectors[picked]).to(inputs.device)
    return inputs
