"""Clip augmentation for training mixtures: each step does what it says, nothing is changed in
place, and an augmented split draws the same events as a plain one."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arseg.data.augment import AugmentConfig, augment_clip, equalise, reverberate
from arseg.data.mixtures import MixtureConfig, generate_split
from arseg.io.audio import write_wav

RATE = 16000


def tone(hz: float, seconds: float = 1.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[spectrum.argmax()])


def test_pitch_plays_the_clip_faster_or_slower():
    clip = tone(1000.0)
    rng = np.random.default_rng(3)
    factor = 2.0 ** (rng.uniform(-1, 1) * 4 / 12)  # the first draw, scaled to +-4 semitones
    out = augment_clip(clip, np.random.default_rng(3), AugmentConfig(pitch_semitones=4), RATE)
    assert abs(factor - 1) > 0.05
    assert len(out) == pytest.approx(len(clip) / factor, abs=2)
    assert peak_hz(out) == pytest.approx(1000 * factor, rel=0.01)


def test_a_flat_equaliser_is_a_gain():
    clip = tone(440.0)
    np.testing.assert_allclose(equalise(clip, np.full(6, 6.0), RATE), clip * 10 ** (6 / 20), atol=1e-5)


def test_the_equaliser_follows_its_curve():
    """Gains rising with frequency: a high tone comes out louder than a low one."""
    gains = np.linspace(-12.0, 12.0, 6)
    low, high = equalise(tone(100.0), gains, RATE), equalise(tone(6000.0), gains, RATE)
    assert np.std(high) / np.std(low) > 10 ** (12 / 20)


def test_reverb_adds_a_tail_at_the_asked_level():
    clip = np.zeros(RATE, np.float32)
    clip[:400] = np.random.default_rng(0).standard_normal(400)
    out = reverberate(clip, np.random.default_rng(1), RATE, seconds=0.5, direct_db=6.0)
    assert len(out) == len(clip) + RATE // 2 - 1
    tail = out.astype(np.float64).copy()
    tail[:len(clip)] -= clip
    assert 10 * np.log10(np.mean(tail ** 2) / np.mean(clip.astype(np.float64) ** 2)) == pytest.approx(-6.0, abs=0.01)
    assert np.abs(out[RATE:]).max() > 0  # the room rings on after the clip


def test_the_input_is_left_alone_and_draws_are_seeded():
    clip = tone(300.0)
    kept = clip.copy()
    cfg = AugmentConfig(pitch_semitones=2, eq_db=6, reverb_probability=1.0)
    a, b = (augment_clip(clip, np.random.default_rng(5), cfg, RATE) for _ in range(2))
    np.testing.assert_array_equal(clip, kept)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    assert not np.array_equal(a, augment_clip(clip, np.random.default_rng(6), cfg, RATE))
    plain = augment_clip(clip, np.random.default_rng(5), AugmentConfig(), RATE)
    assert plain is not clip
    np.testing.assert_array_equal(plain, clip)


def test_an_augmented_split_draws_the_same_events(tmp_path):
    """The augmentation has its own generator: the clips, places and SNRs stay those of the
    plain split; only the audio (and so where each event is audible) differs."""
    rows = []
    for category, hz in (("low", 200.0), ("mid", 900.0), ("high", 3000.0)):
        for v in range(2):
            write_wav(tmp_path / "audio" / f"{category}_{v}.wav", tone(hz * (1 + 0.1 * v), 1.0), RATE)
            rows.append([f"{category}_{v}", category, f"a {category} tone", 1.0, "train"])
    clips = pd.DataFrame(rows, columns=["clip_id", "category", "description", "duration", "split"])
    cfg = MixtureConfig(duration=3.0, sample_rate=RATE)
    plain = generate_split(clips, tmp_path / "audio", tmp_path / "plain", "train", 4, cfg, seed=0)
    augmented = generate_split(clips, tmp_path / "audio", tmp_path / "aug", "train", 4, cfg, seed=0,
                               augment=AugmentConfig(pitch_semitones=3, eq_db=6, reverb_probability=0.5))
    columns = ["filename", "clip_id", "event_label", "snr_db"]
    assert plain[columns].drop_duplicates().values.tolist() == augmented[columns].drop_duplicates().values.tolist()
    for name in plain["filename"].unique():
        assert not np.array_equal(sf.read(tmp_path / "plain" / "audio" / name)[0],
                                  sf.read(tmp_path / "aug" / "audio" / name)[0])
