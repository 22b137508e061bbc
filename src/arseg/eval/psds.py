"""Threshold-free scores with sed_scores_eval, from the per-bin presence scores that
prediction writes (`{split}.scores.npz`: query_id, presence (Q, n_bins), bin_width).

As for the threshold-dependent metrics, every (mixture, query) pair is its own file with
one class, `target`; its reference events are the queried category's events in the
mixture (merged where they overlap or touch, so sed_scores_eval's "no overlapping events
of one class in a file" holds). A negative query is a file with no reference event: its
detections are false positives, which is what PSDS's false-positive rate should count.
sed_scores_eval asserts that every class has at least one reference event, so a set of
query-files is scored only if it holds at least one positive query (else the score is None).

Settings (all with max_efpr = 100 per hour and no cross-trigger term, because a query-file
has one class, so cross-triggers between classes do not exist):

- ``psds_tag``: text-to-audio grounding (Xu et al. 2021): dtc = gtc = 0.5, alpha_st = 0,
  one class over all query-files; exactly sed_scores_eval's ``psds`` on that input.
- ``psds1``: DCASE Task 4 scenario 1: dtc = gtc = 0.7, alpha_st = 1;
- ``psds2``: DCASE Task 4 scenario 2: dtc = gtc = 0.1, alpha_st = 1 (DCASE's alpha_ct = 0.5
  does not apply here).
  For both DCASE settings the "classes" whose spread alpha_st penalises are the queried
  categories: each category's PSD-ROC is sed_scores_eval's single-class ROC over the
  query-files that ask for that category (its false-positive rate per hour of those files),
  and the per-category ROCs are combined by sed_scores_eval's
  ``multi_class_psd_roc_from_single_class_psd_rocs`` (mean minus alpha_st x std).
  Categories with no positive query-file in the set are left out of that average.

F1 at a threshold chosen on validation: sed_scores_eval's ``best_fscore`` on the validation
scores picks the presence threshold (collar-based: the sed_eval collar and offset rule;
intersection-based: dtc = gtc = 0.5), and ``fscore`` applies that threshold to the test
scores. The test split never influences the threshold.

Unlike the decoded segments that sed_eval scores, these operate on the raw presence score
per output bin: no start/end regression, no gap merging, no minimum duration.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sed_scores_eval import collar_based, intersection_based
    from sed_scores_eval.base_modules.scores import create_score_dataframe

from arseg.eval.scoring import EvalConfig
from arseg.eval.sed_metrics import TARGET, finite


@dataclasses.dataclass(frozen=True)
class PSDSSetting:
    name: str
    dtc: float
    gtc: float
    alpha_st: float
    per_category: bool
    max_efpr: float = 100.0
    label: str = ""


SETTINGS = (
    PSDSSetting("psds_tag", 0.5, 0.5, 0.0, per_category=False, label="PSDS (TAG: dtc=gtc=0.5)"),
    PSDSSetting("psds1", 0.7, 0.7, 1.0, per_category=True, label="PSDS1 (DCASE: dtc=gtc=0.7, αst=1)"),
    PSDSSetting("psds2", 0.1, 0.1, 1.0, per_category=True, label="PSDS2 (DCASE: dtc=gtc=0.1, αst=1)"),
)
INTERSECTION_F1_DTC = INTERSECTION_F1_GTC = 0.5


def score_frames(query_ids, presence: np.ndarray, bin_width: float, duration: float) -> dict[str, pd.DataFrame]:
    """query_id -> sed_scores_eval score DataFrame (one class, one row per output bin).

    The last bin may reach past the end of the mixture; it is cut at the mixture's end.
    """
    presence = np.asarray(presence, dtype=float)
    edges = np.arange(presence.shape[1] + 1) * bin_width
    keep = int(np.searchsorted(edges, duration - 1e-9, side="left"))  # bins starting before the end
    keep = max(1, min(keep, presence.shape[1]))
    timestamps = np.minimum(edges[:keep + 1], duration)
    return {q: create_score_dataframe(row[:keep, None], timestamps, [TARGET]) for q, row in zip(query_ids, presence)}


def ground_truth(reference: dict, query_ids) -> dict[str, list[tuple[float, float, str]]]:
    """sed_scores_eval ground truth: query_id -> [(onset, offset, 'target')] ([] for negatives)."""
    return {q: [(float(on), float(off), TARGET) for on, off in reference[q]] for q in query_ids}


def has_positive(gt: dict) -> bool:
    return any(len(events) for events in gt.values())


def _subset(mapping: dict, ids) -> dict:
    return {q: mapping[q] for q in ids}


def _intersection_key(dtc: float, gtc: float) -> str:
    return f"intersection_{dtc:g}_{gtc:g}"


def criteria_deltas(scores: dict, gt: dict, cfg: EvalConfig) -> dict:
    """sed_scores_eval's per-file statistics deltas, once per matching criterion.

    A file's deltas depend on that file alone, so any subset of query-files is scored from
    the subset of deltas exactly as sed_scores_eval would score the subset from scratch.
    """
    if not has_positive(gt):
        return {}
    criteria = {(s.dtc, s.gtc) for s in SETTINGS} | {(INTERSECTION_F1_DTC, INTERSECTION_F1_GTC)}
    deltas = {_intersection_key(dtc, gtc): intersection_based.intermediate_statistics_deltas(
        scores, gt, dtc_threshold=dtc, gtc_threshold=gtc) for dtc, gtc in sorted(criteria)}
    deltas["collar"] = collar_based.intermediate_statistics_deltas(
        scores, gt, onset_collar=cfg.t_collar, offset_collar=cfg.t_collar, offset_collar_rate=cfg.percentage_of_length)
    return deltas


def psds(scores: dict, gt: dict, duration: float, setting: PSDSSetting, categories: dict | None = None,
         deltas: dict | None = None):
    """(PSDS, (etpr, efpr) curve, {category: single-category PSDS}) or (None, None, {}) without positives.

    The query-files scored are those of `gt`. categories: query_id -> queried category (for
    the per-category settings); deltas: from `criteria_deltas` over a superset, or None.
    """
    ids = list(gt)
    if not has_positive(gt):
        return None, None, {}
    key = _intersection_key(setting.dtc, setting.gtc)

    def inputs(members):
        if deltas:
            return {"scores": None, "deltas": _subset(deltas[key], members)}
        return {"scores": _subset(scores, members)}

    if not setting.per_category:
        value, _, curve, _ = intersection_based.psds(
            **inputs(ids), ground_truth=gt, audio_durations={q: duration for q in ids},
            dtc_threshold=setting.dtc, gtc_threshold=setting.gtc, alpha_ct=0.0, alpha_st=setting.alpha_st,
            max_efpr=setting.max_efpr)
        return float(value), curve, {}
    groups: dict[str, list[str]] = {}
    for q in ids:
        groups.setdefault(categories[q], []).append(q)
    rocs, per_category = {}, {}
    for category, members in sorted(groups.items()):
        sub_gt = _subset(gt, members)
        if not has_positive(sub_gt):
            continue
        _, single = intersection_based.psd_roc(
            **inputs(members), ground_truth=sub_gt, audio_durations={q: duration for q in members},
            dtc_threshold=setting.dtc, gtc_threshold=setting.gtc, alpha_ct=0.0, alpha_st=0.0,
            max_efpr=setting.max_efpr)
        rocs[category] = single[TARGET]
        tpr, efpr, *_ = single[TARGET]
        per_category[category] = float(intersection_based.psds_from_psd_roc(tpr, efpr, setting.max_efpr))
    etpr, efpr = intersection_based.multi_class_psd_roc_from_single_class_psd_rocs(
        rocs, alpha_st=setting.alpha_st, max_efpr=setting.max_efpr)
    return float(intersection_based.psds_from_psd_roc(etpr, efpr, setting.max_efpr)), (etpr, efpr), per_category


def choose_thresholds(val_scores: dict, val_gt: dict, cfg: EvalConfig) -> dict:
    """Presence thresholds with the best validation F1: collar-based and intersection-based."""
    if not has_positive(val_gt):
        return {"collar": None, "intersection": None, "collar_val_f1": None, "intersection_val_f1": None}
    collar = collar_based.best_fscore(val_scores, val_gt, onset_collar=cfg.t_collar, offset_collar=cfg.t_collar,
                                      offset_collar_rate=cfg.percentage_of_length)
    inter = intersection_based.best_fscore(val_scores, val_gt, dtc_threshold=INTERSECTION_F1_DTC,
                                           gtc_threshold=INTERSECTION_F1_GTC)
    # A threshold may be -inf (detect everything is best) or inf (nothing is); both apply as they are.
    return {"collar": float(collar[3][TARGET]), "intersection": float(inter[3][TARGET]),
            "collar_val_f1": finite(collar[0][TARGET]), "intersection_val_f1": finite(inter[0][TARGET])}


def fscores_at(scores: dict, gt: dict, thresholds: dict, cfg: EvalConfig, deltas: dict | None = None) -> dict:
    """Collar- and intersection-based F1, precision, recall at the given (validation) thresholds."""
    out = {}
    for name in ("collar", "intersection"):
        threshold = thresholds.get(name)
        if threshold is None or np.isnan(threshold) or not has_positive(gt):
            out.update({f"{name}_f1": None, f"{name}_precision": None, f"{name}_recall": None})
            continue
        key = "collar" if name == "collar" else _intersection_key(INTERSECTION_F1_DTC, INTERSECTION_F1_GTC)
        inputs = {"scores": None, "deltas": _subset(deltas[key], gt)} if deltas else {"scores": _subset(scores, gt)}
        if name == "collar":
            f, p, r, _ = collar_based.fscore(**inputs, ground_truth=gt, threshold=threshold,
                                             onset_collar=cfg.t_collar, offset_collar=cfg.t_collar,
                                             offset_collar_rate=cfg.percentage_of_length)
        else:
            f, p, r, _ = intersection_based.fscore(**inputs, ground_truth=gt, threshold=threshold,
                                                   dtc_threshold=INTERSECTION_F1_DTC, gtc_threshold=INTERSECTION_F1_GTC)
        out.update({f"{name}_f1": finite(f[TARGET]), f"{name}_precision": finite(p[TARGET]),
                    f"{name}_recall": finite(r[TARGET])})
    return out


def threshold_free(scores: dict, gt: dict, duration: float, categories: dict, thresholds: dict,
                   cfg: EvalConfig, deltas: dict | None = None, curves: list | None = None) -> dict:
    """Every threshold-free score of the query-files of `gt`; appends PSD-ROC points to `curves`."""
    out = {}
    for setting in SETTINGS:
        value, curve, _ = psds(scores, gt, duration, setting, categories, deltas)
        out[setting.name] = value
        if curves is not None and curve is not None:
            etpr, efpr = curve
            curves.append(pd.DataFrame({"setting": setting.name, "efpr": efpr, "etpr": etpr}))
    out.update(fscores_at(scores, gt, thresholds, cfg, deltas))
    return out
