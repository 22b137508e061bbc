"""The train rule's run, from the workflow's files to a model file: read the inputs the rule
names, build the model and the splits, train (the loop in `train.loop`), choose the decoding on
validation (`train.calibrate`), save; and the refit rule's, which trains again on more data and
keeps what validation chose for the first. Kept out of the rule script so it stays thin and
this is testable without Snakemake."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pandas as pd
import torch

from arseg import provenance
from arseg.data.corpus.table import label_text
from arseg.data.events import read_events
from arseg.data.queries import read_queries
from arseg.features.store import FeatureStore
from arseg.io import atomic
from arseg.io.optional_input import input_paths, optional_input
from arseg.model.examples import EXAMPLE_DIM, load_bank
from arseg.model.query_inputs import supported, table_inputs
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, load_model, save_model
from arseg.model.text_encoder import load_cache
from arseg.train import calibrate
from arseg.train.example_classifier import fit_example_classifier
from arseg.train.loop import SplitData, TrainConfig, build_split, train, validation_bins


def train_one(features, index, queries, events, embeddings, model_cfg: ModelConfig, train_cfg: TrainConfig,
              model_path: Path, history_path: Path, state_path: Path, threads: int = 1,
              provenance_configs=(), provenance_path: Path | None = None, encoder: Path | None = None,
              examples=(), refit_of: Path | None = None):
    """features/index/queries/events: [train, val] paths each (the pretrained encoder's
    features for a backbone that reads them); with `refit_of` (the first training's model
    file), [train, refit, val], the first two trained on (refit_model). provenance_configs: the config
    subsets the model is made from (the rule's params), recorded in the model file and, as
    JSON, at provenance_path. encoder: the encoder's checkpoint, for such a backbone or for example
    queries: its weights go into the model file. examples: every corpus clip's embedding (a
    path, or a list of at most one; none: the model takes no example queries); the model
    answers an example through the categories a classifier fitted on the training clips gives
    it (model.examples)."""
    torch.set_num_threads(threads)
    made_by = provenance.record(*provenance_configs, {"training": {"seed": train_cfg.seed}})
    cache, bank = load_cache(embeddings), load_bank(examples)
    tables = [read_queries(p) for p in queries]
    if model_cfg.query_encoder == "label":
        model_cfg = dataclasses.replace(model_cfg, labels=sorted(set(tables[0]["target_label"])))
    elif bank is not None:
        model_cfg = dataclasses.replace(model_cfg, example_dim=EXAMPLE_DIM,
                                        example_labels=sorted({c for c, s in zip(bank.categories, bank.splits)
                                                               if s == "train"}))
    torch.manual_seed(train_cfg.seed)  # the initial weights depend on the seed only
    model = ReferringSegmenter(model_cfg)
    if model.encoder is not None:
        train_cfg = with_encoder(model, encoder, train_cfg)
    if model_cfg.example_dim:
        fit_examples(model, bank, cache)
    stores = [FeatureStore(npy, idx) for npy, idx in zip(features, index)]
    tables, split_events = [supported(model, t) for t in tables], [read_events(e) for e in events]
    if refit_of is not None:  # the training and refit sets are trained on: one training split
        stores, tables = [FeatureStore.stacked(stores[:2]), stores[2]], [pd.concat(tables[:2], ignore_index=True), tables[2]]
        split_events = [pd.concat(split_events[:2], ignore_index=True), split_events[2]]

    def split_data(i: int, table: pd.DataFrame):
        return query_split(model, stores[i], table, split_events[i], cache, bank)
    # Example queries do not train the segmenter (nor choose its epoch); they take part in
    # choosing the decoding (`calibration`: every validation query).
    def without_examples(table: pd.DataFrame) -> pd.DataFrame:
        return table[table["kind"] != "example"]

    train_split = split_data(0, without_examples(tables[0]))
    calibration = split_data(1, tables[1])
    print(f"{model_cfg.backbone}: {model.count_parameters(trainable=True):,} parameters trained; "
          f"{len(train_split.query_mixture)} training queries on {len(train_split.features)} mixtures")
    if provenance_path is not None:
        atomic.write_json(provenance_path, made_by)
    inputs = [*features, *index, *queries, *events, *input_paths(embeddings),
              *(p for p in (encoder, optional_input(examples), refit_of) if p)]
    train_cfg = dataclasses.replace(train_cfg, threads=threads)
    if refit_of is not None:
        return refit_model(model, train_split, train_cfg, Path(refit_of), model_path, history_path, state_path,
                           fingerprint=fingerprint(model_cfg, train_cfg, inputs), provenance=made_by,
                           calibration=calibration)
    val_split = split_data(1, without_examples(tables[1])) if model_cfg.example_dim else calibration
    return train_model(model, train_split, val_split, train_cfg, model_path, history_path, state_path,
                       calibration=calibration, fingerprint=fingerprint(model_cfg, train_cfg, inputs),
                       provenance=made_by)


def query_split(model: ReferringSegmenter, store: FeatureStore, table: pd.DataFrame, events: pd.DataFrame,
                cache, bank) -> SplitData:
    """A split's features, the model's inputs for its queries (`table`) and their targets."""
    return build_split(store.array, store.row, table, events, table_inputs(model, table, cache, bank).numpy(),
                       model.cfg)


def decoding_on(model: ReferringSegmenter, split: SplitData, first: dict | None = None) -> dict:
    """The decoding chosen for `model` on a validation split (for a refit, `first`'s checked on it)."""
    return calibrate.validation_decoding(validation_bins(model, split), split.query_target, split.query_kind,
                                         model.cfg, first=first)


def fit_examples(model: ReferringSegmenter, bank, cache) -> None:
    """Fit the example classifier on the training split's clips (their categories: the model's
    example_labels), blending the label queries of those categories."""
    labels = model.cfg.example_labels
    train = [i for i, split in enumerate(bank.splits) if split == "train"]
    accuracy = fit_example_classifier(model.query.example, bank.vectors[train], [bank.categories[i] for i in train],
                                      labels, cache.lookup([label_text(c) for c in labels]))
    val = [i for i, split in enumerate(bank.splits) if split == "val" and bank.categories[i] in labels]
    with torch.no_grad():
        guessed = model.query.example.logits(torch.from_numpy(bank.vectors[val])).argmax(1).numpy() if val else []
    val_accuracy = sum(labels[g] == bank.categories[i] for g, i in zip(guessed, val)) / max(len(val), 1)
    print(f"example classifier: {len(labels)} categories; names the category of {accuracy:.0%} of the {len(train)} "
          f"training clips and {val_accuracy:.0%} of the {len(val)} validation clips")


def with_encoder(model: ReferringSegmenter, checkpoint: Path | None, cfg: TrainConfig) -> TrainConfig:
    """Load the pretrained encoder's weights into the model; for a backbone that reads its
    features, the training settings that only make sense on a log-mel (summed mixtures,
    SpecAugment) are switched off."""
    if checkpoint is None:
        needs = f"backbone {model.cfg.backbone} reads" if model.cfg.encoder else "example queries need"
        raise ValueError(f"{needs} the aisfx encoder: give the encoder checkpoint (rule fetch_encoder)")
    model.encoder.load_checkpoint(checkpoint)
    if hasattr(model.backbone, "load_pretrained"):
        model.backbone.load_pretrained(model.encoder.trunk)
    if not model.cfg.encoder:
        return cfg
    if cfg.mix_probability or cfg.spec_augment:
        print(f"{model.cfg.backbone} reads encoder features: training.mix_probability and training.spec_augment "
              f"apply to log-mel backbones only and are off for it")
    return dataclasses.replace(cfg, mix_probability=0.0, spec_augment=False)


def train_model(model: ReferringSegmenter, train_data: SplitData, val_data: SplitData, cfg: TrainConfig,
                model_path: Path, history_path: Path, state_path: Path, fingerprint: str = "",
                device: str | None = None, provenance: dict | None = None,
                calibration: SplitData | None = None) -> pd.DataFrame:
    """Train (resumable through `state_path`), choose the decoding on validation (on the
    queries of `calibration`, by default val_data's), write the model and its history; the
    state is removed once the model is saved."""
    calibration = calibration or val_data

    score = (lambda m: decoding_on(m, calibration)["event_f1"]) if cfg.select_on == "event_f1" else None
    run = train(model, train_data, val_data, cfg, state_path, fingerprint, device, name=str(model_path), score=score)
    decoding = decoding_on(model, calibration)
    print(f"decoding chosen on validation: {calibrate.describe(decoding)}")
    kept = [h for h in run.history if h["best"]][-1]  # the last epoch that was the best so far
    return save_run(model, run, decoding, {"best_val_loss": kept["val_loss"], "epoch_kept": kept["epoch"]},
                    model_path, history_path, state_path, provenance)


def refit_model(model: ReferringSegmenter, train_data: SplitData, cfg: TrainConfig, first: Path, model_path: Path,
                history_path: Path, state_path: Path, fingerprint: str = "", device: str | None = None,
                provenance: dict | None = None, calibration: SplitData | None = None) -> pd.DataFrame:
    """Train again, from the start, on more data (the training and the refit mixtures, whose
    clips are the validation split's): what validation chose for the `first` model file (the
    same backbone and seed trained on the training mixtures alone) is kept, as validation can
    no longer choose: the same schedule stopped at the epoch it kept, and its decoding, unless
    the refit answers more absent sounds in `calibration` (the validation queries the first
    chose on) than the false-alarm cap allows with it (calibrate.refit_decodings)."""
    _, first_extra = load_model(first)
    decoding = first_extra["validation_decoding"]
    run = train(model, train_data, None, dataclasses.replace(cfg, stop_after=first_extra["epoch_kept"]), state_path,
                fingerprint, device, name=str(model_path))
    if calibration is not None:
        decoding = decoding_on(model, calibration, first=decoding)
    print(f"refit for {len(run.history)} epochs (as {first} kept); decoding: {calibrate.describe(decoding)}")
    return save_run(model, run, decoding, {"epoch_kept": len(run.history), "refit_of": str(first)},
                    model_path, history_path, state_path, provenance)


def save_run(model: ReferringSegmenter, run, decoding: dict, extra: dict, model_path: Path, history_path: Path,
             state_path: Path, provenance: dict | None) -> pd.DataFrame:
    """Write the trained model with its decoding (and `extra`), and its history; the resumable
    state is removed once the model is saved."""
    calibrate.apply_decoding(model, decoding)
    model.cpu()
    history = pd.DataFrame(run.history)
    save_model(model, model_path, extra={**extra, "epochs_run": len(run.history), "validation_decoding": decoding},
               provenance=provenance)
    atomic.write_tsv(history_path, history)
    state_path.unlink(missing_ok=True)  # finished: a rerun starts afresh
    return history


def fingerprint(model_cfg: ModelConfig, train_cfg: TrainConfig, inputs) -> str:
    """Identity of a training run: its configs and its input files (size and mtime)."""
    parts = [repr(dataclasses.asdict(model_cfg)), repr(dataclasses.asdict(train_cfg))]
    for path in inputs:
        stat = Path(path).stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
