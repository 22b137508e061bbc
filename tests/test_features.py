"""features.logmel.LogMel and log_mel (the chunked form `arseg segment` uses) against
librosa's melspectrogram + power_to_db."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from arseg.features import logmel
from arseg.features.logmel import FeatureConfig, LogMel

RATE = 16000
TOLERANCE_DB = 1e-3


def librosa_logmel(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                         win_length=cfg.win_length, window="hann", center=True,
                                         pad_mode="constant", power=2.0, n_mels=cfg.n_mels)
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T


def signals() -> dict[str, np.ndarray]:
    """Noise like a mixture's, and a loud tone over a faint floor: its far bands sit 100 dB
    under the frame, where a float32 FFT (and a float32 window) err by 0.01-0.3 dB."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    brown = np.cumsum(rng.standard_normal(len(t)))
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")
    return {
        "noise": (0.3 * rng.standard_normal(len(t)) + 0.5 * brown / np.abs(brown).max()).astype(np.float32),
        "tone over a faint floor": (0.9 * np.sin(2 * np.pi * 200 * t) + 1e-5 * rng.standard_normal(len(t))).astype(np.float32),
    }


@pytest.mark.parametrize("name", list(signals()))
def test_logmel_equals_librosa(name):
    cfg = FeatureConfig()
    audio = signals()[name]
    ours = LogMel(cfg)(torch.from_numpy(np.stack([audio, audio[::-1].copy()])))
    assert ours.dtype == torch.float32 and ours.shape == (2, cfg.n_frames(len(audio)), cfg.n_mels)
    for row, clip in zip(ours.numpy(), (audio, audio[::-1].copy())):
        assert np.abs(row - librosa_logmel(clip, cfg)).max() <= TOLERANCE_DB, name
    chunked = logmel.log_mel(audio, cfg, chunk_frames=37)
    assert np.abs(chunked - librosa_logmel(audio, cfg)).max() <= TOLERANCE_DB, name


def test_values_do_not_depend_on_the_batch():
    """compute_split's batch size is a speed setting only: each clip's features are the same,
    bit for bit, alone or among others (faint frames included), from numpy or from torch."""
    cfg = FeatureConfig()
    rng = np.random.default_rng(3)
    clips = (rng.standard_normal((4, RATE)) * np.array([[1.0], [1e-3], [0.3], [1e-5]])).astype(np.float32)
    clips[1, :8000] = signals()["tone over a faint floor"][:8000]
    extract = LogMel(cfg)
    together = extract(clips).numpy()
    assert np.array_equal(together, extract(torch.from_numpy(clips)).numpy())
    for i, clip in enumerate(clips):
        assert np.array_equal(extract(clip[None]).numpy()[0], together[i])


def test_faint_frames_need_the_float64_recompute(monkeypatch):
    """Without the recompute (no band counts as faint), the tone's far bands miss by far more
    than the tolerance: the float64 path is what keeps LogMel exact."""
    cfg = FeatureConfig()
    audio = signals()["tone over a faint floor"]
    expected = librosa_logmel(audio, cfg)
    monkeypatch.setattr(logmel, "WEAK_SHARE", 0.0)
    float32_only = LogMel(cfg)(torch.from_numpy(audio)[None])[0].numpy()
    assert np.abs(float32_only - expected).max() > 20 * TOLERANCE_DB
    assert np.abs(logmel.log_mel(audio, cfg) - expected).max() > 20 * TOLERANCE_DB


@pytest.mark.parametrize("rate, n_fft, n_mels", [(16000, 400, 64), (16000, 512, 32), (22050, 1024, 128)])
def test_mel_filterbank_and_window_equal_librosa_and_torch(rate, n_fft, n_mels):
    import librosa

    expected = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels)
    assert np.allclose(logmel.mel_filterbank(rate, n_fft, n_mels), expected, rtol=1e-5, atol=1e-9)
    assert np.allclose(logmel.hann_window(n_fft), torch.hann_window(n_fft, periodic=True).numpy(), atol=1e-7)


def test_chunked_log_mel_equals_logmel():
    cfg = FeatureConfig()
    for n in (100, 400, 16000 * 3 + 7):
        audio = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
        whole = LogMel(cfg)(torch.from_numpy(audio)[None])[0].numpy()
        chunked = logmel.log_mel(audio, cfg, chunk_frames=37)
        assert chunked.shape == whole.shape
        assert np.abs(chunked - whole).max() < 1e-3


