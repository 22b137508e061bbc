"""Results tables from metrics JSON files: one row per backbone, mean and spread over seeds."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import atomic

# column -> (how to read it from a metrics dict, higher is better)
COLUMNS = {
    "event_f1": (lambda m: m["overall"]["event_f1"], True),
    "event_f1_label": (lambda m: m["by_kind"].get("label", {}).get("event_f1"), True),
    "event_f1_description": (lambda m: m["by_kind"].get("description", {}).get("event_f1"), True),
    "event_error_rate": (lambda m: m["overall"]["event_error_rate"], False),
    "segment_f1": (lambda m: m["overall"]["segment_f1"], True),
    "segment_error_rate": (lambda m: m["overall"]["segment_error_rate"], False),
    "false_alarm_rate": (lambda m: m["negatives"]["false_alarm_rate"], False),
}


def parse_metrics_path(path: str | Path) -> tuple[str, int]:
    """results/metrics/<backbone>/seed<k>.json -> (backbone, k)."""
    path = Path(path)
    match = re.fullmatch(r"seed(\d+)\.json", path.name)
    if not match:
        raise ValueError(f"{path}: expected a metrics file named seed<k>.json")
    return path.parent.name, int(match.group(1))


def results_table(paths: list[str | Path]) -> pd.DataFrame:
    records = []
    for path in paths:
        backbone, seed = parse_metrics_path(path)
        metrics = json.loads(Path(path).read_text())
        records.append({"backbone": backbone, "seed": seed,
                        **{name: read(metrics) for name, (read, _) in COLUMNS.items()}})
    per_seed = pd.DataFrame(records).astype({name: float for name in COLUMNS})
    grouped = per_seed.groupby("backbone", sort=False)
    table = grouped[list(COLUMNS)].mean()
    spread = grouped[list(COLUMNS)].std(ddof=1).fillna(0.0).add_suffix("_std")
    table = table.join(spread)
    table.insert(0, "seeds", grouped.size())
    return table.reset_index()


def best_rows(table: pd.DataFrame) -> dict[str, int]:
    """column -> index of the best row (by mean)."""
    best = {}
    for name, (_, higher) in COLUMNS.items():
        values = table[name].to_numpy(dtype=float)
        if np.isfinite(values).any():
            best[name] = int(np.nanargmax(values) if higher else np.nanargmin(values))
    return best


def to_markdown(table: pd.DataFrame) -> str:
    """Mean ± standard deviation over seeds; the best value per column in bold."""
    best = best_rows(table)
    header = ["backbone", "seeds"] + list(COLUMNS)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in table.iterrows():
        cells = [row["backbone"], str(int(row["seeds"]))]
        for name in COLUMNS:
            text = "n/a" if pd.isna(row[name]) else f"{row[name]:.3f} ± {row[name + '_std']:.3f}"
            cells.append(f"**{text}**" if best.get(name) == i and len(table) > 1 else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, tsv, markdown) -> None:
    atomic.write_tsv(tsv, table)
    atomic.write_text(markdown, to_markdown(table))
