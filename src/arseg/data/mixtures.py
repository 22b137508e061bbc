"""Seeded mixtures: a noise background plus foreground events from distinct categories.

SNR is defined per event over the samples where it sounds inside the mixture:
10 log10(mean(event^2) / mean(background^2)), both over the event's in-mixture span.
Every random draw comes from a generator seeded by (seed, split, mixture index), so a
mixture does not depend on how many others are made or in which order; the split's
background noise bank has its own generator, seeded by (seed, split). An event is
annotated where it is audible over the background (`audible_regions`), not by the
extent of its clip file.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from arseg.data.augment import AugmentConfig, augment_clip
from arseg.data.corpus.table import SPLITS
from arseg.data.events import EVENT_COLUMNS
from arseg.io import atomic
from arseg.io.audio import read_mono, write_wav


@dataclasses.dataclass(frozen=True)
class MixtureConfig:
    duration: float = 8.0
    sample_rate: int = 16000
    min_events: int = 1
    max_events: int = 3
    snr_db: tuple[float, float] = (0.0, 20.0)
    background_db: float = -35.0
    edge_cut: float = 0.25
    layout: str = "random"  # "random": overlapping events; "back_to_back": the seed project's protocol


def mixture_config(config: dict) -> MixtureConfig:
    """The workflow config's mixture settings (here, not in configs.py, so the light
    mixtures rule does not import the model and training code through configs)."""
    mix = config["mixtures"]
    return MixtureConfig(duration=mix["duration"], sample_rate=config["audio"]["sample_rate"],
                         min_events=mix["min_events"], max_events=mix["max_events"],
                         snr_db=tuple(mix["snr_db"]), background_db=mix["background_db"], edge_cut=mix["edge_cut"],
                         layout=mix["layout"])


@dataclasses.dataclass
class Event:
    clip_id: str
    category: str
    description: str
    start_sample: int  # may be negative: the event started before the mixture
    snr_db: float


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS, float32.

    A complex Gaussian spectrum shaped by f^(-exponent/2) (DC weighted as the first bin),
    transformed back with one inverse real FFT. The Gaussian spectrum is drawn by
    Box-Muller from float32 uniforms, radius sqrt(-2 ln U) and phase 2 pi U' (exactly a
    complex normal, and much cheaper than numpy's float64 normals), and the FFT is done in
    single precision: several times faster than the float64 version (docs/experiments.md), for
    noise that is stored as 16-bit PCM anyway.
    """
    m = n // 2 + 1
    u = rng.random((2, m), dtype=np.float32)
    radius, phase = u[0], u[1]
    np.subtract(np.float32(1.0), radius, out=radius)  # (0, 1]: log(0) cannot happen
    np.log(radius, out=radius)
    radius *= np.float32(-2.0)
    np.sqrt(radius, out=radius)
    radius *= _spectral_shape(m, float(exponent))
    phase *= np.float32(2 * np.pi)
    spectrum = np.empty(m, dtype=np.complex64)
    np.multiply(radius, np.cos(phase), out=spectrum.real)
    np.multiply(radius, np.sin(phase, out=phase), out=spectrum.imag)
    noise = np.fft.irfft(spectrum, n)
    noise *= np.float32(1.0 / np.sqrt(float(np.dot(noise, noise)) / n))
    return noise


# Backgrounds: a bank of long noise buffers per split, one per colour (see NoiseBank).
NOISE_COLOURS = 16          # spectral exponents evenly spaced from 0 (white) to 2 (brown)
NOISE_BANK_SECONDS = 20.0   # per colour (longer if a mixture is longer)
NOISE_STREAM = 2 ** 40      # third seed word of the bank's generator; mixture indices stay far below it


