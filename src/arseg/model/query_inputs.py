"""What a model is asked: the queries it can answer, the text or label each one puts to it,
and its inputs for them (label indices, sentence embeddings from the cache, clip embeddings
of example queries from the bank). Training, prediction, the showcase and `arseg segment`
all ask through these."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from arseg.data.corpus.table import label_text
from arseg.model.examples import input_rows
from arseg.model.segmenter import ReferringSegmenter


def supported(model: ReferringSegmenter, queries: pd.DataFrame) -> pd.DataFrame:
    """The queries a model can answer: text models all (example queries only if trained on
    them), label models the label queries of labels they know."""
    if model.cfg.query_encoder == "text":
        return queries if model.cfg.example_dim else queries[queries["kind"] != "example"]
    return queries[(queries["kind"] == "label") & queries["target_label"].isin(model.cfg.labels)]


def query_texts(model: ReferringSegmenter, queries: pd.DataFrame) -> list[str]:
    """What a model is asked per query: the text (an example query's: its clip id), or the
    target label for a label model."""
    return queries["text" if model.cfg.query_encoder == "text" else "target_label"].tolist()


class QueryError(ValueError):
    """A query the model cannot answer: free text on a closed-set model, a label it was not
    trained on, an example clip for a model trained without them, or one that cannot be read."""


def table_inputs(model: ReferringSegmenter, queries: pd.DataFrame, cache=None, examples=None) -> torch.Tensor:
    """Model inputs for the rows of a query table (which the model supports)."""
    return query_inputs(model, query_texts(model, queries), cache, kinds=queries["kind"].tolist(),
                        examples=examples)


def query_inputs(model: ReferringSegmenter, texts, cache=None, encoder_factory=None, kinds=None,
                 examples=None) -> torch.Tensor:
    """Model inputs for queries, one per text: label indices for a label model (the texts
    are its labels), else text embeddings from `cache` (an EmbeddingCache). Texts the cache
    lacks are embedded and added to it; the encoder (encoder_factory(), else the default)
    is loaded only then, as loading it takes seconds. kinds: per text its query kind; the
    text of an "example" query is a key of `examples` (a model.examples.ExampleBank), that
    of a "label" query a category name, asked as `label_text` writes it."""
    texts = list(texts)
    if model.cfg.query_encoder != "text":
        unknown = sorted(set(texts) - set(model.cfg.labels))
        if unknown:
            raise QueryError(f"label model knows {model.cfg.labels}; cannot answer {unknown}")
        position = {label: i for i, label in enumerate(model.cfg.labels)}
        return torch.tensor([position[label] for label in texts], dtype=torch.int64)
    kinds = kinds or [None] * len(texts)
    is_example = np.array([kind == "example" for kind in kinds], dtype=bool)
    if is_example.any() and not model.cfg.example_dim:
        raise QueryError("this model was trained without example queries; it takes text queries only")
    # a category's name as its label queries were written ("wild_animals" as "wild animals")
    asked = [label_text(t) if kind == "label" else t for t, kind in zip(texts, kinds) if kind != "example"]
    vectors = np.zeros((0, model.cfg.text_dim), np.float32)
    if asked:
        missing = [t for t in asked if t not in cache.index]
        encoder = encoder_factory() if missing and encoder_factory is not None else None
        vectors = np.asarray(cache.lookup(asked, encoder), dtype=np.float32)
    if not model.cfg.example_dim:
        return torch.from_numpy(vectors).float()
    rows = np.zeros((len(texts), model.cfg.text_dim + model.cfg.example_dim), np.float32)
    rows[~is_example] = input_rows(model.cfg.text_dim, texts=vectors)
    if is_example.any():
        clips = [t for t, example in zip(texts, is_example) if example]
        rows[is_example] = input_rows(model.cfg.text_dim, examples=examples.lookup(clips))
    return torch.from_numpy(rows)
