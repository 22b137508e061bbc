"""Log-mel spectrograms: a float32 FFT over centred frames with librosa's mel filterbank,
exact where float32 is not (equal to librosa's melspectrogram + power_to_db within 1e-3 dB),
computed once per split into a memory-mapped .npy array."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from tqdm import tqdm

from . import atomic
from .feature_store import FeatureStore  # noqa: F401  (torch-free, re-exported)

DB_FLOOR = 1e-10  # power_to_db's amin
WEAK_SHARE = 1e-8  # a mel band this far below its frame's energy needs a float64 FFT (see LogMel)


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
        return 1 + n_samples // self.hop_length  # centred frames, as librosa


class LogMel(torch.nn.Module):
    """(batch, samples) float waveform -> (batch, frames, n_mels) log-mel in dB."""

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        import librosa

        self.cfg = cfg
        mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels)
        self.register_buffer("mel_t", torch.from_numpy(mel).float().T.contiguous(), persistent=False)
        # float64 for the frames recomputed exactly: rounding the window to float32 alone moves
        # a band 110 dB under a pure tone by 0.01 dB (leakage through the window's sidelobes).
        window = torch.hann_window(cfg.win_length, periodic=True, dtype=torch.float64)
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("window64", window, persistent=False)

    @torch.no_grad()
    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        n_fft, hop = self.cfg.n_fft, self.cfg.hop_length
        # Centred frames with zero padding, as torch.stft(center=True) and librosa; framing by
        # hand keeps (batch, frames, bins) contiguous, 1.6x faster than torch.stft's layout.
        frames = torch.nn.functional.pad(audio.float(), (n_fft // 2, n_fft // 2)).unfold(-1, n_fft, hop)
        power = _power(frames, self.window)                  # (batch, frames, bins)
        mel = torch.matmul(power, self.mel_t)               # (batch, frames, n_mels)
        # A float32 FFT errs by about eps * |frame| in every bin, so a band's error in dB grows
        # as its share of the frame's energy shrinks: measured on 40 mixtures, at most 2e-4 dB
        # above a share of 1e-8, 1.5e-3 dB below 1e-9. Frames with a band under WEAK_SHARE are
        # recomputed in float64, as librosa computes them all (about 15 % of a mixture's frames).
        weak = mel.amin(dim=-1) < WEAK_SHARE * power.sum(dim=-1)
        clip, frame = weak.nonzero(as_tuple=True)
        if len(clip):
            exact = _power(frames[clip, frame].double(), self.window64).float()  # sums of positives:
            mel[clip, frame] = torch.matmul(exact, self.mel_t)                 # float32 is exact enough
        return mel.clamp_(min=DB_FLOOR).log10_().mul_(10.0)


def _power(frames: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(..., n_fft) frames -> (..., n_fft // 2 + 1) power spectrum, in the frames' precision."""
    spec = torch.fft.rfft(frames * window)
    return spec.real.square().addcmul_(spec.imag, spec.imag)


def compute_split(audio_paths: list[Path], out_npy: Path, out_index: Path, cfg: FeatureConfig,
                  batch_size: int = 2) -> None:
    """Stream mixtures through LogMel into one (N, frames, n_mels) float32 .npy file.

    All mixtures of a split have one length, so the array is rectangular. Written to a
    temporary file and renamed, so a killed job leaves no finished-looking array.
    Batches of 2 keep the FFT's intermediates (about 3 MB per 8 s clip) in cache: on this
    2-core machine 1.25-1.40 ms per clip against 1.7-1.8 ms for batches of 8 and 2.4-3.6 ms
    for 32, with identical values.
    """
    if not audio_paths:
        raise ValueError(f"no audio to extract features from for {out_npy}")
    info = sf.info(audio_paths[0])
    n_frames = cfg.n_frames(info.frames)
    logmel = LogMel(cfg)
    with atomic.atomic_path(out_npy, suffix=".tmp.npy") as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                          shape=(len(audio_paths), n_frames, cfg.n_mels))
        for start in tqdm(range(0, len(audio_paths), batch_size), desc=f"log-mel {out_npy.stem}", unit="batch"):
            batch = [read_mono(p, cfg.sample_rate, expect_frames=info.frames)
                     for p in audio_paths[start:start + batch_size]]
            array[start:start + len(batch)] = logmel(torch.from_numpy(np.stack(batch))).numpy()
        array.flush()
        del array
    atomic.write_tsv(out_index, pd.DataFrame({"row": range(len(audio_paths)),
                                              "filename": [Path(p).name for p in audio_paths]}))


def read_mono(path: Path, sample_rate: int, expect_frames: int | None = None) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise ValueError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    if expect_frames is not None and len(audio) != expect_frames:
        raise ValueError(f"{path}: {len(audio)} samples, expected {expect_frames} like the rest of the split")
    return audio.mean(axis=1)