class NoiseBank:
    """A split's background noise: one long circular buffer per colour, synthesised once.

    A mixture takes a random colour and a random stretch of its buffer, wrapping around the
    end (the buffer comes from one inverse FFT, so it is periodic and the wrap is seamless).
    That is what Scaper does with background files. Synthesising a fresh background for
    every mixture took a good third of the generator's time; building the bank costs a few
    dozen backgrounds, once per split (docs/benchmarks.md).
    """

    def __init__(self, seed: int, stream: int, cfg: MixtureConfig, colours: int = NOISE_COLOURS,
                 seconds: float = NOISE_BANK_SECONDS):
        rng = np.random.default_rng([seed, stream, NOISE_STREAM])
        length = int(round(max(seconds, cfg.duration) * cfg.sample_rate))
        self.buffers = [colored_noise(rng, length, exponent) for exponent in np.linspace(0.0, 2.0, colours)]

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """A fresh float32 copy of n samples: a random colour from a random start."""
        buffer = self.buffers[int(rng.integers(len(self.buffers)))]
        start = int(rng.integers(len(buffer)))
        first = min(n, len(buffer) - start)
        out = np.empty(n, dtype=np.float32)
        out[:first] = buffer[start:start + first]
        out[first:] = buffer[:n - first]
        return out


def _spectral_shape(m: int, exponent: float) -> np.ndarray:
    """f^(-exponent/2) for bins 0..m-1, bin 0 weighted as bin 1 (float32)."""
    shape = _log_bins(m) * np.float32(-exponent / 2)
    return np.exp(shape, out=shape)


@functools.lru_cache(maxsize=4)
def _log_bins(m: int) -> np.ndarray:
    bins = np.arange(m, dtype=np.float32)
    bins[0] = 1.0
    out = np.log(bins)
    out.flags.writeable = False
    return out


def rms_db(x: np.ndarray) -> float:
    """Level in dB of the mean square (a dot product for 1-D float arrays: no squared copy)."""
    x = np.asarray(x)
    if x.ndim == 1 and x.dtype in (np.float32, np.float64):
        power = float(np.dot(x, x)) / max(len(x), 1)
    else:
        power = np.mean(np.square(x, dtype=np.float64))
    return 10 * np.log10(power + 1e-20)


def _frame_power(x: np.ndarray, hop: int, n: int) -> np.ndarray:
    """Mean square of each of the first n frames of `hop` samples (row dot products: no squared copy)."""
    frames = x[:n * hop].reshape(n, hop)
    return np.einsum("ij,ij->i", frames, frames) / hop


class ClipPools:
    """A split's clips grouped by category, built once so that drawing a mixture's events
    costs no table filtering (draw_events accepts this or the clips table itself)."""

    def __init__(self, clips: pd.DataFrame):
        self.categories = sorted(clips["category"].unique())
        self.clips = {c: list(zip(g["clip_id"], g["description"], g["duration"]))
                      for c, g in ((c, clips[clips["category"] == c]) for c in self.categories)}


def draw_events(rng: np.random.Generator, clips: pd.DataFrame | ClipPools, cfg: MixtureConfig) -> list[Event]:
    """Pick 1..N clips of distinct categories, their positions and SNRs."""
    pools = clips if isinstance(clips, ClipPools) else ClipPools(clips)
    categories = pools.categories
    n_max = min(cfg.max_events, len(categories))
    n = int(rng.integers(min(cfg.min_events, n_max), n_max + 1))
    chosen = rng.choice(categories, size=n, replace=False)
    total = int(round(cfg.duration * cfg.sample_rate))
    events = []
    for category in chosen:
        pool = pools.clips[category]
        clip_id, description, duration = pool[int(rng.integers(len(pool)))]
        length = int(round(duration * cfg.sample_rate))
        # At most edge_cut of the event may hang over either edge of the mixture.
        lowest = -int(cfg.edge_cut * length)
        highest = max(lowest, total - length + int(cfg.edge_cut * length))
        start = int(rng.integers(lowest, highest + 1))
        snr = float(rng.uniform(*cfg.snr_db))
        events.append(Event(clip_id, category, description, start, snr))
    return events


AUDIBLE_DB = -6.0      # an event counts where its level is at most this far below the background's
AUDIBLE_FRAME_S = 0.01
AUDIBLE_SMOOTH_S = 0.05
# Longer silences inside a clip split it into separate events. Above the longest pause within
# one sound (a slow clock's 0.6 s tick to tock, a slow walker's 0.67 s step, 0.6 s between
# barks), below the shortest pause between two (1 s between telephone rings). At 0.5 s the
# slowest clocks came out as one event per tick (5-12 per mixture) and the rest as one.
AUDIBLE_GAP_S = 0.8


