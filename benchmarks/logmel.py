"""Log-mel extraction: arseg.features.logmel.LogMel (numba windowing and power kernels, float32
FFT, grouped mel product, float64 for faint frames; batched) vs librosa (melspectrogram +
power_to_db per clip), on the same 8-second 16 kHz mixtures.

Cases, all interleaved:
  in memory  LogMel over the waveforms in compute_split's batches vs the librosa loop over
             the same float32 waveforms; at 1 torch thread, which is how the workflow runs
             it (Snakemake sets OMP_NUM_THREADS=1 for the features rule), and at torch's
             default (one thread per core)
  with I/O   compute_split (read WAVs, extract, write the memory-mapped .npy + index) vs
             librosa.load + librosa + np.save, at 1 thread; plus reading the WAVs alone,
             to show the I/O share
Values: the largest |difference| in dB between LogMel and librosa on every frame and band
(target <= 1e-3 dB), and both against librosa in float64 as the reference.
"""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import torch

from .common import Row, Settings, interleaved, median, paired_ratio, rates, spread
from .data import mixture_set, quiet

NAME = "logmel"
TARGET = 3.0
TOLERANCE_DB = 1e-3


def librosa_logmel(y: np.ndarray, cfg) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                         win_length=cfg.win_length, window="hann", center=True,
                                         pad_mode="constant", power=2.0, n_mels=cfg.n_mels)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T


def run(settings: Settings) -> list[Row]:
    import librosa

    from arseg.features.logmel import FeatureConfig, LogMel, compute_split
    from arseg.io.audio import read_mono

    log = settings.log
    warnings.filterwarnings("ignore", module="librosa")
    import inspect

    cfg = FeatureConfig()
    n_clips = settings.pick(32, 100)
    paths = mixture_set(settings.workdir, 100)[:n_clips]
    audio = np.stack([read_mono(p, cfg.sample_rate)[0] for p in paths])
    seconds_of_audio = audio.shape[0] * audio.shape[1] / cfg.sample_rate
    logmel = LogMel(cfg)
    batch = inspect.signature(compute_split).parameters["batch_size"].default
    default_threads = torch.get_num_threads()
    out = settings.workdir / "logmel-out"
    out.mkdir(parents=True, exist_ok=True)

    def ours(module=logmel, threads=default_threads):
        torch.set_num_threads(threads)
        try:
            x = torch.from_numpy(audio)
            return np.concatenate([module(x[i:i + batch]).numpy() for i in range(0, len(x), batch)])
        finally:
            torch.set_num_threads(default_threads)

    def theirs():
        return np.stack([librosa_logmel(y, cfg) for y in audio])

    def ours_io():
        for p in out.glob("ours.*"):
            p.unlink()
        torch.set_num_threads(1)
        try:
            with quiet():
                compute_split(paths, out / "ours.npy", out / "ours.index.tsv", cfg)
        finally:
            torch.set_num_threads(default_threads)

    def theirs_io():
        np.save(out / "librosa.npy", np.stack([librosa_logmel(librosa.load(p, sr=None, mono=True)[0], cfg)
                                              for p in paths]))

    def read_only():
        return [read_mono(p, cfg.sample_rate)[0] for p in paths]

    # Values first (also a warm-up of every path).
    a, b = ours(), theirs()
    reference = np.stack([librosa_logmel(y.astype(np.float64), cfg) for y in audio])
    diff = float(np.abs(a - b).max())
    diff_ref = float(np.abs(a - reference).max())
    librosa_ref = float(np.abs(b - reference).max())
    worst = np.unravel_index(np.abs(a - b).argmax(), a.shape)
    n_over = int((np.abs(a - b) > TOLERANCE_DB).sum())
    log(f"  max |LogMel - librosa| = {diff:.2e} dB ({n_over} of {a.size} values over {TOLERANCE_DB:g} dB; worst at "
        f"band {worst[2]}, {b[worst]:.1f} dB); vs float64 librosa: LogMel {diff_ref:.2e}, librosa float32 "
        f"{librosa_ref:.2e}")

    cases = {"ours": ours, "ours_1thread": lambda: ours(threads=1), "librosa": theirs,
             "ours_io": ours_io, "librosa_io": theirs_io, "read": read_only}
    times = interleaved(cases, settings.repeats, settings.warmup)
    shutil.rmtree(out, ignore_errors=True)
    rate = {k: rates(v, seconds_of_audio) for k, v in times.items()}  # seconds of audio per second
    for k, v in times.items():
        log(f"  {k}: {spread(v)} s for {n_clips} clips")
    read_share = median(times["read"]) / median(times["ours_io"])
    common = dict(benchmark=NAME, metric="x real time", peer_name="librosa")
    one = paired_ratio(times["librosa"], times["ours_1thread"])
    rows = [
        Row(case=f"in memory, {n_clips} x 8 s, 1 thread (as in the workflow)", ours=median(rate["ours_1thread"]),
            peer=median(rate["librosa"]), ratio=one, target=f">= {TARGET:g}x", met=one >= TARGET, samples=times,
            note=f"{n_clips} clips took {median(times['ours_1thread']):.2f} s (librosa {median(times['librosa']):.2f} s); "
                 f"batches of {batch}", **common),
        Row(case=f"in memory, {n_clips} x 8 s, torch {default_threads} threads", ours=median(rate["ours"]),
            peer=median(rate["librosa"]), ratio=paired_ratio(times["librosa"], times["ours"]), **common),
        Row(case="with WAV I/O, 1 thread (compute_split vs librosa.load)", ours=median(rate["ours_io"]),
            peer=median(rate["librosa_io"]), ratio=paired_ratio(times["librosa_io"], times["ours_io"]),
            note=f"reading the {n_clips} WAVs alone takes {median(times['read']):.2f} s, "
                 f"{100 * read_share:.0f}% of compute_split's time", **common),
        Row(case="max abs difference to librosa", metric="dB", ours=diff, peer=None, peer_name="",
            target=f"<= {TOLERANCE_DB:g} dB", met=diff <= TOLERANCE_DB, benchmark=NAME,
            note=f"{n_over} of {a.size} values over {TOLERANCE_DB:g} dB, worst in mel band {worst[2]} at "
                 f"{b[worst]:.1f} dB; against librosa in float64: LogMel {diff_ref:.1e} dB, librosa float32 "
                 f"{librosa_ref:.1e} dB (both window and transform in float64; librosa rounds its STFT to "
                 f"complex64)"),
    ]
    return rows
