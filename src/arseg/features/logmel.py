"""Log-mel spectrograms equal to librosa's melspectrogram + power_to_db within 1e-3 dB: a
float32 FFT over centred frames, librosa's mel filterbank (written out here), and a float64
FFT for the frames where float32 is not exact enough. Two small numba kernels do the passes
torch would spread over several: cutting and windowing the frames straight from the clips,
and the power spectrum with each frame's energy. One implementation serves the workflow
(`compute_split`: once per split into a memory-mapped .npy array) and `arseg segment`
(`log_mel`: audio of any length, in chunks of frames)."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numba
import numpy as np
import torch

from arseg.features.split_writer import write_split

DB_FLOOR = 1e-10  # power_to_db's amin
# A float32 FFT errs by about eps * |frame| in every bin, so a mel band's error in dB grows as
# its power shrinks against the frame's energy. A band is recomputed in float64 when its power,
# per unit of its filter's peak weight (so per bin, roughly), is under WEAK_SHARE of the frame's
# energy (chosen by measurement against librosa: docs/experiments.md).
WEAK_SHARE = 1e-6
BANDS_PER_PRODUCT = 16  # the mel product runs per group of this many bands, over their bins only


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    win_seconds: float = 0.025
    hop_seconds: float = 0.01

    @property
    def win_length(self) -> int:
        return int(round(self.win_seconds * self.sample_rate))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_seconds * self.sample_rate))

    @property
    def n_fft(self) -> int:
        return self.win_length

    def n_frames(self, n_samples: int) -> int:
        """Centred frames, as librosa (n_fft // 2 zeros at each end; one frame fewer than
        1 + n // hop when n_fft is odd and the hop divides n)."""
        return 1 + (n_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length


def feature_config(settings) -> FeatureConfig:
    """The log-mel settings from the workflow config's audio section (a mapping) or from a
    model's config (which carries the settings it was trained with)."""
    if isinstance(settings, Mapping):
        return FeatureConfig(**settings)
    return FeatureConfig(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(FeatureConfig)})


def hann_window(length: int, dtype=np.float32) -> np.ndarray:
    """torch.hann_window(length, periodic=True), librosa's 'hann' window."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(dtype)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels) (Slaney mel scale
    and area normalisation, 0 Hz to Nyquist), written out because importing librosa.filters
    (it pulls in scipy.signal) costs 1-3 s per process; a test checks the two agree."""
    def hz_to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log, linear)

    def mel_to_hz(mel):
        mel = np.asarray(mel, dtype=np.float64)
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))

    fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    spacing = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    weights = np.zeros((n_mels, len(fft_hz)), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / spacing[i], ramps[i + 2] / spacing[i + 1]))
    weights *= (2.0 / (mel_hz[2:n_mels + 2] - mel_hz[:n_mels]))[:, None]
    return weights


