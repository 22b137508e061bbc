"""The ensemble rules' run (model.members): the models of one backbone and seed, each trained
with a member seed of its own, combined into one model file (model.segmenter.SeedEnsemble)
whose decoding is chosen on validation as one model's is: for first trainings, on the
ensemble's own outputs under the false-alarm cap; for refits, the first trainings' ensemble's
ranking, checked against the refits' false alarms (calibrate.refit_decodings)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from arseg import provenance
from arseg.data.events import read_events
from arseg.data.queries import read_queries
from arseg.features.store import FeatureStore
from arseg.io import atomic
from arseg.model.examples import load_bank
from arseg.model.query_inputs import supported
from arseg.model.segmenter import SeedEnsemble, load_model, save_model
from arseg.model.text_encoder import load_cache
from arseg.train import calibrate
from arseg.train.run import decoding_on, query_split


# What each model chooses on validation for itself (calibrate.apply_decoding stores it in
# the config); the ensemble chooses its own.
DECODING_FIELDS = (*calibrate.SETTINGS, "example_decoding")


def member_seed(seed: int, member: int) -> int:
    """The training seed of a seed's member: member 0 trains with the seed itself (one member
    is the plain model of that seed), the others with a seed drawn from (seed, member)."""
    return seed if member == 0 else int(np.random.SeedSequence([seed, member]).generate_state(1)[0])


def check_alike(models, paths) -> None:
    """Members must be one model config trained with different seeds (their decodings aside)."""
    def shape(model) -> dict:
        return {k: v for k, v in dataclasses.asdict(model.cfg).items() if k not in DECODING_FIELDS}
    for model, path in zip(models[1:], paths[1:]):
        differ = sorted(k for k, v in shape(model).items() if shape(models[0])[k] != v)
        if differ:
            raise ValueError(f"{path}: not a member of the ensemble of {paths[0]}: its {', '.join(differ)} differ")


def combine_members(members, features: Path, index: Path, queries: Path, events: Path, embeddings, examples,
                    model_path: Path, provenance_configs=(), provenance_path: Path | None = None,
                    first: Path | None = None, threads: int = 1) -> dict:
    """Combine the member model files into `model_path`, with the decoding chosen on the
    validation split (features/index/queries/events: its files; embeddings, examples: the
    query caches, as for training). first: for refit members, the ensemble of their first
    trainings, whose validation ranking the refit keeps. Returns the decoding chosen."""
    torch.set_num_threads(threads)
    made_by = provenance.record(*provenance_configs)
    models = [load_model(path)[0] for path in members]
    check_alike(models, members)
    ensemble = SeedEnsemble.of(models)
    store, table = FeatureStore(features, index), supported(ensemble, read_queries(queries))
    cache, bank = load_cache(embeddings), load_bank(examples)
    calibration = query_split(ensemble, store, table, read_events(events), cache, bank)
    first_decoding = None if first is None else load_model(first)[1]["validation_decoding"]
    decoding = decoding_on(ensemble, calibration, first=first_decoding)
    calibrate.apply_decoding(ensemble, decoding)
    print(f"{len(models)} members combined; decoding chosen on validation: {calibrate.describe(decoding)}")
    if provenance_path is not None:
        atomic.write_json(provenance_path, made_by)
    extra = {"members": [str(p) for p in members], "validation_decoding": decoding}
    if first is not None:
        extra["refit_of"] = str(first)
    save_model(ensemble, model_path, extra=extra, provenance=made_by)
    return decoding
