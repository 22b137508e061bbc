"""Evaluation time per 1,000 queries: arseg.eval.sed_metrics.evaluate (sed_eval event- and
segment-based metrics, each query scored as its own file, with every breakdown) on
queries built by arseg.data.queries.make_queries from drawn mixture events, and predictions
that are the references jittered (some missed, some false alarms on absent sounds).

Peer: one plain sed_eval pass over the same queries (sed_eval_scores once), i.e. the
cost of the metrics without the breakdowns; the ratio says how many passes' worth of
time evaluate() spends.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .common import Row, Settings, interleaved, median, paired_ratio, spread
from .data import demo_corpus

NAME = "evaluation"
DURATION = 8.0


def inputs(workdir, n_mixtures: int, seed: int = 0):
    from arseg.data.events import EVENT_COLUMNS
    from arseg.data.mixtures import ClipPools, MixtureConfig, draw_events
    from arseg.data.queries import make_queries

    _, clips = demo_corpus(workdir)
    cfg = MixtureConfig(duration=DURATION)
    pools = ClipPools(clips[clips["split"] == "test"])
    durations = dict(zip(clips["clip_id"], clips["duration"]))
    total = int(round(DURATION * cfg.sample_rate))
    rows = []
    for index in range(n_mixtures):
        filename = f"test_{index:05d}.wav"
        for event in draw_events(np.random.default_rng([seed, 2, index]), pools, cfg):
            first = max(event.start_sample, 0)
            last = min(event.start_sample + int(round(durations[event.clip_id] * cfg.sample_rate)), total)
            rows.append([filename, first / cfg.sample_rate, last / cfg.sample_rate, event.category, event.clip_id,
                         event.description, round(event.snr_db, 3)])
    events = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    queries = make_queries(events, clips, "test", negatives_per_mixture=2, seed=seed)
    spans = {key: list(zip(g["onset"], g["offset"])) for key, g in events.groupby(["filename", "event_label"])}
    rng = np.random.default_rng(seed)
    predicted = []
    for q, f, label, positive in zip(queries["query_id"], queries["filename"], queries["target_label"],
                                     queries["positive"]):
        if positive:
            for on, off in spans[(f, label)]:
                if rng.random() < 0.85:  # found, with jittered boundaries
                    a, b = on + rng.normal(0, 0.15), off + rng.normal(0, 0.3)
                    if b - a > 0.1:
                        predicted.append([q, max(a, 0.0), min(b, DURATION), float(rng.uniform(0.5, 1))])
        elif rng.random() < 0.1:  # a false alarm
            a = rng.uniform(0, DURATION - 1)
            predicted.append([q, a, a + rng.uniform(0.2, 1.0), float(rng.uniform(0.5, 0.8))])
    predictions = pd.DataFrame(predicted, columns=["query_id", "onset", "offset", "score"])
    return queries, events, predictions


def run(settings: Settings) -> list[Row]:
    from arseg.eval.scoring import EvalConfig, estimated_events, reference_events
    from arseg.eval.sed_metrics import evaluate, sed_eval_scores

    log = settings.log
    queries, events, predictions = inputs(settings.workdir, settings.pick(50, 250))
    n = len(queries)
    cfg = EvalConfig()

    def ours():
        return evaluate(queries, events, predictions, DURATION, cfg)

    def one_pass():
        return sed_eval_scores(reference_events(queries, events), estimated_events(predictions), DURATION, cfg)

    outputs = {}
    times = interleaved({"evaluate": ours, "sed_eval": one_pass}, settings.repeats, settings.warmup, outputs)
    result = outputs["evaluate"][-1]
    for k, v in times.items():
        log(f"  {k}: {spread(v)} s for {n} queries")
    per_1000 = [1000 * t / n for t in times["evaluate"]]
    return [Row(benchmark=NAME, case=f"evaluate(), {n} queries ({int(queries['positive'].sum())} positive)",
                metric="s per 1,000 queries", ours=median(per_1000),
                peer=median([1000 * t / n for t in times["sed_eval"]]), peer_name="one sed_eval pass",
                ratio=paired_ratio(times["evaluate"], times["sed_eval"]), samples=times,
                note=f"ratio = evaluate's time in single sed_eval passes over all queries (lower is better); "
                     f"overall event F1 of the synthetic predictions {result['overall']['event_f1']:.2f}")]
