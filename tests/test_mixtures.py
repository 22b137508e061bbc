"""Mixture generation: SNRs as drawn, annotations where the audio is, determinism."""
import hashlib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arseg.data.mixtures import MixtureConfig, NoiseBank, colored_noise, draw_events, generate_split, render, rms_db
from arseg.io.audio import write_wav

RATE = 8000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three categories of short synthetic clips, written in the corpus contract."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    rows = []
    for c, category in enumerate(["tone", "noise", "clicks"]):
        for v in range(3):
            seconds = 0.5 + v
            t = np.arange(int(seconds * RATE)) / RATE
            if category == "tone":
                audio = np.sin(2 * np.pi * (300 + 50 * v) * t)
            elif category == "noise":
                audio = rng.standard_normal(len(t))
            else:
                audio = (np.sin(2 * np.pi * 3 * t) > 0.9) * rng.standard_normal(len(t))
            clip_id = f"{category}_{v}"
            write_wav(root / "audio" / f"{clip_id}.wav", 0.5 * audio / np.abs(audio).max(), RATE)
            rows.append([clip_id, category, f"a {category} sound", seconds, ["train", "val", "test"][v]])
    clips = pd.DataFrame(rows, columns=["clip_id", "category", "description", "duration", "split"])
    return root, clips


def loader(root):
    return lambda clip_id: sf.read(root / "audio" / f"{clip_id}.wav")[0]


@pytest.mark.parametrize("bank", [False, True], ids=["fresh background", "noise bank"])
def test_measured_snr_matches_drawn(corpus, bank):
    root, clips = corpus
    cfg = MixtureConfig(duration=4.0, sample_rate=RATE, max_events=3, snr_db=(-5.0, 25.0))
    noise = NoiseBank(7, 0, cfg, seconds=6.0) if bank else None
    for i in range(20):
        rng = np.random.default_rng([7, i])
        events = draw_events(rng, clips, cfg)
        mixture, background, stems, spans = render(events, loader(root), rng, cfg, noise)
        assert np.allclose(mixture, background + sum(stems))
        for event, stem, (first, last) in zip(events, stems, spans):
            measured = rms_db(stem[first:last]) - rms_db(background[first:last])
            assert abs(measured - event.snr_db) < 0.1
            # The stem sounds only inside its annotated span.
            assert not stem[:first].any() and not stem[last:].any()


def test_events_come_from_distinct_categories(corpus):
    _, clips = corpus
    cfg = MixtureConfig(duration=4.0, sample_rate=RATE, min_events=3, max_events=3)
    for i in range(10):
        events = draw_events(np.random.default_rng(i), clips, cfg)
        assert len({e.category for e in events}) == 3


def test_generated_split_annotations_match_audio(corpus, tmp_path):
    root, clips = corpus
    clips = clips.assign(split="train")
    cfg = MixtureConfig(duration=4.0, sample_rate=RATE, max_events=1, snr_db=(30.0, 30.0), background_db=-60.0)
    events = generate_split(clips, root / "audio", tmp_path, "train", 6, cfg, seed=3)
    assert list(events.columns) == ["filename", "onset", "offset", "event_label", "clip_id", "description", "snr_db"]
    for row in events.itertuples():
        audio, rate = sf.read(tmp_path / "audio" / row.filename)
        assert rate == RATE and len(audio) == 4 * RATE
        inside = audio[int(row.onset * RATE):int(row.offset * RATE)]
        outside = np.concatenate([audio[:int(row.onset * RATE)], audio[int(row.offset * RATE):]])
        # At 30 dB SNR nearly all the energy lies inside the annotated span.
        assert np.sum(inside**2) > 20 * np.sum(outside**2)
        assert 0.0 <= row.onset < row.offset <= 4.0


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(corpus, tmp_path):
    root, clips = corpus
    cfg = MixtureConfig(duration=3.0, sample_rate=RATE)
    generate_split(clips, root / "audio", tmp_path / "a", "test", 5, cfg, seed=1)
    generate_split(clips, root / "audio", tmp_path / "b", "test", 5, cfg, seed=1)
    generate_split(clips, root / "audio", tmp_path / "c", "test", 5, cfg, seed=2)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_mixtures_do_not_depend_on_how_many_are_made(corpus, tmp_path):
    root, clips = corpus
    cfg = MixtureConfig(duration=3.0, sample_rate=RATE)
    few = generate_split(clips, root / "audio", tmp_path / "few", "test", 3, cfg, seed=1)
    many = generate_split(clips, root / "audio", tmp_path / "many", "test", 6, cfg, seed=1)
    pd.testing.assert_frame_equal(few.reset_index(drop=True),
                                  many[many["filename"].isin(few["filename"])].reset_index(drop=True))
    for name in few["filename"].unique():
        assert (tmp_path / "few" / "audio" / name).read_bytes() == (tmp_path / "many" / "audio" / name).read_bytes()


