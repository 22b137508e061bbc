"""Paired comparison of backbones on the same test queries.

Unit of resampling: the mixture (its queries share the audio, so they are not independent).
For each pair of backbones (A, B), on the queries both answered, sed_eval's per-query counts
are pooled over each backbone's seeds and summed per mixture; then

- delta = F1(B) - F1(A), where F1 = 2 TP / (Nref + Nsys) over all those queries
  (`scoring.f1_from_counts`: sed_eval's F1 on the pooled predictions of all seeds);
- a 95 % bootstrap confidence interval of delta: mixtures resampled with replacement,
  the same resample for both backbones (paired), percentile interval;
- a Wilcoxon signed-rank test (scipy) on the per-mixture F1 differences (two-sided;
  mixtures where both backbones score the same are dropped, as in Wilcoxon's original test).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from arseg.eval.scoring import f1_from_counts
from arseg.results_layout import seed_file

METRICS = {"event_f1": "event", "segment_f1": "segment"}
COLUMNS = ["metric", "backbone_a", "backbone_b", "f1_a", "f1_b", "delta", "ci_low", "ci_high", "wilcoxon_p",
           "n_mixtures", "n_queries", "seeds_a", "seeds_b"]


def read_per_query(paths) -> pd.DataFrame:
    """results/metrics/<backbone>/seed<k>.queries.tsv files -> one table with backbone and seed columns."""
    frames = []
    for path in paths:
        backbone, seed = seed_file(path, ".queries.tsv")
        table = pd.read_csv(path, sep="\t", dtype={"query_id": str, "filename": str}, keep_default_na=False)
        frames.append(table.assign(backbone=backbone, seed=seed))
    return pd.concat(frames, ignore_index=True)


def per_mixture_counts(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Counts summed over seeds and over the queries of each mixture."""
    cols = [f"{prefix}_ntp", f"{prefix}_nref", f"{prefix}_nsys"]
    return table.groupby("filename")[cols].sum().set_axis(["ntp", "nref", "nsys"], axis=1)


def paired(a: pd.DataFrame, b: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> dict:
    """a, b: per-mixture counts (same index). Delta of pooled F1, bootstrap CI, Wilcoxon p."""
    ca, cb = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    f1_a, f1_b = (float(f1_from_counts(*c.sum(axis=0))) for c in (ca, cb))
    n = len(ca)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)  # (n_boot, n) resample counts
    boot = f1_from_counts(*(weights @ cb).T) - f1_from_counts(*(weights @ ca).T)
    low, high = np.percentile(boot, [2.5, 97.5])
    diff = f1_from_counts(*cb.T) - f1_from_counts(*ca.T)
    if np.any(diff != 0):
        p_value = float(stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)
    else:
        p_value = 1.0
    return {"f1_a": f1_a, "f1_b": f1_b, "delta": f1_b - f1_a, "ci_low": float(low), "ci_high": float(high),
            "wilcoxon_p": p_value, "n_mixtures": n}


def compare_backbones(per_query: pd.DataFrame, backbones: list[str] | None = None, n_boot: int = 1000,
                      seed: int = 0) -> pd.DataFrame:
    """One row per metric and pair of backbones (A before B in `backbones` order)."""
    backbones = backbones or list(dict.fromkeys(per_query["backbone"]))
    rows = []
    for name, prefix in METRICS.items():
        for first, second in itertools.combinations(backbones, 2):
            a, b = (per_query[per_query["backbone"] == x] for x in (first, second))
            common = set(a["query_id"]) & set(b["query_id"])
            a, b = a[a["query_id"].isin(common)], b[b["query_id"].isin(common)]
            if not common:
                continue
            ma, mb = per_mixture_counts(a, prefix), per_mixture_counts(b, prefix)
            mb = mb.reindex(ma.index)
            rng = np.random.default_rng(seed)
            rows.append({"metric": name, "backbone_a": first, "backbone_b": second,
                         **paired(ma, mb, n_boot, rng), "n_queries": len(common),
                         "seeds_a": int(a["seed"].nunique()), "seeds_b": int(b["seed"].nunique())})
    return pd.DataFrame(rows, columns=COLUMNS)
