"""Every audio file arseg reads or writes goes through this module.

Reading (`read_mono`): WAV, FLAC, OGG, MP3 through libsndfile, anything else librosa can open;
any sample rate (resampled to the one asked for with soxr, as librosa does), any channel
count (averaged to mono), any length (read and resampled in blocks, so an hour of 48 kHz
6-channel audio never sits in memory at once). A plain 16-bit PCM WAV shorter than a block
(the corpus clips and mixtures the workflow writes) is parsed here directly, much faster than
libsndfile, to the same samples (sample / 32768). `info` reads a file's rate,
channels and length, `write_span` a stretch of the original, `check_decodes` a whole file
without keeping it (a downloaded archive's WAV).

Every problem a user can cause (missing file, unreadable or unsupported file, no samples,
only zeros) raises AudioError with a message that starts with the file's path.

Writing (`write_wav`): 16-bit PCM WAV, encoded here byte for byte as libsndfile would, and
written atomically.
"""
from __future__ import annotations

import dataclasses
import io
import os
import struct
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from arseg.io.atomic import atomic_path

BLOCK_SECONDS = 60.0  # read and resample this much at a time
PREROLL_SECONDS = 0.2  # decoded and dropped before a cut (see write_span)
PLAIN_WAV_MAX_BYTES = 32 * 2 ** 20  # larger files are streamed through libsndfile
HEADER_BYTES = 8192  # a file this large with no sound in it held some, or was meant to


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
    declared_frames: int | None = None  # a file cut short: the length its header declares

    @property
    def cut_short(self) -> str:
        """'' or, for a file that holds less than its header declares, a note saying so."""
        if self.declared_frames is None or not self.sample_rate:
            return ""
        return (f"cut short: its header declares {self.declared_frames / self.sample_rate:.2f} s of sound, "
                f"the file holds {self.duration:.2f} s")

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file", "missing")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file (a pipe or a device?); save the audio to a file first")
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


def _why_empty(path: Path) -> str:
    """What to say of a file that decodes to no sound although it is not empty."""
    sizes = wav_data_sizes(path)
    if sizes is not None and sizes[0] == 0 and sizes[1] > 0:  # libsndfile takes the 0 at its word
        return (f": its header declares no sound (a data length of 0) before {sizes[1]:,} bytes of it, as a "
                "recording never closed leaves it; rewrite it with the length set (`sox --ignore-length IN OUT`)")
    size = path.stat().st_size
    return f" from a file of {size:,} bytes: cut short or damaged?" if size > HEADER_BYTES else ""


def read_mono(path: str | os.PathLike, sample_rate: int) -> tuple[np.ndarray, AudioInfo]:
    """The whole file as float32 mono at `sample_rate`, and the file's own info.

    Raises AudioError for missing, unreadable, empty and all-zero files.
    """
    path = Path(path)
    _check_path(path)
    plain = _plain_wav(path)
    if plain is not None:
        samples, meta = plain
        audio, peak, _ = _mono(meta, sample_rate, [samples * np.float32(1.0 / 32768)])
    else:
        meta = info(path)
        if meta.format == "other":
            audio = _read_other(meta.path, sample_rate)
            peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        else:
            audio, peak, read, failed = _read_soundfile(meta, sample_rate)
            if read < meta.frames:  # what the file holds, not what its header says
                # (libsndfile estimates some formats' lengths: a small shortfall is no damage,
                # unless the decoder failed there)
                cut = failed or meta.frames - read > max(0.1 * meta.sample_rate, 0.005 * meta.frames)
                meta = dataclasses.replace(meta, frames=read, declared_frames=meta.frames if cut else None)
            elif meta.format.startswith("WAV") and (short := wav_shortfall(path)):  # libsndfile counts what is there
                if meta.frames == 0:
                    raise AudioError(f"{meta.path}: cut short: its header declares {short[0]} bytes of sound, "
                                     f"the file holds {short[1]}, not a whole frame", "truncated")
                meta = dataclasses.replace(meta, declared_frames=int(round(meta.frames * short[0] / short[1])))
    if meta.frames == 0 or len(audio) == 0:
        raise AudioError(f"{meta.path}: no audio in the file (0 samples){_why_empty(path)}", "empty")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{meta.path}: the audio contains NaN or infinite samples", "non-finite")
    if peak == 0.0:
        raise AudioError(f"{meta.path}: silent file (every sample is zero)", "silent")
    return audio, meta


def _block_frames(sample_rate: int) -> int:
    return max(1, int(BLOCK_SECONDS * sample_rate))


