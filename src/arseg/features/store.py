"""Read one split's stored log-mel features (numpy and pandas only, no torch, so the
figure rules' light env can read them too)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


class FeatureStore:
    """Read-only view of one split's features: filename -> (frames, n_mels) array."""

    def __init__(self, npy: str | Path, index: str | Path):
        self.array = np.load(npy, mmap_mode="r")
        table = pd.read_csv(index, sep="\t", dtype={"filename": str})
        self.row = dict(zip(table["filename"], table["row"]))

    def __getitem__(self, filename: str) -> np.ndarray:
        return np.asarray(self.array[self.row[filename]])
