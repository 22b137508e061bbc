"""Training: batches of mixtures with all their queries (one audio pass serves every query
of a mixture), the YOHO loss plus an auxiliary tagging loss on the audio features,
validation-based model selection, early stopping, and resumable state kept beside the
outputs."""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from arseg.eval.scoring import reference_events
from arseg.io import atomic
from arseg.model import targets
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, load_failure, prepare_for_inference, zip_damage
from arseg.train.tagging import TagEvents, TaggingHead, audio_channels, tag_events, tag_targets, tagging_loss


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 30
    patience: int = 6
    mixtures_per_batch: int = 8
    learning_rate: float = 4e-3
    weight_decay: float = 1e-4
    loss: str = "bce"        # "mse" (YOHO) or "bce" (BCE presence + masked squared error)
    seed: int = 0
    threads: int = 1
    spec_augment: bool = False  # frequency and time masks on training inputs (off: the sums do better)
    tagging_weight: float = 1.0  # weight of the auxiliary tagging loss (0: no tagging head)
    mix_probability: float = 0.5  # share of training mixtures summed with another one (mixing_partners)
    mix_gain_db: float = 3.0      # the other mixture's gain is drawn from +-this (dB)
    cuda_batch_scale: int = 4  # on a GPU: this many times more mixtures per batch, bf16 autocast
    select_on: str = "loss"  # the epoch kept (and patience counted) by "loss" or "event_f1" on validation
    stop_after: int = 0  # >0: stop after this epoch of the schedule (a refit: where its first training kept)


class NonFiniteLossError(RuntimeError):
    pass


@dataclasses.dataclass
class SplitData:
    """Everything one split contributes: features, and per mixture its queries and targets."""
    features: np.ndarray           # (N, frames, mels), memory-mapped
    query_mixture: np.ndarray      # (Q,) row in features of each query's mixture
    query_input: np.ndarray        # (Q, text_dim) float embeddings or (Q,) label indices
    query_target: np.ndarray       # (Q, n_bins, 3)
    queries_of_mixture: list       # row -> array of query indices
    tags: TagEvents | None = None  # every event of every mixture, for the tagging head
    query_category: np.ndarray | None = None     # (Q,) category index of each query's target label
    mixture_categories: np.ndarray | None = None  # (N, categories) bool: which sound in each mixture
    query_kind: np.ndarray | None = None  # (Q,) "label", "description" or "example": each its decoding


def build_split(features: np.ndarray, feature_rows: dict, queries: pd.DataFrame, events: pd.DataFrame,
                query_input: np.ndarray, cfg: ModelConfig) -> SplitData:
    reference = reference_events(queries, events)
    mixture = np.array([feature_rows[f] for f in queries["filename"]], dtype=np.int64)
    target = np.stack([targets.encode(reference[q], cfg.n_bins, cfg.bin_width) for q in queries["query_id"]]
                      ) if len(queries) else np.zeros((0, cfg.n_bins, 3), np.float32)
    per_mixture = [[] for _ in range(len(features))]
    for q, row in enumerate(mixture):
        per_mixture[row].append(q)
    categories = {c: i for i, c in enumerate(sorted(set(events["event_label"]) | set(queries["target_label"])))}
    present = np.zeros((len(features), len(categories)), dtype=bool)
    for filename, label in zip(events["filename"], events["event_label"]):
        if filename in feature_rows:
            present[feature_rows[filename], categories[label]] = True
    return SplitData(features, mixture, query_input, target, [np.array(v, dtype=np.int64) for v in per_mixture],
                     tag_events(events, feature_rows),
                     np.array([categories[c] for c in queries["target_label"]], dtype=np.int64), present,
                     queries["kind"].to_numpy(dtype=str) if "kind" in queries else None)


def yoho_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Presence always; start and end only in bins where the sound is present."""
    present = target[..., 0]
    if kind == "bce":
        presence_loss = F.binary_cross_entropy_with_logits(logits[..., 0], present, reduction="none")
    else:
        presence_loss = (torch.sigmoid(logits[..., 0]) - present).square()
    boundary = (torch.sigmoid(logits[..., 1:]) - target[..., 1:]).square().sum(-1) * present
    return (presence_loss + boundary).sum(-1).mean()


def statistics_sample(features: np.ndarray, max_rows: int = 256) -> np.ndarray:
    """Rows spread evenly over a split's features, to estimate their statistics from."""
    return np.asarray(features[np.linspace(0, len(features) - 1, min(len(features), max_rows)).astype(int)])