class FixedDraws:
    """Stands in for a numpy Generator: integers() returns the given values in turn."""

    def __init__(self, *values):
        self.values = list(values)

    def integers(self, high):
        value = self.values.pop(0)
        assert 0 <= value < high
        return value


def test_noise_bank_is_seeded_and_wraps_around_its_buffers():
    cfg = MixtureConfig(duration=1.0, sample_rate=RATE)
    bank = NoiseBank(3, 1, cfg, colours=4, seconds=2.0)
    assert [len(b) for b in bank.buffers] == [2 * RATE] * 4
    assert all(np.array_equal(a, b) for a, b in zip(bank.buffers, NoiseBank(3, 1, cfg, colours=4, seconds=2.0).buffers))
    assert not np.array_equal(bank.buffers[0], NoiseBank(3, 2, cfg, colours=4, seconds=2.0).buffers[0])
    buffer = bank.buffers[2]
    np.testing.assert_array_equal(bank.draw(FixedDraws(2, 100), RATE), buffer[100:100 + RATE])
    wrapped = bank.draw(FixedDraws(2, 2 * RATE - 10), RATE)
    np.testing.assert_array_equal(wrapped, np.concatenate([buffer[-10:], buffer[:RATE - 10]]))
    wrapped *= 0  # a draw is a copy: the bank stays intact
    assert buffer.any()
    # Colours run from white to brown: the brown buffer's power sits in the lowest bins.
    low = [np.abs(np.fft.rfft(b)[:len(b) // 100]).sum() / np.abs(np.fft.rfft(b)).sum() for b in bank.buffers]
    assert low == sorted(low)


def test_colored_noise_has_unit_rms():
    for exponent in (0.0, 1.0, 2.0):
        noise = colored_noise(np.random.default_rng(0), 16000, exponent)
        assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0)


def test_back_to_back_layout_fills_the_mixture_without_overlap(corpus, tmp_path):
    from arseg.data.mixtures import ClipPools, draw_back_to_back

    root, clips = corpus
    clips = clips.assign(split="train")
    cfg = MixtureConfig(duration=6.0, sample_rate=RATE, layout="back_to_back")
    events = draw_back_to_back(np.random.default_rng(0), ClipPools(clips), cfg)
    lengths = {c: int(round(d * RATE)) for c, d in zip(clips["clip_id"], clips["duration"])}
    starts = [e.start_sample for e in events]
    assert starts[0] == 0 and starts[-1] < 6 * RATE <= starts[-1] + lengths[events[-1].clip_id]
    assert starts[1:] == [s + lengths[e.clip_id] for s, e in zip(starts, events)][:-1]  # end to end
    table = generate_split(clips, root / "audio", tmp_path, "train", 4, cfg, seed=0)
    for _, group in table.groupby("filename"):  # audible spans never overlap
        assert (group["onset"].to_numpy()[1:] >= group["offset"].to_numpy()[:-1] - 1e-9).all()


def test_select_categories_rejects_unknown_names(corpus):
    from arseg.data.corpus.table import select_categories

    _, clips = corpus
    assert set(select_categories(clips, ["tone"])["category"]) == {"tone"}
    assert len(select_categories(clips, [])) == len(clips)
    with pytest.raises(ValueError, match="corpus.categories.*'bell'"):
        select_categories(clips, ["tone", "bell"])


def test_annotation_starts_where_a_fade_in_becomes_audible():
    from arseg.data.mixtures import audible_regions

    rate = 8000
    t = np.arange(4 * rate) / rate
    background = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    # Silent for 1 s, then a 40 dB fade-in over 2 s, then steady for 1 s.
    envelope = np.clip((t - 1.0) / 2.0, 0, 1) ** 2 * (t >= 1.0)
    event = 0.05 * envelope * np.sin(2 * np.pi * 500 * t)
    [(first, last)] = audible_regions(event, background, 100, rate)
    onset = (first - 100) / rate
    # Audible where 0.05^2 * e^2 / 2 = 0.01^2 * 10^(-6/10) with e = ((t - 1) / 2)^2: t = 1.75 s.
    assert 1.65 < onset < 1.85
    assert abs((last - 100) / rate - 4.0) < 0.02


def test_annotations_lie_inside_the_clip_span(corpus, tmp_path):
    root, clips = corpus
    cfg = MixtureConfig(duration=4.0, sample_rate=RATE, max_events=3, snr_db=(0.0, 20.0))
    events = generate_split(clips, root / "audio", tmp_path, "train", 10, cfg, seed=5)
    assert (events["offset"] > events["onset"]).all()
    assert (events["onset"] >= 0).all() and (events["offset"] <= 4.0).all()


@pytest.mark.parametrize("category", ["clocks", "footsteps", "dog"])
def test_a_rhythmic_sound_is_one_event_whatever_its_pace(category):
    # Ticks, steps and barks come at most 0.6-0.67 s apart: every clip, slow or fast, is one
    # event, not one per tick (at a 0.5 s gap, clocks slower than 0.53 s per tick split).
    from arseg.data.corpus.synthetic import _clip_rng, synthesize_clip
    from arseg.data.mixtures import audible_regions

    rate = 16000
    for variant in range(40):
        audio, description = synthesize_clip(category, _clip_rng(0, category, variant), rate)
        background = 1e-4 * np.random.default_rng(variant).standard_normal(len(audio))
        regions = audible_regions(audio, background, 0, rate)
        assert len(regions) == 1, f"{category} variant {variant} ({description}): {len(regions)} events"


def test_telephone_rings_stay_separate_events():
    from arseg.data.corpus.synthetic import _clip_rng, synthesize_clip
    from arseg.data.mixtures import audible_regions

    rate = 16000
    counts = []
    for variant in range(20):
        audio, description = synthesize_clip("telephone", _clip_rng(0, "telephone", variant), rate)
        background = 1e-4 * np.random.default_rng(variant).standard_normal(len(audio))
        counts.append((len(audible_regions(audio, background, 0, rate)), description))
    assert max(n for n, _ in counts) >= 3, counts
    assert all(n == 1 for n, d in counts if "once" in d or " one " in d), counts


def test_long_silences_split_an_event_short_ones_do_not():
    from arseg.data.mixtures import audible_regions

    rate = 8000
    background = 0.01 * np.random.default_rng(1).standard_normal(5 * rate)
    event = np.zeros(5 * rate)
    for start, stop in [(0.5, 1.0), (1.2, 1.6), (3.0, 4.0)]:  # gaps of 0.2 s and 1.4 s
        event[int(start * rate):int(stop * rate)] = 0.2 * np.sin(np.arange(int((stop - start) * rate)))
    regions = [(a / rate, b / rate) for a, b in audible_regions(event, background, 0, rate)]
    assert len(regions) == 2
    assert abs(regions[0][0] - 0.5) < 0.05 and abs(regions[0][1] - 1.6) < 0.05
    assert abs(regions[1][0] - 3.0) < 0.05 and abs(regions[1][1] - 4.0) < 0.05


def test_a_later_set_continues_the_split_stream(corpus, tmp_path):
    """Mixtures from `first` on are those a longer run of the split makes there (the refit
    mixtures continue the validation mixtures' stream with new mixtures)."""
    root, clips = corpus
    cfg = MixtureConfig(duration=3.0, sample_rate=RATE)
    whole = generate_split(clips, root / "audio", tmp_path / "whole", "test", 5, cfg, seed=1)
    later = generate_split(clips, root / "audio", tmp_path / "later", "test", 3, cfg, seed=1, first=2)
    assert sorted(later["filename"].unique()) == ["test_00002.wav", "test_00003.wav", "test_00004.wav"]
    pd.testing.assert_frame_equal(later.reset_index(drop=True),
                                  whole[whole["filename"].isin(later["filename"])].reset_index(drop=True))
    for name in later["filename"].unique():
        assert (tmp_path / "later" / "audio" / name).read_bytes() == (tmp_path / "whole" / "audio" / name).read_bytes()
