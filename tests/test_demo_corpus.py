"""The synthetic demo corpus: contract, audio sanity, splits, determinism, distinctness."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arseg.data.corpus.synthetic import CATEGORIES, MIN_DURATION_S, split_counts, synthesize_clip, synthesize_corpus
from arseg.data.corpus.table import CLIP_COLUMNS, SPLITS, read_clips

SR = 16000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The default demo corpus (10 categories x 12 clips), built once for the module."""
    root = tmp_path_factory.mktemp("demo")
    table = synthesize_corpus(root, sample_rate=SR)
    return root, table


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_table_contract(corpus):
    root, table = corpus
    assert list(table.columns) == CLIP_COLUMNS
    on_disk = pd.read_csv(root / "clips.tsv", sep="\t", keep_default_na=False)
    assert list(on_disk.columns) == CLIP_COLUMNS
    assert on_disk["duration"].dtype == float
    pd.testing.assert_frame_equal(on_disk, table)
    read_clips(root / "clips.tsv")  # the project's contract checker accepts it
    assert table["clip_id"].is_unique
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", c) for c in table["clip_id"])
    assert set(table["split"]) <= set(SPLITS)
    assert not [p for p in root.rglob(".*")], "temporary files left behind"


def test_audio_files_match_table(corpus):
    root, table = corpus
    assert len(list((root / "audio").glob("*.wav"))) == len(table)
    for row in table.itertuples(index=False):
        path = root / "audio" / f"{row.clip_id}.wav"
        info = sf.info(path)
        assert (info.channels, info.samplerate, info.subtype) == (1, SR, "PCM_16"), row.clip_id
        assert abs(info.frames / SR - row.duration) <= 0.001, row.clip_id
        assert 0.3 <= row.duration <= 8.0, row.clip_id
        audio, _ = sf.read(path)
        assert np.isfinite(audio).all(), row.clip_id
        assert 0.8 < np.abs(audio).max() <= 0.95, row.clip_id
        assert np.sqrt(np.mean(audio**2)) > 1e-3, row.clip_id


def _edge_levels_db(audio: np.ndarray, seconds: float = 0.1) -> tuple[float, float]:
    """Peak level of the first and the last `seconds`, in dB re the clip's peak."""
    n, peak = int(seconds * SR), np.abs(audio).max()
    return tuple(20 * np.log10(np.abs(part).max() / peak + 1e-12) for part in (audio[:n], audio[-n:]))


def test_clips_start_at_the_sound_and_end_with_it(corpus):
    """An annotation spans the whole clip, so the clip must not open or close on silence
    (leading pauses once shifted clock and footstep onsets past the 0.2 s collar), and a
    fly-over must be audible at its edges, not 30 dB down where no listener can place it."""
    root, table = corpus
    for row in table.itertuples(index=False):
        audio, _ = sf.read(root / "audio" / f"{row.clip_id}.wav")
        start_db, end_db = _edge_levels_db(audio)
        assert start_db > -30, (row.clip_id, start_db)
        if row.duration > MIN_DURATION_S + 0.01:     # only the shortest clips are padded
            assert end_db > -42, (row.clip_id, end_db)
        if row.category == "aircraft":
            assert min(start_db, end_db) > -15, (row.clip_id, start_db, end_db)


def test_categories_and_splits(corpus):
    _, table = corpus
    assert tuple(table["category"].unique()) == CATEGORIES
    assert (table.groupby("category").size() == 12).all()
    assert (table.groupby("clip_id")["split"].nunique() == 1).all()
    per_split = table.groupby(["category", "split"]).size().unstack(fill_value=0)
    assert list(per_split.columns.sort_values()) == sorted(SPLITS)
    assert (per_split[["train", "val", "test"]].to_numpy() == [8, 2, 2]).all()


@pytest.mark.parametrize("n", range(1, 25))
def test_split_counts(n):
    counts = split_counts(n)
    assert sum(counts) == n and min(counts) >= 0
    if n >= 3:
        assert min(counts) >= 1
    assert split_counts(12) == (8, 2, 2)


def test_deterministic_and_independent_streams(corpus, tmp_path):
    root, _ = corpus
    kwargs = dict(sample_rate=SR, clips_per_category=3, seed=0, categories=("dog", "siren"))
    synthesize_corpus(tmp_path / "a", **kwargs)
    synthesize_corpus(tmp_path / "b", **kwargs)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    # A clip depends only on (seed, category, variant): same audio as in the full corpus.
    for name in ("audio/dog_000.wav", "audio/siren_002.wav"):
        assert first[name] == (root / name).read_bytes()
    synthesize_corpus(tmp_path / "c", **{**kwargs, "seed": 1})
    assert _files(tmp_path / "c")["audio/dog_000.wav"] != first["audio/dog_000.wav"]


def test_descriptions(corpus):
    _, table = corpus
    descriptions = table["description"]
    assert descriptions.str.strip().str.len().gt(10).all()
    assert not descriptions.str.contains(r"[\t\n\"]").any()
    assert descriptions.nunique() >= 0.85 * len(table)
    assert (table.groupby("category")["description"].nunique() >= 8).all()


def _features(audio: np.ndarray) -> np.ndarray:
    """Mean, spread and frame-to-frame change of the log-mel spectrogram."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SR, n_mels=40)
    db = librosa.power_to_db(mel, ref=np.max, top_db=80)
    return np.concatenate([db.mean(axis=1), db.std(axis=1), np.abs(np.diff(db, axis=1)).mean(axis=1)])


def test_categories_are_spectrally_distinct(corpus):
    """A nearest-centroid classifier on spectral summaries separates held-out clips."""
    root, table = corpus
    features = np.stack([_features(sf.read(root / "audio" / f"{c}.wav")[0]) for c in table["clip_id"]])
    train = table["split"].eq("train").to_numpy()
    mean, std = features[train].mean(axis=0), features[train].std(axis=0) + 1e-6
    features = (features - mean) / std
    labels = table["category"].to_numpy()
    centroids = np.stack([features[train & (labels == c)].mean(axis=0) for c in CATEGORIES])
    distances = ((features[~train, None, :] - centroids[None]) ** 2).sum(axis=-1)
    predicted = np.array(CATEGORIES)[distances.argmin(axis=1)]
    accuracy = (predicted == labels[~train]).mean()
    assert accuracy >= 0.9, list(zip(labels[~train], predicted))


@pytest.mark.parametrize("sample_rate", [8000, 44100])
def test_other_sample_rates(sample_rate):
    for index, category in enumerate(CATEGORIES):
        audio, description = synthesize_clip(category, np.random.default_rng(index), sample_rate)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert np.isfinite(audio).all() and np.isclose(np.abs(audio).max(), 0.9, atol=1e-3)
        assert 0.3 <= len(audio) / sample_rate <= 8.0 and description


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        synthesize_corpus(tmp_path, categories=("bell", "kazoo"))
    with pytest.raises(ValueError, match="duplicate"):
        synthesize_corpus(tmp_path, categories=("bell", "bell"))
    with pytest.raises(ValueError, match="split_fractions"):
        synthesize_corpus(tmp_path, split_fractions=(1.0, -0.5, 0.5))
    with pytest.raises(ValueError, match="sample_rate"):
        synthesize_clip("bell", np.random.default_rng(0), 4000)
    assert not (tmp_path / "clips.tsv").exists()