@pytest.mark.parametrize("cfg", [FeatureConfig(n_mels=190), FeatureConfig(sample_rate=44100, n_mels=40,
                                                                           win_seconds=0.04, hop_seconds=0.02),
                                 FeatureConfig(sample_rate=22050)],
                         ids=["190 bands, some filters empty", "44.1 kHz, 40 bands", "22.05 kHz, odd FFT size"])
def test_logmel_equals_librosa_in_other_settings(cfg):
    rng = np.random.default_rng(1)
    t = np.arange(200 * cfg.hop_length) / cfg.sample_rate  # a whole number of hops: the odd FFT size's edge case
    audio = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    ours = LogMel(cfg)(torch.from_numpy(audio)[None])[0].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about the empty filters
        expected = librosa_logmel(audio, cfg)
    assert ours.shape == expected.shape == (cfg.n_frames(len(audio)), cfg.n_mels)
    assert np.abs(ours - expected).max() <= TOLERANCE_DB
    assert np.abs(logmel.log_mel(audio, cfg, chunk_frames=37) - expected).max() <= TOLERANCE_DB


def test_computing_a_split_imports_no_librosa(tmp_path):
    """The features job reads the mixtures through io.audio, whose fallback for formats libsndfile
    cannot read is librosa; a split of WAVs never loads it (importing it costs seconds per job)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; import numpy as np\n"
            "from arseg.features.logmel import FeatureConfig, compute_split\n"
            "from arseg.io.audio import write_wav\n"
            "out = Path(sys.argv[1]); paths = [out / f'm{i}.wav' for i in range(2)]\n"
            "for i, p in enumerate(paths): write_wav(p, np.full(1600, 0.1 * (i + 1), np.float32), 16000)\n"
            "compute_split(paths, out / 'f.npy', out / 'f.tsv', FeatureConfig())\n"
            "print('librosa' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert np.load(tmp_path / "f.npy").shape[0] == 2


def test_stacked_stores_read_as_one(tmp_path):
    """FeatureStore.stacked: rows of the second store follow the first's, read back as written."""
    import pandas as pd

    from arseg.features.store import FeatureStore

    stores = []
    for name, rows in (("a", 3), ("b", 2)):
        array = np.arange(rows * 4 * 2, dtype=np.float32).reshape(rows, 4, 2) + (1000 if name == "b" else 0)
        np.save(tmp_path / f"{name}.npy", array)
        pd.DataFrame({"row": range(rows), "filename": [f"{name}_{i}.wav" for i in range(rows)]}).to_csv(
            tmp_path / f"{name}.index.tsv", sep="\t", index=False)
        stores.append(FeatureStore(tmp_path / f"{name}.npy", tmp_path / f"{name}.index.tsv"))
    both = FeatureStore.stacked(stores)
    assert len(both.array) == 5 and both.array.shape == (5, 4, 2)
    assert both.row == {"a_0.wav": 0, "a_1.wav": 1, "a_2.wav": 2, "b_0.wav": 3, "b_1.wav": 4}
    for name, row in both.row.items():
        np.testing.assert_array_equal(both[name], stores[name[0] == "b"][name])
    rows = np.array([4, 0, 3, 2])
    np.testing.assert_array_equal(both.array[rows], np.stack([both.array[r] for r in rows]))


@pytest.mark.parametrize("odd", ["length", "rate"])
def test_a_split_with_a_mixture_of_another_length_or_rate_stops_naming_it_and_writes_nothing(tmp_path, odd):
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = [tmp_path / f"m{i}.wav" for i in range(3)]
    for i, path in enumerate(paths):
        rate = 8000 if odd == "rate" and i == 2 else RATE
        seconds = 0.5 if odd == "length" and i == 2 else 1.0
        sf.write(path, rng.standard_normal(int(rate * seconds)) * 0.1, rate)
    expected = "8000 samples at 16000 Hz" if odd == "length" else "8000 samples at 8000 Hz"
    with pytest.raises(ValueError, match=rf"m2.wav: {expected}, expected 16000 at 16000 Hz like the rest of the split"):
        logmel.compute_split(paths, tmp_path / "f.npy", tmp_path / "f.tsv", FeatureConfig(), batch_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0.wav", "m1.wav", "m2.wav"]
