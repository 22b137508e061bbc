"""Read one split's stored log-mel features (numpy and pandas only, no torch, so the
figure rules' light env can read them too), or several splits' as one."""
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

    @classmethod
    def stacked(cls, stores: list["FeatureStore"]) -> "FeatureStore":
        """The stores read as one, rows one after another (a refit trains on two sets)."""
        combined = cls.__new__(cls)
        combined.array = StackedRows([store.array for store in stores])
        offsets, combined.row = combined.array.offsets, {}
        for offset, store in zip(offsets, stores):
            combined.row.update({name: offset + row for name, row in store.row.items()})
        return combined

    def __getitem__(self, filename: str) -> np.ndarray:
        return np.asarray(self.array[self.row[filename]])


class StackedRows:
    """Arrays of equal row shape indexed as one, rows one after another; rows are read from
    each (memory-mapped) array as asked, never copied whole."""

    def __init__(self, arrays: list):
        self.arrays = list(arrays)
        if len({a.shape[1:] for a in self.arrays}) > 1:
            raise ValueError(f"cannot stack feature arrays of row shapes {[a.shape[1:] for a in self.arrays]}")
        self.offsets = [int(o) for o in np.cumsum([0] + [len(a) for a in self.arrays])[:-1]]
        self.shape = (sum(len(a) for a in self.arrays), *self.arrays[0].shape[1:])
        self.dtype = self.arrays[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.asarray(rows)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        if rows.ndim == 0:
            return np.asarray(self.arrays[which][rows - self.offsets[which]])
        out = np.empty((*rows.shape, *self.shape[1:]), dtype=self.dtype)
        for i, array in enumerate(self.arrays):
            chosen = which == i
            if chosen.any():
                out[chosen] = array[rows[chosen] - self.offsets[i]]
        return out
