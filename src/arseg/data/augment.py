"""Clip augmentation for training mixtures: each event's clip is played at another speed (pitch
and tempo together), filtered by a random equaliser and, now and then, put in a random room,
so that a category's few training clips come in many versions. Validation and test mixtures
are never augmented."""
from __future__ import annotations

import dataclasses

import numpy as np
import soxr
from scipy.signal import fftconvolve

EQ_POINTS = 6  # control points of the equaliser's gain curve, log-spaced in frequency
EQ_LOWEST_HZ = 50.0
REVERB_SECONDS = (0.2, 1.0)  # reverberation time (60 dB decay) of the random room
DIRECT_TO_REVERB_DB = (0.0, 12.0)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    pitch_semitones: float = 0.0  # speed change drawn within +-this many semitones
    eq_db: float = 0.0  # equaliser gains drawn within +-this many dB
    reverb_probability: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.pitch_semitones or self.eq_db or self.reverb_probability)


def augment_clip(clip: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig, sample_rate: int) -> np.ndarray:
    """A new float32 array (the input is left alone: loaders cache it), every draw from `rng`."""
    semitones, gains, rooms = (rng.uniform(-1, 1), rng.uniform(-1, 1, EQ_POINTS), rng.random(3))
    out = np.asarray(clip, dtype=np.float32)
    if cfg.pitch_semitones:
        factor = 2.0 ** (semitones * cfg.pitch_semitones / 12.0)
        out = soxr.resample(out, sample_rate * factor, sample_rate).astype(np.float32)
    if cfg.eq_db:
        out = equalise(out, gains * cfg.eq_db, sample_rate)
    if rooms[0] < cfg.reverb_probability:
        out = reverberate(out, rng, sample_rate, seconds=np.interp(rooms[1], [0, 1], REVERB_SECONDS),
                          direct_db=np.interp(rooms[2], [0, 1], DIRECT_TO_REVERB_DB))
    return out if out is not clip else out.copy()


def equalise(x: np.ndarray, gains_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """Filter by a smooth gain curve through `gains_db` at log-spaced frequencies (flat below
    the lowest and above the highest)."""
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / sample_rate)
    points = np.geomspace(EQ_LOWEST_HZ, sample_rate / 2, len(gains_db))
    curve_db = np.interp(np.log(np.maximum(freqs, EQ_LOWEST_HZ)), np.log(points), gains_db)
    return np.fft.irfft(spectrum * 10 ** (curve_db / 20), len(x)).astype(np.float32)


def reverberate(x: np.ndarray, rng: np.random.Generator, sample_rate: int, seconds: float,
                direct_db: float) -> np.ndarray:
    """x plus its convolution with exponentially decaying noise (a room of reverberation time
    `seconds`), the reverberant part `direct_db` below the direct one; the tail lengthens x."""
    n = max(int(seconds * sample_rate), 1)
    decay = np.exp(-np.log(1000.0) * np.arange(n) / n)  # 60 dB over `seconds`
    tail = fftconvolve(x, rng.standard_normal(n) * decay)
    scale = np.sqrt(np.mean(x.astype(np.float64) ** 2) / max(np.mean(tail ** 2), 1e-20)) * 10 ** (-direct_db / 20)
    out = tail * scale
    out[:len(x)] += x
    return out.astype(np.float32)