def audible_regions(part: np.ndarray, background: np.ndarray, first: int, sample_rate: int,
                    min_gap: float = AUDIBLE_GAP_S) -> list[tuple[int, int]]:
    """Where an event sounds: the stretches in which it is audible over the background.

    Audible = its smoothed level is within AUDIBLE_DB of the background's at that moment, so
    a slow fade-in is annotated where it emerges from the noise, not where the clip file
    starts. Silences shorter than `min_gap` (between footsteps, within a bark) stay inside
    a region; longer ones (the pause between telephone rings) split it. An event drawn at
    SNR >= AUDIBLE_DB over its span always has an audible moment.
    """
    hop = max(int(AUDIBLE_FRAME_S * sample_rate), 1)
    n = len(part) // hop
    if n == 0:
        return [(first, first + len(part))]
    kernel = np.ones(max(int(round(AUDIBLE_SMOOTH_S / AUDIBLE_FRAME_S)), 1))
    level = np.convolve(_frame_power(part, hop, n), kernel, mode="same")
    floor = np.convolve(_frame_power(background, hop, n), kernel, mode="same")
    audible = np.flatnonzero(level >= floor * 10 ** (AUDIBLE_DB / 10))
    if len(audible) == 0:  # quieter than AUDIBLE_DB everywhere: keep the whole span
        return [(first, first + len(part))]
    breaks = np.flatnonzero(np.diff(audible) > max(int(round(min_gap / AUDIBLE_FRAME_S)), 1))
    starts = np.r_[audible[0], audible[breaks + 1]]
    ends = np.r_[audible[breaks], audible[-1]] + 1
    return [(first + a * hop, first + min(b * hop, len(part))) for a, b in zip(starts, ends)]


def mix(events: list[Event], load_clip, rng: np.random.Generator, cfg: MixtureConfig,
        noise: NoiseBank | None = None):
    """Mix events over a background from `noise` (a fresh one without); return (mixture,
    audible regions per event).

    The lean core of `render`: each event is added only over its span, so no full-length
    stem is ever allocated (the mixture generator's hot loop; same numbers as render).
    """
    mixture, background, parts, spans, _ = _mix(events, load_clip, rng, cfg, noise)
    return mixture, [audible_regions(part, background[first:last], first, cfg.sample_rate)
                     for part, (first, last) in zip(parts, spans)]


def _mix(events, load_clip, rng, cfg, noise: NoiseBank | None = None):
    """(scaled mixture, unscaled background, per-event gained segments, spans, scale)."""
    total = int(round(cfg.duration * cfg.sample_rate))
    if noise is None:
        background = colored_noise(rng, total, exponent=float(rng.uniform(0.0, 2.0)))
    else:
        background = noise.draw(rng, total)
    background *= np.float32(10 ** (cfg.background_db / 20))
    mixture = np.zeros(total)
    parts, spans = [], []
    for event in events:
        clip = load_clip(event.clip_id)
        first = max(event.start_sample, 0)
        last = min(event.start_sample + len(clip), total)
        segment = np.asarray(clip[first - event.start_sample:last - event.start_sample], dtype=np.float64)
        gain_db = event.snr_db - (rms_db(segment) - rms_db(background[first:last]))
        part = segment * 10 ** (gain_db / 20)
        mixture[first:last] += part  # zero elsewhere: adds exactly what a full-length stem would
        parts.append(part)
        spans.append((first, last))
    np.add(background, mixture, out=mixture)
    # One gain for everything keeps every SNR as drawn while avoiding clipping.
    peak = max(mixture.max(), -mixture.min())  # max |x| without a temporary array
    scale = 0.9 / peak if peak > 0.9 else 1.0
    mixture *= scale
    return mixture, background, parts, spans, scale


def draw_back_to_back(rng: np.random.Generator, clips: pd.DataFrame | ClipPools, cfg: MixtureConfig) -> list[Event]:
    """The seed project's protocol: random clips laid end to end, no overlap, until the mixture is full."""
    pools = clips if isinstance(clips, ClipPools) else ClipPools(clips)
    flat = [(category, *clip) for category in pools.categories for clip in pools.clips[category]]
    total = int(round(cfg.duration * cfg.sample_rate))
    events, start = [], 0
    while start < total:
        category, clip_id, description, duration = flat[int(rng.integers(len(flat)))]
        events.append(Event(clip_id, category, description, start, float(rng.uniform(*cfg.snr_db))))
        start += int(round(duration * cfg.sample_rate))
    return events


