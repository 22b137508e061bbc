"""Reading any audio a user hands the command line: WAV, FLAC, OGG, MP3 (through
libsndfile), anything else librosa can open; any sample rate (resampled to the model's
with soxr, as librosa does), any channel count (averaged to mono), any length (read and
resampled in blocks, so an hour of 48 kHz 6-channel audio never sits in memory at once).

Every problem a user can cause (missing file, unreadable or unsupported file, no samples,
only zeros) raises AudioError with a message that starts with the file's path.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

BLOCK_SECONDS = 60.0  # read and resample this much at a time
PREROLL_SECONDS = 0.2  # decoded and dropped before a cut (see read_span)


class AudioError(ValueError):
    """A user's audio file that cannot be segmented; the message names the file.

    `kind` says what is wrong, for reports that count problems: missing, unreadable, empty,
    non-finite or silent.
    """

    def __init__(self, message: str, kind: str = "unreadable"):
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file", "missing")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)", "empty")


def info(path: str | os.PathLike) -> AudioInfo:
    """Rate, channels and length without decoding; AudioError if the file cannot be read."""
    path = Path(path)
    _check_path(path)
    try:
        i = sf.info(str(path))
        return AudioInfo(path, int(i.samplerate), int(i.channels), int(i.frames), i.format)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    try:  # formats libsndfile does not know (m4a, wma, ...) through librosa/audioread
        import librosa

        with warnings.catch_warnings():  # "PySoundFile failed. Trying audioread instead."
            warnings.simplefilter("ignore")
            rate = int(librosa.get_samplerate(str(path)))
            duration = float(librosa.get_duration(path=str(path)))
        return AudioInfo(path, rate, 0, int(round(duration * rate)), "other")
    except Exception as error:  # noqa: BLE001 - any decoder failure is the file's problem
        raise AudioError(f"{path}: not a readable audio file ({_reason(error)})") from None


def read_mono(path: str | os.PathLike, sample_rate: int) -> tuple[np.ndarray, AudioInfo]:
    """The whole file as float32 mono at `sample_rate`, and the file's own info.

    Raises AudioError for missing, unreadable, empty and all-zero files.
    """
    meta = info(path)
    if meta.format == "other":
        audio = _read_other(meta.path, sample_rate)
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    else:
        audio, peak = _read_soundfile(meta, sample_rate)
    if meta.frames == 0 or len(audio) == 0:
        raise AudioError(f"{meta.path}: no audio in the file (0 samples)", "empty")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{meta.path}: the audio contains NaN or infinite samples", "non-finite")
    if peak == 0.0:
        raise AudioError(f"{meta.path}: silent file (every sample is zero); nothing to segment", "silent")
    return audio, meta


def _read_soundfile(meta: AudioInfo, sample_rate: int) -> tuple[np.ndarray, float]:
    """Stream blocks: downmix, resample, remember the peak of the original samples."""
    block = max(1, int(BLOCK_SECONDS * meta.sample_rate))
    stream = None
    if meta.sample_rate != sample_rate:
        import soxr  # librosa's resampler (librosa >= 0.10 depends on it)

        stream = soxr.ResampleStream(meta.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    # The length librosa.resample gives; filled as the blocks come (no list of pieces to
    # concatenate: an hour at 16 kHz is 230 MB, and is held once).
    expected = meta.frames if stream is None else int(np.ceil(meta.frames * sample_rate / meta.sample_rate))
    audio = np.zeros(expected, dtype=np.float32)
    filled, peak = 0, 0.0
    try:
        with sf.SoundFile(str(meta.path)) as f:
            while True:
                data = f.read(block, dtype="float32", always_2d=True)
                last = len(data) < block
                if len(data):
                    peak = max(peak, float(np.max(np.abs(data))))
                mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
                if stream is not None:
                    mono = stream.resample_chunk(np.ascontiguousarray(mono), last=last)
                take = min(len(mono), expected - filled)  # a file may hold more than its header said
                audio[filled:filled + take] = mono[:take]
                filled += take
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{meta.path}: the file is damaged or truncated ({_reason(error)})") from None
    if stream is None:
        audio = audio[:filled]  # a truncated file: what could be read
    return audio, peak


def _read_other(path: Path, sample_rate: int) -> np.ndarray:
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(str(path), sr=sample_rate, mono=True, dtype=np.float32)
        return audio
    except Exception as error:  # noqa: BLE001
        raise AudioError(f"{path}: not a readable audio file ({_reason(error)})") from None


def read_span(path: str | os.PathLike, start: float, stop: float) -> tuple[np.ndarray, int] | None:
    """Samples [start, stop) seconds of the original file (all channels, its own rate),
    or None when libsndfile cannot read the file (the caller falls back to the mono signal)."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            first = max(0, int(round(start * rate)))
            last = min(f.frames, int(round(stop * rate))) if f.frames > 0 else int(round(stop * rate))
            # MP3 frames lean on the ones before them (bit reservoir): right after a seek
            # the decoder glitches for a few samples, so start a little early and drop that.
            preroll = min(first, int(PREROLL_SECONDS * rate))
            f.seek(first - preroll)
            audio = f.read(max(0, last - first) + preroll, dtype="float32", always_2d=True)
            return audio[preroll:], rate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None


def _reason(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    # libsndfile prefixes its messages with the path; the caller names the file already
    return text.replace("Error opening ", "").splitlines()[0][:300]