def feature_statistics(features: np.ndarray, max_rows: int = 256) -> tuple[np.ndarray, np.ndarray]:
    sample = statistics_sample(features, max_rows).astype(np.float64)
    return sample.mean(axis=(0, 1)), sample.std(axis=(0, 1)) + 1e-5


def to_tensor(query_input: np.ndarray, device) -> torch.Tensor:
    tensor = torch.from_numpy(np.asarray(query_input))
    return tensor.to(device) if tensor.dtype == torch.int64 else tensor.float().to(device)


def spec_augment(features: torch.Tensor, fill: torch.Tensor, generator: torch.Generator,
                 freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: int = 20) -> torch.Tensor:
    """SpecAugment: a few mel bands and short stretches of frames set to the band means.

    Time masks stay short (0.2 s at a 10 ms hop) so the targets remain true.
    """
    features = features.clone()
    batch, frames, mels = features.shape
    for axis, count, width, size in ((2, freq_masks, freq_width, mels), (1, time_masks, time_width, frames)):
        for b in range(batch):
            for _ in range(count):
                w = int(torch.randint(0, width + 1, (1,), generator=generator))
                start = int(torch.randint(0, max(size - w, 1), (1,), generator=generator))
                if axis == 2:
                    features[b, :, start:start + w] = fill[start:start + w]
                else:
                    features[b, start:start + w, :] = fill
    return features


def answered_rows(data: SplitData) -> np.ndarray:
    """Feature rows of the mixtures that have at least one query."""
    return np.array([r for r, q in enumerate(data.queries_of_mixture) if len(q)])