def render(events: list[Event], load_clip, rng: np.random.Generator, cfg: MixtureConfig,
           noise: NoiseBank | None = None):
    """Mix events as `mix` does; return (mixture, background, scaled event stems, spans).

    spans[i] = (first, last) sample of event i inside the mixture.
    """
    mixture, background, parts, spans, scale = _mix(events, load_clip, rng, cfg, noise)
    stems = []
    for part, (first, last) in zip(parts, spans):
        stem = np.zeros(len(mixture))
        stem[first:last] = part
        stems.append(stem * scale)
    return mixture, background * scale, stems, spans


class ClipLoader:
    """Reads corpus clips (float32 mono at the mixtures' rate, through `io.audio`) lazily with a
    small cache, so memory does not grow with the corpus."""

    def __init__(self, audio_dir: Path, sample_rate: int, cache_size: int = 512):
        self.audio_dir = Path(audio_dir)
        self.sample_rate = sample_rate
        self.load = functools.lru_cache(maxsize=cache_size)(self._load)

    def _load(self, clip_id: str) -> np.ndarray:
        return read_mono(self.audio_dir / f"{clip_id}.wav", self.sample_rate)[0]

    def __call__(self, clip_id: str) -> np.ndarray:
        return self.load(clip_id)


def event_rows(filename: str, events: list[Event], regions, sample_rate: int) -> list[list]:
    """EVENT_COLUMNS rows of one mixture: one per audible region of each event."""
    return [[filename, first / sample_rate, last / sample_rate, event.category, event.clip_id,
             event.description, round(event.snr_db, 3)]
            for event, spans in zip(events, regions) for first, last in spans]


AUGMENT_STREAM = 1  # a mixture's augmentation draws: a generator of their own, so the events drawn do not change


def augmenting(load_clip, rng: np.random.Generator, augment: AugmentConfig, sample_rate: int):
    """A clip loader that hands out every clip of load_clip augmented, its draws from rng."""
    return lambda clip_id: augment_clip(load_clip(clip_id), rng, augment, sample_rate)


def generate_split(clips: pd.DataFrame, audio_dir: Path, out_dir: Path, split: str, count: int,
                   cfg: MixtureConfig, seed: int, augment: AugmentConfig = AugmentConfig(),
                   first: int = 0) -> pd.DataFrame:
    """Write `count` mixtures of one split to out_dir/audio and their events to out_dir/events.tsv;
    with `augment` active, every event's clip is augmented (arseg.data.augment). `first`: the
    index of the first mixture, so that a later set continues the split's stream (the refit
    mixtures, after the validation mixtures) with mixtures of its own."""
    pool = clips[clips["split"] == split]
    if pool.empty:
        raise ValueError(f"corpus has no clips in split {split!r}")
    n_categories = pool["category"].nunique()
    if cfg.min_events > n_categories:
        raise ValueError(f"mixtures.min_events={cfg.min_events} but split {split!r} of the corpus has only "
                         f"{n_categories} categories; lower mixtures.min_events or add categories")
    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    load_clip = ClipLoader(audio_dir, cfg.sample_rate)
    pools = ClipPools(pool)
    stream = SPLITS.index(split)  # the split's seed word, shared by its noise bank and its mixtures
    noise = NoiseBank(seed, stream, cfg)
    rows = []
    for index in tqdm(range(first, first + count), desc=f"mixtures {split}", unit="mix"):
        rng = np.random.default_rng([seed, stream, index])
        draw = draw_back_to_back if cfg.layout == "back_to_back" else draw_events
        events = draw(rng, pools, cfg)
        load = load_clip
        if augment.active:
            augment_rng = np.random.default_rng([seed, stream, index, AUGMENT_STREAM])
            load = augmenting(load_clip, augment_rng, augment, cfg.sample_rate)
        mixture, spans = mix(events, load, rng, cfg, noise)
        filename = f"{split}_{index:05d}.wav"
        write_wav(out_dir / "audio" / filename, mixture, cfg.sample_rate)
        rows += event_rows(filename, events, spans, cfg.sample_rate)
    table = pd.DataFrame(rows, columns=EVENT_COLUMNS).sort_values(["filename", "onset"], kind="stable")
    atomic.write_tsv(out_dir / "events.tsv", table)
    return table
