"""The pretrained sound-effects encoder of aisfx 0.1.2 (A. B. Ma and A. Lerch, "Representation
Learning for the Automatic Indexing of Sound Effects Libraries", ISMIR 2022; weights CC BY 4.0,
code MIT): its front end and the convolutional trunk of its embedding network, rebuilt here
so that the weights load without the package (whose metadata pins old numpy and librosa).

The trunk is the 9-layer DCASE cross-task CNN: four blocks of two 3x3 convolutions with
batch norm and ReLU (64, 128, 256, 512 channels), 2x2 max pooling after the first three.
Its input: 44.1 kHz audio, 96 HTK mel bands from 0 to 22,050 Hz (each filter normalised to
unit area), a 2048-sample Hann window with a hop of 1024 (23 ms), log10(10000 * S + 1)
scaled by 1 / 9.4578 (the paper's min-max constant). Out of it we take, per output frame
(8 input frames, 186 ms), the last block's map averaged over frequency (512 values) and the
third block's map averaged over frequency and over its two frames (256 values): 768 values
per frame, the features the aisfx backbone reads. The aisfx_tuned backbone reads the last
block's input instead (Trunk.maps) and runs a trained copy of that block itself.
"""
from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import soxr
import torch
import torch.nn.functional as F
from torch import nn

from ..io.wheel_fetch import WheelFile

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
LOG_SCALE = 9.457798957824707  # the paper's maximum of log10(10000 * S + 1) over its corpora
CHANNELS = (64, 128, 256, 512)
TIME_REDUCTION = 8             # input frames per output frame (three 2x2 poolings)
FEATURE_DIM = CHANNELS[3] + CHANNELS[2]
# The last block's input, per output frame: the third block's pooled map (256 channels x 12
# mel bands: three 2x2 poolings halve the 96 bands three times), then the third block's
# summary that the features carry (256 values): what a backbone that trains the last block
# itself reads (Trunk.maps).
POOLED_BANDS = N_MELS // 8
POOLED_DIM = CHANNELS[2] * POOLED_BANDS
BLOCK_INPUT_DIM = POOLED_DIM + CHANNELS[2]
FRAME_SECONDS = TIME_REDUCTION * HOP / SAMPLE_RATE
# The input level: audio is scaled so its peak is at full scale, as the package's own front
# end does, but never by more than this (a quiet stretch is not lifted into loud noise).
MAX_GAIN_DB = 30.0


CHECKPOINT = WheelFile(
    package="aisfx", version="0.1.2", member="aisfx/models/checkpoint.pth",
    wheel_sha256="bfe219950715af179e9a1653e7117cc1852baef267cd6596c42cad74afe1d194",
    member_sha256="499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5")
# Input frames of context on each side of a chunk when a long recording goes through the
# trunk in pieces: more than its receptive field (61 frames), a multiple of 8 so the
# poolings stay aligned; the pieces' outputs then equal one pass over the whole recording.
CHUNK_MARGIN = 128
CHUNK_FRAMES = 4096


class CheckpointError(ValueError):
    """A checkpoint that is not the aisfx one, or holds objects the loader refuses."""


def load_trunk_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The trunk's weights from the package's checkpoint.pth, a pickle of (state_dict, datasets).

    Loaded with torch's weights-only unpickler, which builds nothing but tensors and plain
    containers; the checkpoint also holds numpy integers (the dataset indices), so exactly the
    globals those need are allowed: numpy's scalar constructor (under the name the pickle
    gives it, `numpy.core...`, which numpy 2 moved to `numpy._core`), its dtype and the int64
    dtype class. Any other global is refused."""
    from numpy._core.multiarray import scalar

    allowed = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType]
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(allowed):
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)|but got (<class '[^']+'>)", str(error))
        reason = f"it holds {next(g for g in refused.groups() if g)}, which is not allowed" if refused else \
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise CheckpointError(f"{path}: not a loadable aisfx checkpoint ({reason})") from None
    state = payload[0] if isinstance(payload, (tuple, list)) and payload else payload
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected (state_dict, datasets), got {type(payload).__name__}")
    prefix = "embedding_net."
    trunk = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    expected = set(Trunk().state_dict())
    if set(trunk) != expected:
        missing = sorted(expected - set(trunk))[:3]
        raise CheckpointError(f"{path}: not the aisfx embedding network (missing {missing})")
    return trunk


class ConvBlock(nn.Sequential):
    """conv1, bn1, ReLU, conv2, bn2, ReLU (the names the checkpoint uses); a Sequential, so
    that inference folds each batch norm into its convolution like every other one
    (segmenter.prepare_for_inference)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)), ("bn1", nn.BatchNorm2d(c_out)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)), ("bn2", nn.BatchNorm2d(c_out)),
            ("relu2", nn.ReLU())]))