def mixing_partners(data: SplitData, rows: np.ndarray, candidates: np.ndarray, probability: float,
                    gain_db: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For each of `rows`, with the given probability, one of `candidates` to add to it (-1: none),
    and its gain in dB: new training mixtures at no cost of audio or features.

    A partner shares no category with the mixture, so every positive query keeps its own
    targets; a negative query survives the sum only if its category is absent from both
    (`mixed_queries`). Tried partners that share one are skipped (none found: no partner).
    """
    partners = np.full(len(rows), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        if rng.random() >= probability:
            continue
        for other in rng.choice(candidates, size=8):
            if other != row and not (data.mixture_categories[row] & data.mixture_categories[other]).any():
                partners[i] = other
                break
    return partners, rng.uniform(-gain_db, gain_db, size=len(rows))


def mixed_queries(data: SplitData, row: int, partner: int) -> np.ndarray:
    """The queries asked of `row` summed with `partner` (-1: none): those of `row` that stay
    true (their category does not sound in the partner), then the partner's positive ones,
    no more than `row` has queries: the conditioned part (recurrent in crnn) runs once per
    query, and asking every query true of the sum made a crnn step markedly slower
    (docs/experiments.md, summed training mixtures)."""
    own = data.queries_of_mixture[row]
    if partner < 0:
        return own
    other = data.queries_of_mixture[partner]
    in_partner = data.mixture_categories[partner]
    return np.concatenate([own[~in_partner[data.query_category[own]]],
                           other[in_partner[data.query_category[other]]]])[:len(own)]


def add_log_mel(features: torch.Tensor, other: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """The log-mel (dB) of the sum of two signals, `other` scaled by `gain_db`: their mel powers
    add (exactly in expectation for independent signals)."""
    k = math.log(10.0) / 10.0
    return torch.logaddexp(features * k, (other + gain_db[:, None, None]) * k) / k


def batch_logits(model, data: SplitData, rows: np.ndarray, device, augment: torch.Generator | None = None,
                 partners: np.ndarray | None = None, gains_db: np.ndarray | None = None):
    """Logits (Q, n_bins, 3) of every query of the given mixtures (one audio pass each), their ids,
    and the mixtures' audio features. With `partners` (mixing_partners), mixture i is summed
    with mixture partners[i] where that is not -1, and answers the queries still true of the sum."""
    if partners is None:
        partners = np.full(len(rows), -1, dtype=np.int64)
    per_row = [mixed_queries(data, r, p) for r, p in zip(rows, partners)]
    query_ids = np.concatenate(per_row)
    index = torch.from_numpy(np.repeat(np.arange(len(rows)), [len(q) for q in per_row])).to(device)
    features = torch.from_numpy(np.asarray(data.features[rows])).to(device)
    mixed = np.flatnonzero(partners >= 0)
    if len(mixed):
        other = torch.from_numpy(np.asarray(data.features[partners[mixed]])).to(device)
        gains = torch.from_numpy(np.asarray(gains_db, dtype=np.float32)[mixed]).to(device)
        features[mixed] = add_log_mel(features[mixed], other, gains)
    if augment is not None:
        features = spec_augment(features, model.feature_mean, augment)
    audio = model.encode_audio(features)
    return model.forward_queries(audio, index, to_tensor(data.query_input[query_ids], device)), query_ids, audio


def run_batch(model, data: SplitData, rows: np.ndarray, device, loss_kind: str,
              augment: torch.Generator | None = None, tagger: TaggingHead | None = None,
              partners: np.ndarray | None = None, gains_db: np.ndarray | None = None):
    """(query loss, tagging loss or None without a tagger, number of queries) of the given mixtures
    (each summed with its partner, if any: batch_logits)."""
    logits, query_ids, audio = batch_logits(model, data, rows, device, augment, partners, gains_db)
    target = torch.from_numpy(data.query_target[query_ids]).to(device)
    tag_loss = None
    if tagger is not None:
        tags = tag_targets(data.tags, rows, model.cfg.n_bins, model.cfg.bin_width)
        mixed = np.flatnonzero(partners >= 0) if partners is not None else []
        if len(mixed):  # a sum sounds the categories of both mixtures
            tags[mixed] = np.maximum(tags[mixed], tag_targets(data.tags, partners[mixed], model.cfg.n_bins,
                                                              model.cfg.bin_width))
        tag_loss = tagging_loss(tagger(audio, model.cfg.n_bins), torch.from_numpy(tags).to(device))
    return yoho_loss(logits, target, loss_kind), tag_loss, len(query_ids)


def evaluate_loss(model, data: SplitData, cfg: TrainConfig, device) -> float:
    model = prepare_for_inference(model)  # an eval-mode copy with batch norm folded in: faster
    total, count = 0.0, 0
    rows = answered_rows(data)
    with torch.no_grad():
        for start in range(0, len(rows), cfg.mixtures_per_batch * 2):
            loss, _, n = run_batch(model, data, rows[start:start + cfg.mixtures_per_batch * 2], device, cfg.loss)
            total, count = total + float(loss.detach()) * n, count + n
    return total / max(count, 1)


# What save_state writes; a state without one of them (an older arseg's) is not resumed.
STATE_KEYS = {"model", "optimizer", "schedule", "history", "best", "best_state", "torch_rng", "cuda_rng", "tagger",
              "fingerprint"}


def load_state(state_path: Path, fingerprint: str) -> dict | None:
    """The saved training state, if it belongs to this very run (same configs, inputs and
    device). One that cannot be read (cut short by a crash, damaged, of an older arseg) is
    removed, so that the run starts afresh instead of failing at every rerun. Loaded on the
    CPU: the model and optimiser move their parts to the device, and the random generator's
    state must stay on the CPU."""
    if not state_path.exists():
        return None
    try:
        why = zip_damage(state_path)
        if not why:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
            missing = sorted(STATE_KEYS - set(state)) if isinstance(state, dict) else ["all"]
            why = f"keys {missing} missing" if missing else ""
    except Exception as error:  # noqa: BLE001 - empty, cut short, foreign: all start afresh
        why = load_failure(error)
    if why:
        print(f"ignoring {state_path}: not a readable training state ({why}); starting afresh")
        state_path.unlink(missing_ok=True)
        return None
    if state["fingerprint"] != fingerprint:
        print(f"ignoring {state_path}: it belongs to another configuration or other inputs")
        return None
    return state


@dataclasses.dataclass
class Run:
    """What a training run carries from epoch to epoch (and saves after each one)."""
    model: ReferringSegmenter
    tagger: TaggingHead | None
    parameters: list
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    history: list = dataclasses.field(default_factory=list)
    best: float = math.inf
    best_state: dict | None = None


def train(model: ReferringSegmenter, train_data: SplitData, val_data: SplitData | None, cfg: TrainConfig,
          state_path: Path, fingerprint: str = "", device: str | None = None, name: str = "",
          score: Callable[[ReferringSegmenter], float] | None = None) -> Run:
    """Train with early stopping on validation loss, or, with `score` (the model's validation
    event F1 with its decoding chosen, higher is better), on that; leave the best weights in
    `model` and return the run (its history and best selection value). Without `val_data`
    (a refit), the last epoch is kept.

    After every epoch the full state goes to `state_path`, so a killed job resumes from
    its last finished epoch and ends with the same result as an uninterrupted run (CPU).
    `fingerprint` identifies the configs and inputs, so a stale state is never resumed.
    The caller removes `state_path` once the model is saved. `name` names the run in messages.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = device_config(cfg, device)
    fingerprint = f"{fingerprint} on {device}"  # a GPU trains larger batches: not the same run
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    normalise_inputs(model, train_data)
    run = start_run(model, train_data, cfg, device)
    resume(run, state_path, fingerprint, device, name)
    rows = answered_rows(train_data)
    for epoch in range(len(run.history), min(cfg.stop_after or cfg.epochs, cfg.epochs)):
        if epoch_since_best(run.history) >= cfg.patience:
            break
        began = time.perf_counter()
        train_loss, tag_loss = train_epoch(run, train_data, rows, epoch, cfg, device, state_path, name)
        run.schedule.step()
        val_loss = None if val_data is None else evaluate_loss(model, val_data, cfg, device)
        record_epoch(run, epoch, train_loss, tag_loss, val_loss, began,
                     None if score is None or val_data is None else score(model))
        save_state(run, state_path, fingerprint, device)
    model.load_state_dict(run.best_state)
    return run


def device_config(cfg: TrainConfig, device: str) -> TrainConfig:
    """On a GPU, larger batches (cuda_batch_scale times the mixtures)."""
    if device == "cuda":
        return dataclasses.replace(cfg, mixtures_per_batch=cfg.mixtures_per_batch * cfg.cuda_batch_scale)
    return cfg


def normalise_inputs(model: ReferringSegmenter, train_data: SplitData) -> None:
    """The model standardises its input with the training features' per-band mean and spread;
    a backbone that runs pretrained layers on its input first (aisfx_tuned) standardises
    what comes out of them instead."""
    if hasattr(model.backbone, "fit_statistics"):
        model.backbone.fit_statistics(statistics_sample(train_data.features))
        return
    mean, std = feature_statistics(train_data.features)
    model.feature_mean.copy_(torch.from_numpy(mean).float())
    model.feature_std.copy_(torch.from_numpy(std).float())


def start_run(model: ReferringSegmenter, train_data: SplitData, cfg: TrainConfig, device) -> Run:
    """The model (and the tagging head, if any) on the device, AdamW and a cosine schedule;
    pretrained layers a backbone trains (aisfx_tuned) learn at its smaller learning rate."""
    tagger = make_tagger(model, train_data, cfg)
    if tagger is not None:
        print(f"auxiliary tagging head: {len(train_data.tags.labels)} categories, weight {cfg.tagging_weight}")
    model.to(device)
    parameters = list(model.parameters())
    if tagger is not None:
        tagger.to(device)
        parameters += list(tagger.parameters())
    groups = [{"params": parameters}]
    if hasattr(model.backbone, "pretrained_parameters"):
        pretrained = model.backbone.pretrained_parameters()
        slow = {id(p) for p in pretrained}
        groups = [{"params": [p for p in parameters if id(p) not in slow]},
                  {"params": pretrained, "lr": cfg.learning_rate * model.backbone.learning_rate_scale}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    return Run(model, tagger, parameters, optimizer, schedule)


def resume(run: Run, state_path: Path, fingerprint: str, device, name: str) -> None:
    """Continue from the saved state of this very run, if there is one."""
    state = load_state(state_path, fingerprint)
    if state is None:
        return
    run.model.load_state_dict(state["model"])
    if run.tagger is not None:
        run.tagger.load_state_dict(state["tagger"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    run.history, run.best, run.best_state = state["history"], state["best"], state["best_state"]
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and device == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"])
    print(f"resuming {name} from epoch {len(run.history)}")


def train_epoch(run: Run, data: SplitData, rows: np.ndarray, epoch: int, cfg: TrainConfig, device,
                state_path: Path, name: str) -> tuple[float, float | None]:
    """One pass over the training mixtures in a seeded order; (loss per query, tagging loss
    per mixture or None without a tagging head)."""
    run.model.train()
    order = np.random.default_rng([cfg.seed, epoch]).permutation(rows)
    batches = [order[i:i + cfg.mixtures_per_batch] for i in range(0, len(order), cfg.mixtures_per_batch)]
    total, tag_total, count = 0.0, 0.0, 0
    augment = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch) if cfg.spec_augment else None
    mixing = np.random.default_rng([cfg.seed, epoch, 1])
    for batch in tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False, mininterval=5):
        partners, gains = mixing_partners(data, batch, rows, cfg.mix_probability, cfg.mix_gain_db, mixing)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            loss, tag_loss, n = run_batch(run.model, data, batch, device, cfg.loss, augment, run.tagger,
                                          partners, gains)
        objective = loss if tag_loss is None else loss + cfg.tagging_weight * tag_loss
        if not torch.isfinite(objective):  # a rerun would resume into the same loss: no state is kept
            state_path.unlink(missing_ok=True)
            raise NonFiniteLossError(f"training {name}: loss became {float(objective.detach())} in epoch {epoch + 1}; "
                                     "lower training.learning_rate and rerun")
        step(run, objective)
        total, count = total + float(loss.detach()) * n, count + n
        if tag_loss is not None:
            tag_total += float(tag_loss.detach()) * len(batch)
    return total / max(count, 1), (tag_total / len(rows) if run.tagger is not None else None)


def step(run: Run, objective: torch.Tensor) -> None:
    """One optimiser step on the objective, gradients clipped to norm 5."""
    run.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    torch.nn.utils.clip_grad_norm_(run.parameters, 5.0)
    run.optimizer.step()


def record_epoch(run: Run, epoch: int, train_loss: float, tag_loss: float | None, val_loss: float | None,
                 began: float, val_event_f1: float | None = None) -> None:
    """Keep the weights if validation improved (its loss, or its event F1 where given; without
    validation, always); add the epoch to the history."""
    entry = {"epoch": epoch + 1, "train_loss": train_loss}
    if val_loss is not None:
        entry["val_loss"] = val_loss
    if val_event_f1 is not None:
        entry["val_event_f1"] = val_event_f1
    value = selection_value(entry)
    if value < run.best:
        run.best = value
        run.best_state = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
    run.history.append({**entry, "best": int(value <= run.best), "seconds": time.perf_counter() - began})
    if tag_loss is not None:
        run.history[-1]["tag_loss"] = tag_loss
    print(f"epoch {epoch + 1}: train {train_loss:.4f}" + ("" if val_loss is None else f" val {val_loss:.4f}")
          + ("" if val_event_f1 is None else f" val event F1 {val_event_f1:.3f}"), flush=True)


def selection_value(entry: dict) -> float:
    """What an epoch is chosen by, lower is better: minus its validation event F1 where it was
    scored, else its validation loss; without validation, the later epoch."""
    if "val_event_f1" in entry:
        return -entry["val_event_f1"]
    return entry["val_loss"] if "val_loss" in entry else -entry["epoch"]


def save_state(run: Run, state_path: Path, fingerprint: str, device: str = "cpu") -> None:
    """Everything a resumed run needs, written atomically."""
    with atomic.atomic_path(state_path, suffix=".tmp.pt") as tmp:
        torch.save({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                    "schedule": run.schedule.state_dict(), "history": run.history, "best": run.best,
                    "best_state": run.best_state, "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state() if device == "cuda" else None,
                    "tagger": run.tagger.state_dict() if run.tagger is not None else None,
                    "fingerprint": fingerprint}, tmp)


@torch.no_grad()
def validation_bins(model, data: SplitData, batch_mixtures: int = 32) -> np.ndarray:
    """Sigmoid outputs (Q, n_bins, 3) for every query of a split (one window per mixture)."""
    model = prepare_for_inference(model)
    device = next(model.parameters()).device
    out = np.zeros(data.query_target.shape, dtype=np.float32)
    rows = answered_rows(data)
    for start in range(0, len(rows), batch_mixtures):
        logits, ids, _ = batch_logits(model, data, rows[start:start + batch_mixtures], device)
        out[ids] = torch.sigmoid(logits).float().cpu().numpy()
    return out


def make_tagger(model: ReferringSegmenter, train_data: SplitData, cfg: TrainConfig) -> TaggingHead | None:
    """The auxiliary tagging head (training only), or None when switched off or nothing is annotated."""
    if cfg.tagging_weight <= 0 or train_data.tags is None or not train_data.tags.labels:
        return None
    return TaggingHead(audio_channels(model), len(train_data.tags.labels))


def epoch_since_best(history: list[dict]) -> int:
    """Epochs since the best one (selection_value; 0 when the last epoch was the best)."""
    if not history:
        return 0
    values = [selection_value(h) for h in history]
    return len(values) - 1 - int(np.argmin(values))
