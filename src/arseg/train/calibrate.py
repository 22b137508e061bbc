"""Choose the decoding settings (presence threshold, gate, gap merging) on validation, so the
test split never influences them; the choice is stored in the model file. Text queries (labels
and descriptions) and example-clip queries each get a decoding of their own: a model answers
absent sounds far more often when asked by an example clip (docs/experiments.md), so one
decoding for both holds neither kind to the false-alarm cap."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from arseg.eval.scoring import EvalConfig, EventCounts, sed_eval_f1
from arseg.model import targets

THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
GATES = (0.0, 0.6, 0.7, 0.8, 0.9)  # 0: no gate; a gate at or below the threshold changes nothing
MERGE_GAPS = (0.15, 0.3, 0.6)
SETTINGS = ("threshold", "gate", "merge_gap")


def choose_decoding(bins: np.ndarray, query_target: np.ndarray, cfg, min_duration: float,
                    eval_cfg: EvalConfig = EvalConfig(), max_false_alarm_rate: float | None = None) -> dict:
    """Grid-search threshold x gate x merge gap for the best validation event-based F1, among
    the settings that answer at most `max_false_alarm_rate` of the queries for absent sounds
    with a segment (None: any; none within it: the fewest false alarms).

    bins: the model's sigmoid outputs (Q, n_bins, 3) on the validation queries; query_target:
    their targets (Q, n_bins, 3); cfg: the model's config (bin width, window). Returns the
    chosen setting, the grid, and the chosen setting's event counts (Ntp, Nref, Nsys)."""
    reference = {q: targets.decode(query_target[q], cfg.bin_width,
                                   targets.DecodeConfig(0.5, 0.0, 0.0), cfg.window_seconds)
                 for q in range(len(bins))}
    reference = {str(q): [(on, off) for on, off, _ in segs] for q, segs in reference.items()}
    peaks = bins[..., 0].max(axis=1)
    counts = EventCounts(eval_cfg)
    # Segments per threshold and gap, before the gate, which only filters them (a query with
    # no bin at the threshold has none)
    found = {(threshold, gap): {str(q): [s for s in targets.candidates(bins[q], cfg.bin_width, threshold, gap,
                                                                       cfg.window_seconds)
                                         if s[1] - s[0] >= min_duration]
                                for q in np.flatnonzero(peaks >= threshold)}
             for threshold, gap in itertools.product(THRESHOLDS, MERGE_GAPS)}
    absent = [q for q, spans in reference.items() if not spans]
    results, totals = [], []
    for threshold, gate, gap in itertools.product(THRESHOLDS, GATES, MERGE_GAPS):
        if 0 < gate <= threshold:
            continue
        estimated = {q: [(on, off) for on, off, _, peak in segs if peak >= gate]
                     for q, segs in found[threshold, gap].items()}
        totals.append(counts.totals(reference, estimated))
        results.append({"threshold": threshold, "gate": gate, "merge_gap": gap,
                        "event_f1": sed_eval_f1(*totals[-1]),
                        "false_alarm_rate": sum(bool(estimated.get(q)) for q in absent) / max(len(absent), 1)})
    best = best_setting(results, [r["false_alarm_rate"] for r in results], max_false_alarm_rate)
    return {"chosen": results[best], "grid": results, "counts": totals[best]}


def best_setting(grid: list, rates: list, max_false_alarm_rate: float | None) -> int:
    """The index of the setting of `grid` with the best event F1 among those whose false-alarm
    rate (`rates`, one per setting) is within the cap (None: any); none within: among those
    with the lowest rate. Ties go to the threshold nearest 0.5, then to the lower gate."""
    allowed = [i for i, rate in enumerate(rates) if max_false_alarm_rate is None or rate <= max_false_alarm_rate]
    if not allowed:
        fewest = min(rates)
        allowed = [i for i, rate in enumerate(rates) if rate == fewest]
    return max(allowed, key=lambda i: (grid[i]["event_f1"], -abs(grid[i]["threshold"] - 0.5), -grid[i]["gate"]))


