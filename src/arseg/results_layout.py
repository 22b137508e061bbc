"""The workflow's results folder, read back from a path: which backbone and seed a file is of.

  results/models/<backbone>/seed<k>/[refit/]model.pt    a trained model (refit: trained again
                                                         with the validation clips)
  results/metrics/<backbone>/seed<k>.<suffix>           its scores: .json, .queries.tsv, .psd_roc.tsv
"""
from __future__ import annotations

import re
from pathlib import Path

MODEL_FILE = re.compile(r"(?:^|/)models/(?P<backbone>[^/]+)/seed(?P<seed>\d+)/(?P<refit>refit/)?model\.pt$")


def seed_file(path: str | Path, suffix: str) -> tuple[str, int]:
    """<backbone>/seed<k><suffix> -> (backbone, k); ValueError naming the form expected."""
    path = Path(path)
    match = re.fullmatch(rf"seed(\d+){re.escape(suffix)}", path.name)
    if not match:
        raise ValueError(f"{path}: expected a file named seed<k>{suffix} in its backbone's folder")
    return path.parent.name, int(match.group(1))


def model_file(path: str | Path) -> tuple[str, int, bool]:
    """models/<backbone>/seed<k>/[refit/]model.pt -> (backbone, k, whether it is the refit)."""
    match = MODEL_FILE.search(Path(path).as_posix())
    if not match:
        raise ValueError(f"{path}: not a path of the form models/<backbone>/seed<k>/[refit/]model.pt")
    return match["backbone"], int(match["seed"]), bool(match["refit"])


def metrics_file(results: str | Path, backbone: str, seed: int) -> Path:
    """Where the workflow writes the scores of a backbone's seed."""
    return Path(results) / "metrics" / backbone / f"seed{seed}.json"
