"""Training throughput per backbone on CPU: mixtures (examples) per second.

One step is exactly the body of arseg.train.loop.train's loop: mixing_partners (the default
share of mixtures summed with another), run_batch (audio pass once per mixture, all of its
queries through the conditioned part, SpecAugment if the default turns it on (off since
2026-12-05), YOHO loss, the auxiliary tagging loss),
zero_grad, backward, gradient clipping, AdamW step. The batch is
the workflow's default: 8 mixtures of 8 s (801 x 64 log-mel), 8 text queries each (the
default config's average: label + description per present category, two absent categories
likewise), 2 events each of 10 categories for the tagging head. Threads as
the workflow's train rule sets them (TrainConfig.threads). Backbones run interleaved;
the ratio is against yoho.
"""
from __future__ import annotations

import numpy as np
import torch

from .common import Row, Settings, interleaved, median, paired_ratio, spread

NAME = "training"
QUERIES_PER_MIXTURE = 8
CATEGORIES = 10


def split_data(model, n_mixtures: int):
    from arseg.train.loop import SplitData
    from arseg.train.tagging import TagEvents

    cfg = model.cfg
    rng = np.random.default_rng(0)
    features = (rng.standard_normal((n_mixtures, cfg.window_frames, cfg.n_mels)) * 10 - 40).astype(np.float32)
    n_queries = n_mixtures * QUERIES_PER_MIXTURE
    query_mixture = np.repeat(np.arange(n_mixtures), QUERIES_PER_MIXTURE)
    query_input = rng.standard_normal((n_queries, cfg.text_dim)).astype(np.float32)
    target = np.zeros((n_queries, cfg.n_bins, 3), np.float32)
    target[..., 0] = rng.random((n_queries, cfg.n_bins)) < 0.3
    target[..., 1:] = np.sort(rng.random((n_queries, cfg.n_bins, 2)), axis=-1) * target[..., :1]
    per_mixture = [np.arange(i * QUERIES_PER_MIXTURE, (i + 1) * QUERIES_PER_MIXTURE) for i in range(n_mixtures)]
    onsets = rng.uniform(0, cfg.window_seconds - 1, (n_mixtures, 2))
    # Per mixture 4 categories: the 2 that sound, then 2 absent ones; each asked twice.
    asked = np.stack([rng.choice(CATEGORIES, 4, replace=False) for _ in range(n_mixtures)])
    events = [np.column_stack([categories[:2], on, on + 1.0]) for categories, on in zip(asked, onsets)]
    return SplitData(features, query_mixture, query_input, target, per_mixture,
                     TagEvents([f"category {k}" for k in range(CATEGORIES)], events),
                     query_category=np.repeat(asked, 2, axis=1).ravel(),
                     mixture_categories=np.eye(CATEGORIES, dtype=bool)[asked[:, :2]].any(axis=1))


def run(settings: Settings) -> list[Row]:
    from arseg.model.backbone_specs import ENCODER
    from arseg.model.backbones import BACKBONES
    from arseg.train.loop import TrainConfig, make_tagger, mixing_partners, run_batch

    from .inference import WIDTH, build

    log = settings.log
    cfg = TrainConfig()
    batch = cfg.mixtures_per_batch
    default_threads = torch.get_num_threads()
    state = {}
    for name in (b for b in BACKBONES if b not in ENCODER):  # log-mel inputs; see `encoder`
        model = build(name).train()
        data = split_data(model, batch)
        tagger = make_tagger(model, data, cfg)
        parameters = list(model.parameters()) + list(tagger.parameters())
        optimizer = torch.optim.AdamW(parameters, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        state[name] = (model, tagger, parameters, optimizer, data, torch.Generator().manual_seed(0))
    mixing = np.random.default_rng(0)

    def step(name):
        def case():
            model, tagger, parameters, optimizer, data, augment = state[name]
            torch.set_num_threads(cfg.threads)
            try:
                rows = np.arange(batch)
                partners, gains = mixing_partners(data, rows, rows, cfg.mix_probability, cfg.mix_gain_db, mixing)
                loss, tag_loss, _ = run_batch(model, data, rows, "cpu", cfg.loss,
                                              augment if cfg.spec_augment else None, tagger, partners, gains)
                optimizer.zero_grad(set_to_none=True)
                (loss + cfg.tagging_weight * tag_loss).backward()
                torch.nn.utils.clip_grad_norm_(parameters, 5.0)
                optimizer.step()
            finally:
                torch.set_num_threads(default_threads)
        return case

    times = interleaved({name: step(name) for name in state}, settings.repeats, settings.warmup + 1)
    rows = []
    for name, t in times.items():
        log(f"  {name}: {spread(t)} s per step")
        examples = [batch / s for s in t]
        rows.append(Row(
            benchmark=NAME, case=f"{name}, CPU {cfg.threads} threads, batch {batch} x {QUERIES_PER_MIXTURE} queries",
            metric="mixtures/s", ours=median(examples),
            peer=median([batch / s for s in times["yoho"]]) if name != "yoho" and "yoho" in times else None,
            peer_name="yoho" if name != "yoho" and "yoho" in times else "",
            ratio=paired_ratio(times["yoho"], t) if name != "yoho" and "yoho" in times else None,
            samples={"seconds_per_step": t},
            note=f"{median(t):.2f} s per step, {median(examples) * QUERIES_PER_MIXTURE:.0f} queries/s; width {WIDTH:g}"))
    return rows
