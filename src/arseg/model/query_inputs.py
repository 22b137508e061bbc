"""What a model is asked: the queries it can answer, the text or label each one puts to it,
and its inputs for them (label indices, or sentence embeddings from the cache). Training,
prediction, the showcase and `arseg segment` all ask through these."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from arseg.model.segmenter import ReferringSegmenter


def supported(model: ReferringSegmenter, queries: pd.DataFrame) -> pd.DataFrame:
    """The queries a model can answer: all for text models, label queries of known labels otherwise."""
    if model.cfg.query_encoder == "text":
        return queries
    return queries[(queries["kind"] == "label") & queries["target_label"].isin(model.cfg.labels)]


def query_texts(model: ReferringSegmenter, queries: pd.DataFrame) -> list[str]:
    """What a model is asked per query: the text, or the target label for a label model."""
    return queries["text" if model.cfg.query_encoder == "text" else "target_label"].tolist()


class QueryKindError(ValueError):
    """A label the closed-set model was not trained on."""


def query_inputs(model: ReferringSegmenter, texts, cache=None, encoder_factory=None) -> torch.Tensor:
    """Model inputs for queries, one per text: label indices for a label model (the texts
    are its labels), else text embeddings from `cache` (an EmbeddingCache). Texts the cache
    lacks are embedded and added to it; the encoder (encoder_factory(), else the default)
    is loaded only then, as loading it takes seconds."""
    texts = list(texts)
    if model.cfg.query_encoder != "text":
        unknown = sorted(set(texts) - set(model.cfg.labels))
        if unknown:
            raise QueryKindError(f"label model knows {model.cfg.labels}; cannot answer {unknown}")
        position = {label: i for i, label in enumerate(model.cfg.labels)}
        return torch.tensor([position[label] for label in texts], dtype=torch.int64)
    missing = [t for t in texts if t not in cache.index]
    encoder = encoder_factory() if missing and encoder_factory is not None else None
    return torch.from_numpy(np.asarray(cache.lookup(texts, encoder), dtype=np.float32)).float()