def choose_decodings(bins: np.ndarray, query_target: np.ndarray, query_kind, cfg, min_duration: float,
                     eval_cfg: EvalConfig = EvalConfig(), max_false_alarm_rate: float | None = None) -> dict:
    """A decoding for the text queries and, where there are example-clip queries
    (query_kind "example"), one of their own, each chosen by choose_decoding on its own
    validation queries under the same cap (query_kind None: all text). Returns the text
    queries' choice ("chosen", "grid"), the example queries' ("example": chosen and grid;
    None without any), and "event_f1": the F1 over every validation query, each decoded as
    its kind is."""
    is_example = np.zeros(len(bins), bool) if query_kind is None else np.asarray(query_kind) == "example"
    groups = {name: np.flatnonzero(mask) for name, mask in (("text", ~is_example), ("example", is_example))}
    chosen = {name: choose_decoding(bins[rows], query_target[rows], cfg, min_duration, eval_cfg, max_false_alarm_rate)
              for name, rows in groups.items() if len(rows)}
    totals = [sum(n) for n in zip(*(c["counts"] for c in chosen.values()))]
    text, example = chosen["text"], chosen.get("example")
    return {"chosen": text["chosen"], "grid": text["grid"],
            "example": None if example is None else {"chosen": example["chosen"], "grid": example["grid"]},
            "event_f1": sed_eval_f1(*totals)}


def refit_decodings(first: dict, refit: dict, max_false_alarm_rate: float | None) -> dict:
    """The decodings of a refit (a model trained again with the validation clips). Validation
    cannot rank settings by F1 for it, having trained on those clips, so the first training's
    ranking stands; but it still counts the refit's false alarms on absent sounds, which a
    refit, surer of itself, makes more of (docs/experiments.md). Per kind of query: among the
    settings within the cap on validation for the first model and for the refit, the one the
    first ranks best (its own choice, when the refit keeps to the cap with it); none within:
    the one whose larger rate is the lowest. first, refit: choose_decodings results on the
    same validation queries (the first model's, stored in its file; the refit's)."""
    def pick(first_grid: list, refit_grid: list) -> dict:
        pairs = list(zip(first_grid, refit_grid))
        if len(first_grid) != len(refit_grid) or any(a[k] != b[k] for a, b in pairs for k in SETTINGS):
            raise ValueError("the first training's decoding grid and the refit's list other settings")
        best = best_setting(first_grid, [max(a["false_alarm_rate"], b["false_alarm_rate"]) for a, b in pairs],
                            max_false_alarm_rate)
        return {**first_grid[best], "refit_false_alarm_rate": refit_grid[best]["false_alarm_rate"]}

    example = first.get("example") if refit.get("example") else None
    return {"chosen": pick(first["grid"], refit["grid"]), "grid": first["grid"],
            "example": None if example is None else {"chosen": pick(example["grid"], refit["example"]["grid"]),
                                                     "grid": example["grid"]},
            "refit_grids": {"text": refit["grid"], "example": (refit.get("example") or {}).get("grid")}}


def validation_decoding(bins: np.ndarray, query_target: np.ndarray, query_kind, cfg, first: dict | None = None) -> dict:
    """A model's decodings, from its sigmoid outputs on the validation queries, under its
    config's cap (cfg.max_false_alarm_rate): chosen on them (choose_decodings), or, for a
    refit, `first` (the first training's choice) checked against them (refit_decodings)."""
    cap = cfg.max_false_alarm_rate
    if first is None:
        return choose_decodings(bins, query_target, query_kind, cfg, min_duration=cfg.min_duration,
                                max_false_alarm_rate=cap)
    own = choose_decodings(bins, query_target, query_kind, cfg, min_duration=cfg.min_duration)
    return refit_decodings(first, own, cap)


def describe(decoding: dict) -> str:
    """The settings chosen, for a log line: the text queries' and, if any, the example clips'."""
    example = decoding.get("example")
    return f"{decoding['chosen']}" + (f"; for example clips: {example['chosen']}" if example else "")


def apply_decoding(model, decoding: dict) -> None:
    """Store the chosen settings (a choose_decodings result) in the model's config (saved with
    it, used by every prediction): the text queries' as its decoding, the example queries' as
    its example_decoding."""
    chosen, example = decoding["chosen"], decoding.get("example")
    model.cfg = dataclasses.replace(model.cfg, threshold=chosen["threshold"], merge_gap=chosen["merge_gap"],
                                    gate=chosen.get("gate", 0.0),
                                    example_decoding={k: example["chosen"][k] for k in SETTINGS} if example else {})