class Trunk(nn.Module):
    """The embedding network's convolutions (module names as in the checkpoint)."""

    def __init__(self):
        super().__init__()
        sizes = (1, *CHANNELS)
        for i in range(4):
            self.add_module(f"conv_block{i + 1}", ConvBlock(sizes[i], sizes[i + 1]))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, 96) scaled log-mel -> (B, frames // 8, 768) features."""
        return last_block(self.conv_block4, self.maps(log_mel))

    def maps(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, frames, 96) scaled log-mel -> (B, frames // 8, 3328): the last block's input."""
        x = F.max_pool2d(self.conv_block1(log_mel.unsqueeze(1)), 2)
        x = F.max_pool2d(self.conv_block2(x), 2)
        third = self.conv_block3(x)                           # (B, 256, T / 4, 24)
        pooled = F.max_pool2d(third, 2)                       # (B, 256, T / 8, 12)
        frames = pooled.shape[2]
        summary = third[:, :, :2 * frames].mean(3).unflatten(2, (frames, 2)).mean(3)
        return torch.cat([pooled.transpose(1, 2).flatten(2), summary.transpose(1, 2)], dim=2)


def last_block(block: ConvBlock, maps: torch.Tensor) -> torch.Tensor:
    """The trunk's last block on its input (Trunk.maps): (B, frames, 3328) -> (B, frames, 768)
    features, the block's map averaged over frequency beside the third block's summary."""
    pooled = maps[..., :POOLED_DIM].unflatten(2, (CHANNELS[2], POOLED_BANDS)).transpose(1, 2)
    last = block(pooled.contiguous(memory_format=torch.channels_last))   # (B, 512, frames, 12)
    return torch.cat([last.mean(3).transpose(1, 2), maps[..., POOLED_DIM:]], dim=2)


def htk_mel_filterbank() -> np.ndarray:
    """librosa.filters.mel(sr=44100, n_fft=2048, n_mels=96, fmin=0, fmax=22050, htk=True, norm=1):
    triangles on the HTK mel scale, each scaled to unit sum; written out because importing
    librosa.filters takes seconds (a test checks the two agree)."""
    def mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    edges = 700.0 * (10.0 ** (np.linspace(mel(0.0), mel(SAMPLE_RATE / 2), N_MELS + 2) / 2595.0) - 1.0)
    bins = np.linspace(0.0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    rising = (bins[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights / weights.sum(axis=1, keepdims=True)


class FrontEnd(nn.Module):
    """Audio at any rate -> the trunk's input: (frames, 96) scaled log-mel at 44.1 kHz."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mel", torch.from_numpy(htk_mel_filterbank().astype(np.float32)))
        self.register_buffer("window", torch.hann_window(N_FFT))

    def forward(self, audio: np.ndarray, sample_rate: int) -> torch.Tensor:
        y = self.prepare(audio, sample_rate)
        return self.log_mel(y, 0, n_input_frames(len(y)))

    @staticmethod
    def prepare(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The audio at 44.1 kHz, scaled to a peak of 1 (at most +30 dB)."""
        y = audio.astype(np.float32)
        if sample_rate != SAMPLE_RATE:
            y = soxr.resample(y, sample_rate, SAMPLE_RATE).astype(np.float32)
        peak = float(np.abs(y).max()) if len(y) else 0.0
        return y / max(peak, 10 ** (-MAX_GAIN_DB / 20))

    def log_mel(self, y: np.ndarray, first: int, last: int) -> torch.Tensor:
        """Frames first..last-1 of the prepared audio's (frames, 96) scaled log-mel: frames
        centred on multiples of the hop, zeros beyond the ends. A stretch of frames is what
        the whole signal's transform gives there, so a long recording goes a stretch at a time."""
        start, stop = first * HOP - N_FFT // 2, (last - 1) * HOP + N_FFT // 2
        piece = np.pad(y[max(start, 0):max(min(stop, len(y)), 0)], (max(-start, 0), max(stop - len(y), 0)))
        spec = torch.stft(torch.from_numpy(piece).to(self.window.device), N_FFT, HOP, window=self.window,
                          center=False, return_complex=True).abs().square()
        return (torch.log10(self.mel @ spec * 10000.0 + 1.0) / LOG_SCALE).T.contiguous()


def n_input_frames(n_samples: int) -> int:
    """The trunk's input frames (spectrogram frames) of n_samples at 44.1 kHz."""
    return 1 + n_samples // HOP


def output_frames(n_samples: int, sample_rate: int) -> int:
    """Trunk output frames for a recording of n_samples at sample_rate."""
    resampled = n_samples if sample_rate == SAMPLE_RATE else int(np.ceil(n_samples * SAMPLE_RATE / sample_rate))
    return max(1, n_input_frames(resampled) // TIME_REDUCTION)


class Encoder(nn.Module):
    """The front end and the trunk: audio -> (frames, 768) features (or the last block's
    input), one frame per 186 ms."""

    def __init__(self):
        super().__init__()
        self.front_end = FrontEnd()
        self.trunk = Trunk()
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: batch norm keeps the pretrained statistics

    def load_checkpoint(self, path: str | Path) -> "Encoder":
        """The trunk's weights from the package's checkpoint (load_trunk_weights)."""
        self.trunk.load_state_dict(load_trunk_weights(path))
        return self

    @torch.no_grad()
    def forward(self, audio: np.ndarray, sample_rate: int, chunk_frames: int = CHUNK_FRAMES,
                maps: bool = False, progress=None) -> torch.Tensor:
        """Audio of any length -> (frames, 768) features, or with `maps` (frames, 3328), the
        last block's input (Trunk.maps); long audio in chunks of chunk_frames input frames (a
        multiple of 8) with margins, its spectrogram too, so memory stays bounded.
        progress(done, chunks), if given, after each chunk."""
        trunk = self.trunk.maps if maps else self.trunk
        y = self.front_end.prepare(audio, sample_rate)
        n_in = n_input_frames(len(y))
        if n_in <= chunk_frames + 2 * CHUNK_MARGIN:
            log_mel = self.front_end.log_mel(y, 0, n_in)
            if n_in < TIME_REDUCTION:  # under 186 ms: padded with silence to one frame
                log_mel = F.pad(log_mel, (0, 0, 0, TIME_REDUCTION - n_in))
            if progress is not None:
                progress(1, 1)
            return trunk(log_mel[None])[0, :max(n_in // TIME_REDUCTION, 1)]
        frames, step, pieces = n_in // TIME_REDUCTION, chunk_frames, []
        starts = range(0, frames * TIME_REDUCTION, step)
        for done, start in enumerate(starts, 1):
            lo = max(start - CHUNK_MARGIN, 0)
            hi = min(start + step + CHUNK_MARGIN, n_in)
            out = trunk(self.front_end.log_mel(y, lo, hi)[None])[0]
            first = (start - lo) // TIME_REDUCTION
            pieces.append(out[first:first + step // TIME_REDUCTION])
            if progress is not None:
                progress(done, len(starts))
        return torch.cat(pieces)[:frames]
