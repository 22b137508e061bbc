"""The pretrained encoder stage: arseg.model.aisfx.Encoder (soxr to 44.1 kHz, torch STFT and mel
product, the trunk, channels-last, one pass per recording) against the aisfx package's own
reference pipeline (its librosa spectrogram: librosa.load at 44.1 kHz, peak normalisation,
librosa.feature.melspectrogram, log10(10000 S + 1), min-max scaling; and its EmbeddingNet on
blocks of 100 frames with a hop of 50, as its inference does), on the same 8-second 16 kHz
mixtures, with the same weights.

The package's code is read from its wheel (its metadata pins old numpy and librosa, so it is
not installed): `aisfx/models/cnn2d.py` and `aisfx/spectrogram/spectrogram_librosa.py`, loaded
by path. Values: our log-mel against theirs (same audio), and our trunk against their
EmbeddingNet on their blocks (same input, their reduction: mean over frequency, max over
time), largest absolute differences. Time: per hour of audio, both on all cores.
"""
from __future__ import annotations

import importlib.util
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .common import REPO, Row, Settings, interleaved, median, paired_ratio, spread
from .data import mixture_set

NAME = "encoder"
TOLERANCE = 1e-4
CHECKPOINT = REPO / "resources" / "encoders" / "aisfx.pth"  # where the fetch_encoder rule writes it


def package_modules(folder: Path):
    """The aisfx package's model and librosa spectrogram modules, from its wheel (fetched by pip)."""
    from arseg.io.wheel_fetch import pip_download
    from arseg.model.aisfx import CHECKPOINT as SPEC

    wheel = pip_download(SPEC.package, SPEC.version, folder)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder / "wheel")
    modules = []
    for name in ("models/cnn2d.py", "spectrogram/spectrogram_librosa.py"):
        spec = importlib.util.spec_from_file_location(f"aisfx_{Path(name).stem}", folder / "wheel" / "aisfx" / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def run(settings: Settings) -> list[Row]:
    import soundfile as sf

    from arseg.infer.encode import load_aisfx
    from arseg.io.wheel_fetch import fetch_from_wheel
    from arseg.model.aisfx import CHECKPOINT as SPEC, LOG_SCALE, N_MELS, load_trunk_weights

    log = settings.log
    warnings.filterwarnings("ignore", module="librosa")
    if not CHECKPOINT.exists():
        fetch_from_wheel(SPEC, CHECKPOINT)
    n_clips = settings.pick(16, 64)
    paths = mixture_set(settings.workdir, 100)[:n_clips]
    seconds_of_audio = sum(sf.info(p).duration for p in paths)
    with tempfile.TemporaryDirectory() as tmp:
        cnn2d, spectrogram = package_modules(Path(tmp))
    reference = cnn2d.EmbeddingNet("max", 3, 1, 64)
    reference.load_state_dict(load_trunk_weights(CHECKPOINT))
    reference.eval()
    encoder = load_aisfx(CHECKPOINT)

    def theirs_log_mel(path):
        spec = spectrogram.compute_spectrogram(str(path), 44100.0, 2048, 1024, N_MELS, 0.0, 22050.0)
        return (spec / LOG_SCALE).T.astype(np.float32)  # (frames, bands), as their blocking reads it

    def theirs_blocks(log_mel):
        starts = range(0, len(log_mel) - 100 + 1, 50)
        return torch.from_numpy(np.stack([log_mel[s:s + 100] for s in starts]))

    def ours_one(path):
        audio, rate = sf.read(path, dtype="float32")
        return encoder(audio, rate)

    def theirs_one(path):
        with torch.no_grad():
            return reference(theirs_blocks(theirs_log_mel(path)))

    def ours():
        return [ours_one(p) for p in paths]

    def theirs():
        return [theirs_one(p) for p in paths]

    # Values (also a warm-up): the front ends on the same audio, the trunks on the same input.
    mel_diff, trunk_diff = 0.0, 0.0
    for path in paths[:4]:
        audio, rate = sf.read(path, dtype="float32")
        a, b = encoder.front_end(audio, rate).numpy(), theirs_log_mel(path)
        mel_diff = max(mel_diff, float(np.abs(a[:len(b)] - b[:len(a)]).max()))
        blocks = theirs_blocks(b)
        with torch.no_grad():
            theirs_out = reference(blocks)
            x = encoder.trunk.conv_block4(torch.nn.functional.max_pool2d(encoder.trunk.conv_block3(
                torch.nn.functional.max_pool2d(encoder.trunk.conv_block2(torch.nn.functional.max_pool2d(
                    encoder.trunk.conv_block1(blocks.unsqueeze(1)), 2)), 2)), 2))
            ours_out = x.mean(3).max(2).values
        trunk_diff = max(trunk_diff, float((ours_out - theirs_out).abs().max()))
    log(f"  max |log-mel ours - theirs| = {mel_diff:.2e}; max |trunk ours - EmbeddingNet| = {trunk_diff:.2e}")

    times = interleaved({"ours": ours, "theirs": theirs}, settings.repeats, settings.warmup)
    for k, v in times.items():
        log(f"  {k}: {spread(v)} s for {n_clips} x 8 s")
    hour = 3600.0 / seconds_of_audio
    ratio = paired_ratio(times["theirs"], times["ours"])
    met = mel_diff <= TOLERANCE and trunk_diff <= TOLERANCE
    return [Row(benchmark=NAME, case=f"{n_clips} x 8 s mixtures, torch {torch.get_num_threads()} threads",
                metric="s per hour of audio", ours=median(times["ours"]) * hour, peer=median(times["theirs"]) * hour,
                peer_name="aisfx 0.1.2 (librosa spectrogram + EmbeddingNet)", ratio=ratio,
                target=f"equal outputs (<= {TOLERANCE:g})", met=met, samples=times,
                note=f"log-mel diff {mel_diff:.1e}, trunk diff {trunk_diff:.1e}; ours gives 768 values per 186 ms "
                     f"frame, theirs 512 per 1 s hop")]