def _plain_wav(path: Path) -> tuple[np.ndarray, AudioInfo] | None:
    """A plain 16-bit PCM WAV of less than one block as int16 (frames, channels) and its
    info; None for anything else (compressed, extensible, other widths, trailing chunks,
    truncated, longer), which libsndfile then reads."""
    if path.stat().st_size > PLAIN_WAV_MAX_BYTES:
        return None
    data = path.read_bytes()
    fmt = None
    for chunk, size, body in _riff_chunks(io.BytesIO(data), len(data)):
        if chunk == b"fmt " and size >= 16 and body + 16 <= len(data):
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            tag, channels, rate, bits = fmt or (0, 0, 0, 0)
            if tag != 1 or bits != 16 or channels < 1 or body + size != len(data) or size % (2 * channels):
                return None
            frames = size // (2 * channels)
            if frames >= _block_frames(rate):  # longer files go block by block, as libsndfile reads them
                return None
            samples = np.frombuffer(data, dtype="<i2", count=size // 2, offset=body).reshape(frames, channels)
            return samples, AudioInfo(path, rate, channels, frames, "WAV")
    return None


def _riff_chunks(f, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(id, declared size, offset of its body) of each chunk of a RIFF/WAVE file of `end`
    bytes; none for any other file. Reads only the chunks' headers."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    offset = 12
    while offset + 8 <= end:
        f.seek(offset)
        chunk, size = struct.unpack("<4sI", f.read(8))
        yield chunk, size, offset + 8
        offset += 8 + size + (size & 1)


def wav_data_sizes(path: str | os.PathLike) -> tuple[int, int] | None:
    """For a WAV file: the bytes of sound its data chunk's header declares, and those that
    follow that header in the file; None for any other file."""
    path = Path(path)
    end = path.stat().st_size
    with open(path, "rb") as f:
        for chunk, size, body in _riff_chunks(f, end):
            if chunk == b"data":
                return size, end - body
    return None


def wav_shortfall(path: str | os.PathLike) -> tuple[int, int] | None:
    """For a WAV file cut short (its data chunk runs past the end of the file): the bytes of
    sound its header declares and those the file holds; None for any other file, and for a
    WAV whose header leaves the length open (0 or 0xFFFFFFFF, as streaming writers do).
    libsndfile reads such a file as far as it goes without a word."""
    sizes = wav_data_sizes(path)
    if sizes is None:
        return None
    declared, held = sizes
    return sizes if 0 < declared < 0xFFFFFFFF and declared > held else None


def _read_soundfile(meta: AudioInfo, sample_rate: int) -> tuple[np.ndarray, float, int, bool]:
    """Stream the file through libsndfile in blocks into `_mono`; also whether the decoder
    failed part way (what decoded before is kept: a FLAC cut short fails where its sound stops)."""
    block = _block_frames(meta.sample_rate)
    failed = []

    def blocks():
        with sf.SoundFile(str(meta.path)) as f:
            done = 0
            while True:
                try:
                    data = f.read(block, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as error:
                    rest = _decodable_rest(meta.path, done, meta.sample_rate, block, f.channels)
                    if done == 0 and not len(rest):
                        raise error
                    failed.append(error)
                    yield rest
                    return
                yield data
                done += len(data)
                if len(data) < block:
                    return

    try:
        return (*_mono(meta, sample_rate, blocks()), bool(failed))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{meta.path}: the file is damaged or truncated ({_reason(error)})") from None


def _decodable_rest(path: Path, start: int, rate: int, limit: int, channels: int) -> np.ndarray:
    """From frame `start`, what decodes (at most `limit` frames) in steps of 0.1 s before
    the decoder fails again; read through a fresh handle (a failed one often cannot seek)."""
    step, pieces, got = max(1, rate // 10), [], 0
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(start)
            while got < limit:
                piece = f.read(min(step, limit - got), dtype="float32", always_2d=True)
                pieces.append(piece)
                got += len(piece)
                if len(piece) < step:
                    break
    except (sf.LibsndfileError, RuntimeError):
        pass
    return np.concatenate(pieces) if pieces else np.zeros((0, channels), np.float32)


def _mono(meta: AudioInfo, sample_rate: int, blocks) -> tuple[np.ndarray, float, int]:
    """Downmix and resample float32 (frames, channels) blocks, the last one shorter than a
    block: the audio, the peak of the original samples and the frames read (fewer than
    meta.frames in a file cut short, whose audio then ends where its sound does)."""
    block = _block_frames(meta.sample_rate)
    stream = None
    if meta.sample_rate != sample_rate:
        import soxr  # librosa's resampler (librosa >= 0.10 depends on it)

        stream = soxr.ResampleStream(meta.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    # The length librosa.resample gives; filled as the blocks come (no list of pieces to
    # concatenate: an hour at 16 kHz is 230 MB, and is held once).
    expected = meta.frames if stream is None else int(np.ceil(meta.frames * sample_rate / meta.sample_rate))
    audio = np.zeros(expected, dtype=np.float32)
    filled, peak, read = 0, 0.0, 0
    for data in blocks:
        last = len(data) < block
        read += len(data)
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
    if stream is None or read < meta.frames:
        audio = audio[:filled]  # a truncated file: what could be read
    return audio, peak, read


def _read_other(path: Path, sample_rate: int) -> np.ndarray:
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(str(path), sr=sample_rate, mono=True, dtype=np.float32)
        return audio
    except Exception as error:  # noqa: BLE001
        raise AudioError(f"{path}: not a readable audio file ({_reason(error)})") from None


def write_span(path: str | os.PathLike, start: float, stop: float, dest: str | os.PathLike) -> bool:
    """Samples [start, stop) seconds of the original file (all channels, its own rate) as a
    16-bit WAV at `dest`, clipped to [-1, 1], copied block by block (a long span never sits
    in memory), atomically; False when libsndfile cannot open the file (the caller falls
    back to the mono signal)."""
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return False
    with f:
        rate = f.samplerate
        first = max(0, int(round(start * rate)))
        last = min(f.frames, int(round(stop * rate))) if f.frames > 0 else int(round(stop * rate))
        # MP3 frames lean on the ones before them (bit reservoir): right after a seek the decoder
        # glitches for a few samples, so start a little early and drop that.
        preroll = min(first, int(PREROLL_SECONDS * rate))
        try:
            f.seek(first - preroll)
            f.read(preroll, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError):
            return False
        with atomic_path(dest, suffix=".tmp.wav") as tmp, \
                sf.SoundFile(str(tmp), "w", rate, f.channels, subtype="PCM_16", format="WAV") as out:
            left = max(0, last - first)
            while left > 0:
                block = f.read(min(left, _block_frames(rate)), dtype="float32", always_2d=True)
                if not len(block):
                    break
                out.write(np.clip(block, -1.0, 1.0))
                left -= len(block)
    return True


def check_decodes(path: str | os.PathLike) -> AudioInfo:
    """Decode the whole file through libsndfile, block by block, keeping nothing; AudioError
    if it cannot be opened, holds no frames or fails part way (a truncated download)."""
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as f:
            if f.frames <= 0:
                raise AudioError(f"{path}: no audio frames", "empty")
            for _ in f.blocks(blocksize=1 << 16):  # bounded by the file's length
                pass
            return AudioInfo(path, int(f.samplerate), int(f.channels), int(f.frames), f.format)
    except AudioError:
        raise
    except Exception as error:  # noqa: BLE001 - libsndfile reports errors with several types
        raise AudioError(f"{path}: does not decode ({type(error).__name__}: {error})") from error


def _reason(error: Exception) -> str:
    text = str(error).strip() or f"{type(error).__name__}: no decoder knows its format"
    # libsndfile prefixes its messages with the path; the caller names the file already
    return text.replace("Error opening ", "").splitlines()[0][:300]


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Write mono/multichannel float audio as 16-bit PCM WAV, atomically.

    Encoded in memory and written with one call: libsndfile writing to a path issues
    dozens of small writes and an fsync per file, which dominated writing many mixtures.
    """
    data = pcm16_wav(audio, sample_rate)
    with atomic_path(path, suffix=".tmp.wav") as tmp:
        tmp.write_bytes(data)


def pcm16_wav(audio: np.ndarray, sample_rate: int) -> bytes | bytearray:
    """A 16-bit PCM WAV file (44-byte header) of float audio, (frames,) or (frames, channels).

    Byte for byte what soundfile's bundled libsndfile (1.2) writes for float32 input:
    round(x * 2^31) shifted right by 16 bits, clipped to [-32768, 32767] (so 1.0 -> 32767,
    -1.0 -> -32768), computed in float32 (every step exact); far faster than going through
    libsndfile's virtual I/O (docs/experiments.md). Input with NaN or infinity goes through
    soundfile.
    """
    data = np.asarray(audio)
    if data.ndim not in (1, 2) or not np.isfinite(data).all():
        buffer = io.BytesIO()
        sf.write(buffer, data.astype(np.float32), sample_rate, subtype="PCM_16", format="WAV")
        return bytes(buffer.getbuffer())
    channels = 1 if data.ndim == 1 else data.shape[1]
    # float32(x) * 2^31 (exact: a power of two), in one pass from any float input
    scaled = np.multiply(data, np.float32(2.0 ** 31), dtype=np.float32)
    np.rint(scaled, out=scaled)               # libsndfile rounds at 32-bit resolution ...
    scaled *= np.float32(2.0 ** -16)          # (exact) ...
    np.floor(scaled, out=scaled)              # ... and shifts down to 16 bits
    np.clip(scaled, -32768, 32767, out=scaled)
    wav = bytearray(44 + 2 * scaled.size)
    struct.pack_into("<4sI4s4sIHHIIHH4sI", wav, 0, b"RIFF", 36 + 2 * scaled.size, b"WAVE", b"fmt ", 16, 1, channels,
                     sample_rate, sample_rate * channels * 2, channels * 2, 16, b"data", 2 * scaled.size)
    np.copyto(np.frombuffer(wav, dtype="<i2", offset=44).reshape(scaled.shape), scaled, casting="unsafe")
    return wav