class LogMel:
    """Float waveforms (batch, samples) -> (batch, frames, n_mels) log-mel in dB; `span` gives
    any run of frames, which is how `log_mel` walks long audio."""

    def __init__(self, cfg: FeatureConfig):
        self.cfg = cfg
        mel = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels)    # (n_mels, bins)
        # Each band covers a few neighbouring bins: grouped, the product skips the zeros
        # (a quarter of the dense product's work at 64 bands; no group size did better,
        # docs/experiments.md).
        self.groups = []
        for first in range(0, cfg.n_mels, BANDS_PER_PRODUCT):
            block = mel[first:first + BANDS_PER_PRODUCT]
            used = np.flatnonzero(block.any(axis=0))
            lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 0)
            self.groups.append((lo, hi, torch.from_numpy(np.ascontiguousarray(block[:, lo:hi].T))))
        peak = mel.max(axis=1)
        used = np.flatnonzero(peak > 0)  # empty filters (too many bands for the FFT size) stay 0
        self.checked = slice(None) if len(used) == len(peak) else torch.from_numpy(used)
        self.inverse_peak = torch.from_numpy(1.0 / peak[used])
        # float64 for the frames recomputed exactly: rounding the window to float32 alone moves
        # a band 110 dB under a pure tone by 0.01 dB (leakage through the window's sidelobes).
        self.window64 = hann_window(cfg.win_length, np.float64)
        self.window = self.window64.astype(np.float32)

    def __call__(self, audio) -> torch.Tensor:
        audio = torch.as_tensor(audio, dtype=torch.float32).contiguous().numpy()
        return self.span(audio, 0, self.cfg.n_frames(audio.shape[1]))

    @torch.no_grad()
    def span(self, audio: np.ndarray, first: int, count: int) -> torch.Tensor:
        """Frames first .. first + count - 1 of each clip of (batch, samples) float32 audio
        -> (batch, count, n_mels) dB.

        Faint bands. Float32 alone misses librosa by more than the 1e-3 dB tolerance where a
        mel band is faint against its frame's energy (tones over faint floors, quiet demo
        clips), so frames with such a band (WEAK_SHARE) are recomputed in float64: a tenth or
        so of a mixture's frames. tests/test_features.py holds the result to the tolerance;
        the measurements behind WEAK_SHARE are in docs/experiments.md."""
        cfg = self.cfg
        batch = len(audio)
        rows = np.arange(batch * count)
        windowed = np.empty((len(rows), cfg.n_fft), np.float32)
        _window_frames(audio, rows, count, first, cfg.hop_length, cfg.n_fft // 2, self.window, windowed)
        power, energy = _power(torch.fft.rfft(torch.from_numpy(windowed)))
        mel = self.mel_of_power(power)
        scaled = mel[:, self.checked] * self.inverse_peak
        weak = torch.nonzero(scaled.amin(dim=1) < WEAK_SHARE * energy).squeeze(1)
        if len(weak):
            exact = np.empty((len(weak), cfg.n_fft), np.float64)
            _window_frames(audio, weak.numpy(), count, first, cfg.hop_length, cfg.n_fft // 2, self.window64, exact)
            # The power rounded to float32 and summed in float32: sums of positives, exact enough
            mel[weak] = self.mel_of_power(_power(torch.fft.rfft(torch.from_numpy(exact)))[0])
        return mel.clamp_(min=DB_FLOOR).log10_().mul_(10.0).view(batch, count, -1)

    def mel_of_power(self, power: torch.Tensor) -> torch.Tensor:
        """(n, bins) power spectra -> (n, n_mels)."""
        return torch.cat([power[:, lo:hi] @ w if hi > lo else power.new_zeros(len(power), w.shape[1])
                          for lo, hi, w in self.groups], dim=1)


@numba.njit(nogil=True, cache=True)
def _window_frames(audio, rows, count, first, hop, half, window, out):
    """out[i] = window * the centred frame `first + rows[i] % count` of clip `rows[i] // count`
    (it starts `half` samples before its hop, as librosa's center=True; zeros past either end
    of the clip, as pad_mode='constant'). out has the window's dtype: float64 for the exact
    recompute, whose products are then exact."""
    n, n_fft = audio.shape[1], len(window)
    for i in range(len(rows)):
        clip = audio[rows[i] // count]
        start = (first + rows[i] % count) * hop - half
        if start >= 0 and start + n_fft <= n:
            for j in range(n_fft):
                out[i, j] = clip[start + j] * window[j]
        else:
            for j in range(n_fft):
                out[i, j] = clip[start + j] * window[j] if 0 <= start + j < n else 0.0


def _power(spectrum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, bins) complex -> float32 |X|^2 (n, bins) and each row's sum (n,), in one pass over
    the spectrum (torch needs three: square, add the parts, sum)."""
    power = torch.empty(spectrum.shape, dtype=torch.float32)
    energy = torch.empty(len(spectrum), dtype=torch.float32)
    _power_kernel(torch.view_as_real(spectrum).view(len(spectrum), -1).numpy(), power.numpy(), energy.numpy())
    return power, energy


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})  # reassoc: the sum vectorises
def _power_kernel(spectrum, power, energy):
    """Rows of real and imaginary parts side by side, (n, 2 * bins) -> power and energy."""
    for i in range(len(spectrum)):
        parts, row = spectrum[i], power[i]
        for k in range(len(row)):
            row[k] = parts[2 * k] * parts[2 * k] + parts[2 * k + 1] * parts[2 * k + 1]
        total = np.float32(0.0)
        for k in range(len(row)):
            total += row[k]
        energy[i] = total


def log_mel(audio: np.ndarray, cfg: FeatureConfig, chunk_frames: int = 4000) -> np.ndarray:
    """(samples,) mono audio of any length -> (frames, n_mels) float32 log-mel, the values
    LogMel gives for the whole signal, computed a chunk of frames at a time: an hour needs no
    more memory than its features."""
    logmel = LogMel(cfg)
    audio = np.ascontiguousarray(audio, dtype=np.float32)[None]
    n_frames = cfg.n_frames(audio.shape[1])
    out = np.empty((n_frames, cfg.n_mels), dtype=np.float32)
    for first in range(0, n_frames, chunk_frames):
        count = min(chunk_frames, n_frames - first)
        out[first:first + count] = logmel.span(audio, first, count)[0].numpy()
    return out


def compute_split(audio_paths: list[Path], out_npy: Path, out_index: Path, cfg: FeatureConfig,
                  batch_size: int = 4) -> None:
    """Stream a split's mixtures (all at cfg.sample_rate, of one length) through LogMel into
    one (N, frames, n_mels) float32 .npy file. Batches of 4 were the fastest
    (docs/experiments.md): larger ones outgrow the cache. Values do not depend on the batch."""
    logmel = LogMel(cfg)
    write_split(audio_paths, out_npy, out_index, lambda first: (cfg.n_frames(first.frames), cfg.n_mels), np.float32,
                lambda audio, _: logmel(audio).numpy(), sample_rate=cfg.sample_rate, batch_size=batch_size,
                desc=f"log-mel {out_npy.stem}")
