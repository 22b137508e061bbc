"""Seeded mixtures: a noise background plus foreground events from distinct categories.

SNR is defined per event over the samples where it sounds inside the mixture:
10 log10(mean(event^2) / mean(background^2)), both over the event's in-mixture span.
Every random draw comes from a generator seeded by (seed, split, mixture index), so a
mixture does not depend on how many others are made or in which order.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from . import atomic
from .corpus.table import SPLITS

EVENT_COLUMNS = ["filename", "onset", "offset", "event_label", "clip_id", "description", "snr_db"]


@dataclasses.dataclass(frozen=True)
class MixtureConfig:
    duration: float = 8.0
    sample_rate: int = 16000
    min_events: int = 1
    max_events: int = 3
    snr_db: tuple[float, float] = (0.0, 20.0)
    background_db: float = -35.0
    edge_cut: float = 0.25


@dataclasses.dataclass
class Event:
    clip_id: str
    category: str
    description: str
    start_sample: int  # may be negative: the event started before the mixture
    snr_db: float


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.arange(n // 2 + 1, dtype=float)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return noise / np.sqrt(np.mean(noise**2))


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)


def draw_events(rng: np.random.Generator, clips: pd.DataFrame, cfg: MixtureConfig) -> list[Event]:
    """Pick 1..N clips of distinct categories, their positions and SNRs."""
    categories = sorted(clips["category"].unique())
    n_max = min(cfg.max_events, len(categories))
    n = int(rng.integers(min(cfg.min_events, n_max), n_max + 1))
    chosen = rng.choice(categories, size=n, replace=False)
    total = int(round(cfg.duration * cfg.sample_rate))
    events = []
    for category in chosen:
        pool = clips[clips["category"] == category]
        clip = pool.iloc[int(rng.integers(len(pool)))]
        length = int(round(clip["duration"] * cfg.sample_rate))
        # At most edge_cut of the event may hang over either edge of the mixture.
        lowest = -int(cfg.edge_cut * length)
        highest = max(lowest, total - length + int(cfg.edge_cut * length))
        start = int(rng.integers(lowest, highest + 1))
        snr = float(rng.uniform(*cfg.snr_db))
        events.append(Event(clip["clip_id"], category, clip["description"], start, snr))
    return events


def render(events: list[Event], load_clip, rng: np.random.Generator, cfg: MixtureConfig):
    """Mix events over a fresh background; return (mixture, background, scaled event stems, spans).

    spans[i] = (first, last) sample of event i inside the mixture.
    """
    total = int(round(cfg.duration * cfg.sample_rate))
    background = colored_noise(rng, total, exponent=float(rng.uniform(0.0, 2.0)))
    background *= 10 ** (cfg.background_db / 20)
    stems, spans = [], []
    for event in events:
        clip = load_clip(event.clip_id)
        first = max(event.start_sample, 0)
        last = min(event.start_sample + len(clip), total)
        stem = np.zeros(total)
        stem[first:last] = clip[first - event.start_sample:last - event.start_sample]
        gain_db = event.snr_db - (rms_db(stem[first:last]) - rms_db(background[first:last]))
        stems.append(stem * 10 ** (gain_db / 20))
        spans.append((first, last))
    mixture = background + sum(stems, np.zeros(total))
    # One gain for everything keeps every SNR as drawn while avoiding clipping.
    peak = np.max(np.abs(mixture))
    scale = 0.9 / peak if peak > 0.9 else 1.0
    return mixture * scale, background * scale, [s * scale for s in stems], spans


class ClipLoader:
    """Reads corpus clips lazily with a small cache, so memory does not grow with the corpus."""

    def __init__(self, audio_dir: Path, sample_rate: int, cache_size: int = 512):
        self.audio_dir = Path(audio_dir)
        self.sample_rate = sample_rate
        self.load = functools.lru_cache(maxsize=cache_size)(self._load)

    def _load(self, clip_id: str) -> np.ndarray:
        path = self.audio_dir / f"{clip_id}.wav"
        audio, rate = sf.read(path, dtype="float64", always_2d=True)
        if rate != self.sample_rate:
            raise ValueError(f"{path}: sample rate {rate} Hz, expected {self.sample_rate} Hz")
        return audio.mean(axis=1)

    def __call__(self, clip_id: str) -> np.ndarray:
        return self.load(clip_id)


def generate_split(clips: pd.DataFrame, audio_dir: Path, out_dir: Path, split: str, count: int,
                   cfg: MixtureConfig, seed: int) -> pd.DataFrame:
    """Write `count` mixtures of one split to out_dir/audio and their events to out_dir/events.tsv."""
    pool = clips[clips["split"] == split]
    if pool.empty:
        raise ValueError(f"corpus has no clips in split {split!r}")
    n_categories = pool["category"].nunique()
    if cfg.min_events > n_categories:
        raise ValueError(f"min_events={cfg.min_events} but split {split!r} has only {n_categories} categories")
    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    load_clip = ClipLoader(audio_dir, cfg.sample_rate)
    rows = []
    for index in tqdm(range(count), desc=f"mixtures {split}", unit="mix"):
        rng = np.random.default_rng([seed, SPLITS.index(split), index])
        events = draw_events(rng, pool, cfg)
        mixture, _, _, spans = render(events, load_clip, rng, cfg)
        filename = f"{split}_{index:05d}.wav"
        atomic.write_wav(out_dir / "audio" / filename, mixture, cfg.sample_rate)
        for event, (first, last) in zip(events, spans):
            rows.append([filename, first / cfg.sample_rate, last / cfg.sample_rate, event.category,
                         event.clip_id, event.description, round(event.snr_db, 3)])
    table = pd.DataFrame(rows, columns=EVENT_COLUMNS).sort_values(["filename", "onset"], kind="stable")
    atomic.write_tsv(out_dir / "events.tsv", table)
    return table


def read_events(path: str | Path) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", keep_default_na=False,
                        dtype={"filename": str, "event_label": str, "clip_id": str, "description": str})
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {EVENT_COLUMNS}")
    return table
