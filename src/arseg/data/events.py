"""The events table (`events.tsv`): one row per audible stretch of an event in a mixture.

Written by the mixtures (`data.mixtures`, `data.long_mixtures`) and read by queries, training,
evaluation and figures. No audio here, so the rules without audio libraries read it too."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

EVENT_COLUMNS = ["filename", "onset", "offset", "event_label", "clip_id", "description", "snr_db"]


def read_events(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", keep_default_na=False,
                        dtype={"filename": str, "event_label": str, "clip_id": str, "description": str})
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {EVENT_COLUMNS}")
    return table
