"""The `arseg` command line: segment (formats, rates, channels, lengths, window stitching,
outputs, errors) and models. Tiny untrained models keep it fast; the window-stitching
tests use a stub whose presence follows the input energy, so the right answer is known."""
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from arseg import MODEL_FORMAT_VERSION
from arseg.cli import main
from arseg.features.logmel import FeatureConfig, feature_config, log_mel
from arseg.infer import segment
from arseg.infer.windows import predict_bins, segments_from_bins, window_plan
from arseg.io import audio as audio_io
from arseg.io.audio import read_mono
from arseg.model.backbone_specs import ENCODER, ENCODER_DIM
from arseg.model.backbones import BACKBONES
from arseg.model.segmenter import (MODEL_FORMAT, ModelConfig, ReferringSegmenter, load_model, prepare_for_inference,
                                   save_model)

RATE = 16000
TINY = dict(width=0.125, window_seconds=4.0, n_bins=12, query_dim=16, n_mels=32)  # 1/3 s bins, windows 2 s apart
BIN = 4.0 / 12
ODD_LABEL = "a b/c;$(rm -rf x)|&'\"*"
QUIET, LOUD = 0.0001, 0.3  # noise levels of background and bursts for the energy stub


@pytest.fixture(autouse=True)
def embedding_cache(tmp_path, monkeypatch):
    """Keep the text-query embedding cache out of the home folder."""
    monkeypatch.setenv("ARSEG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def calibrated(model: ReferringSegmenter) -> ReferringSegmenter:
    """Batch-norm statistics from a few random batches: an untrained model with the default
    statistics (mean 0, variance 1) shrinks its activations layer by layer to ~1e-12 and
    answers the same whatever it hears, which would make the comparisons below vacuous."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    cfg = model.cfg
    query = torch.zeros(4, dtype=torch.int64) if cfg.query_encoder == "label" else torch.randn(4, cfg.text_dim)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, cfg.window_frames, cfg.n_mels), query)
    return model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    paths = {"label": root / "label.pt", "text": root / "text.pt"}
    save_model(calibrated(ReferringSegmenter(ModelConfig(
        query_encoder="label", labels=["dog", "bell", "burst", ODD_LABEL], min_duration=0.0, **TINY))), paths["label"])
    save_model(calibrated(ReferringSegmenter(ModelConfig(query_encoder="text", **TINY))), paths["text"])
    return paths


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def noise(seconds, rate=RATE, channels=1, level=0.1, seed=0):
    shape = (int(round(seconds * rate)), channels)
    return (np.random.default_rng(seed).standard_normal(shape) * level).astype(np.float32)


def write(path, audio, rate):
    sf.write(str(path), audio, rate)
    return path


# ---------------------------------------------------------------- formats, rates, channels


@pytest.mark.parametrize("ext, rate, channels", [
    ("wav", 8000, 1), ("wav", 48000, 6), ("flac", 22050, 2), ("flac", 44100, 6),
    ("ogg", 44100, 6), ("ogg", 8000, 1), ("mp3", 48000, 2), ("mp3", 22050, 1),
])
def test_formats_rates_and_channels(models, tmp_path, capsys, ext, rate, channels):
    if ext.upper() not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} cannot write {ext}")
    audio = write(tmp_path / f"in.{ext}", noise(3.0, rate, channels), rate)
    code, out, err = run(capsys, "segment", audio, "--model", models["label"], "--label", "dog",
                         "--out", tmp_path / "out", "--json")
    assert code == 0, err
    report = json.loads(out)
    [entry] = report["files"]
    assert entry["sample_rate"] == rate and entry["channels"] == channels
    assert entry["duration"] == pytest.approx(3.0, abs=0.06)  # MP3 frames round the length
    table = (tmp_path / "out" / "in.dog.tsv").read_text().splitlines()
    assert table[0] == "onset\toffset\tscore"
    assert len(table) - 1 == len(entry["results"][0]["segments"])


def test_resampling_and_downmix_match_librosa(tmp_path):
    import librosa

    rate = 44100
    t = np.arange(int(2.0 * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    six = np.zeros((len(t), 6), np.float32)
    six[:, 2] = tone  # one loud channel of six: the mono mix is a sixth of it
    audio, meta = read_mono(write(tmp_path / "six.wav", six, rate), RATE)
    expected = librosa.resample(six.mean(axis=1), orig_sr=rate, target_sr=RATE)
    assert (meta.sample_rate, meta.channels, meta.frames) == (rate, 6, len(t))
    assert len(audio) == len(expected)
    assert np.abs(audio - expected).max() < 1e-3  # PCM_16 of the file, and soxr streamed vs at once
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * RATE / len(audio) == pytest.approx(1000, abs=1)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_inference_copy_of_every_backbone_computes_the_same(backbone):
    torch.manual_seed(0)
    inputs = {**TINY, "n_mels": ENCODER_DIM[ENCODER[backbone]]} if backbone in ENCODER else TINY
    model = calibrated(ReferringSegmenter(ModelConfig(backbone=backbone, query_encoder="label", labels=["a", "b"],
                                                      **inputs)))
    windows = torch.randn(3, model.cfg.window_frames, model.cfg.n_mels)
    query = torch.tensor([0, 1, 0])
    with torch.no_grad():
        expected = model(windows, query)  # logits: untrained, some backbones saturate the sigmoid
        fast = prepare_for_inference(model)(windows, query)
    assert expected[..., 0].std() > 1e-3
    assert torch.allclose(expected, fast, rtol=1e-4, atol=1e-4)


def test_inference_copy_computes_the_same(models):
    model, _ = load_model(models["label"])
    features = log_mel(noise(9.0)[:, 0], feature_config(model.cfg))
    query = torch.tensor([0, 2])
    expected = predict_bins(model, features, query)
    assert expected[..., 0].std() > 1e-3  # the answer depends on the input (see calibrated)
    fast = predict_bins(prepare_for_inference(model), features, query, batch_windows=5)
    assert np.abs(expected - fast).max() < 1e-4


# ---------------------------------------------------------------- windows and lengths


@pytest.fixture
def energy_model(monkeypatch):
    """Presence follows the energy of the log-mel (above the midpoint between QUIET and
    LOUD noise), start 0 and end 1 in every bin, and the model is blind in the two bins at
    each edge of its window, as real models are weakest there. Correct stitching takes
    every bin from the window where it lies nearest the centre, so the blind bins never
    reach the output except at the very start of the file."""
    cfg = FeatureConfig(n_mels=TINY["n_mels"])
    quiet = log_mel(noise(1.0, level=QUIET)[:, 0], cfg).mean()
    loud = log_mel(noise(1.0, level=LOUD)[:, 0], cfg).mean()
    middle = float(quiet + loud) / 2

    def encode_audio(self, features):
        return features.mean(dim=2, keepdim=True).transpose(1, 2)  # (B, 1, frames)

    def forward_queries(self, audio, mixture_index, query):
        energy = F.adaptive_avg_pool1d(audio[mixture_index], self.cfg.n_bins)[:, 0]  # (Q, n_bins)
        presence = (energy - middle) / 3.0
        presence[:, :2] = presence[:, -2:] = -20.0
        return torch.stack([presence, torch.full_like(presence, -20.0), torch.full_like(presence, 20.0)], dim=-1)

    monkeypatch.setattr(ReferringSegmenter, "encode_audio", encode_audio)
    monkeypatch.setattr(ReferringSegmenter, "forward_queries", forward_queries)


def with_bursts(seconds, bursts, rate=RATE, channels=1):
    """Quiet noise with loud noise bursts (the same in every channel, so the mono mix keeps
    their level). Bursts are placed so that no bin is near half covered: a bin is present
    when a burst covers more than about half of it."""
    audio = noise(seconds, rate, 1, level=QUIET, seed=1)
    for onset, offset in bursts:
        span = slice(int(onset * rate), int(offset * rate))
        audio[span] = noise(offset - onset + 0.01, rate, 1, level=LOUD, seed=2)[:len(audio[span])]
    return np.repeat(audio, channels, axis=1)


@pytest.mark.parametrize("seconds, bursts", [
    (1.5, [(0.75, 1.3)]),                      # shorter than one window
    (4.0, [(1.4, 2.6)]),                       # exactly one window
    (11.3, [(3.1, 5.3), (8.0, 8.6)]),          # several; the first crosses two window edges
    (630.0, [(17.0, 18.0), (601.25, 603.9), (627.0, 628.6)]),  # over 10 minutes, one in the last window
])
def test_lengths_and_stitching_find_the_bursts(models, energy_model, tmp_path, capsys, seconds, bursts):
    path = write(tmp_path / "bursts.flac", with_bursts(seconds, bursts, rate=22050, channels=2), 22050)
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "--label", "burst",
                         "--out", tmp_path, "--json", "--merge-gap", "0")
    assert code == 0, err
    [entry] = json.loads(out)["files"]
    assert entry["duration"] == pytest.approx(seconds, abs=1e-3)
    found = [(s["onset"], s["offset"]) for s in entry["results"][0]["segments"]]
    # One segment per burst (never split at a window edge), each edge within about half a bin.
    assert len(found) == len(bursts), found
    for (onset, offset), (est_on, est_off) in zip(bursts, found):
        assert est_on == pytest.approx(onset, abs=0.6 * BIN)
        assert est_off == pytest.approx(offset, abs=0.6 * BIN)


def test_event_across_window_edges_is_one_segment_and_every_bin_is_central(models, energy_model):
    model, _ = load_model(models["label"])
    audio = with_bursts(12.0, [(1.7, 6.3)])[:, 0]  # window edges at 2, 4 and 6 s
    features = log_mel(audio, feature_config(model.cfg))
    bins = predict_bins(model, features, torch.tensor([2]))[0]
    assert bins.shape == (36, 3)
    present = np.flatnonzero(bins[:, 0] > 0.5)
    assert present.tolist() == list(range(5, 19))  # 1.67 .. 6.33 s: no hole at any window edge
    decoded = segments_from_bins(bins, model, 12.0)
    assert len(decoded) == 1
    # The stitching takes bin b of the output from the window where b is nearest the centre.
    starts, hop_bins, total = window_plan(len(features), model)
    assert (hop_bins, total, len(starts)) == (6, 36, 5)
    assert starts == [0, 200, 400, 600, 800]


def test_long_audio_through_a_real_model(models, tmp_path, capsys):
    """Over ten minutes of 8 kHz audio through the tiny real model: windows, stitching, no error."""
    path = write(tmp_path / "long.wav", noise(605.0, 8000, level=0.05), 8000)
    threads = torch.get_num_threads()
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "-l", "dog", "-l", "bell",
                         "--out", tmp_path, "--json", "--plot", "--quiet", "--threads", "1")
    assert torch.get_num_threads() == threads  # restored
    assert code == 0, err
    [entry] = json.loads(out)["files"]
    assert entry["duration"] == pytest.approx(605.0)
    assert [r["query"] for r in entry["results"]] == ["dog", "bell"]
    for r in entry["results"]:
        for s in r["segments"]:
            assert 0 <= s["onset"] < s["offset"] <= 605.0
    assert err == ""  # --quiet


# ---------------------------------------------------------------- outputs


def test_extract_plot_and_json(models, energy_model, tmp_path, capsys):
    rate, bursts = 44100, [(1.0, 2.0), (5.4, 6.6), (8.4, 9.3)]
    path = write(tmp_path / "street.wav", with_bursts(10.0, bursts, rate=rate, channels=2), rate)
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "--label", "burst",
                         "--out", tmp_path / "segs", "--extract", tmp_path / "cuts", "--pad", "1.0", "--plot",
                         "--json")
    assert code == 0, err
    report = json.loads(out)  # stdout is exactly the JSON; notes went to stderr
    assert report["threshold"] == 0.5 and report["min_duration"] == 0.0 and report["gate"] == 0.0
    assert "model" in err and "1 of 1 file(s) segmented" in err
    [result] = report["files"][0]["results"]
    segments = result["segments"]
    assert len(segments) == 3
    cuts = [Path(p) for p in result["extracted"]]
    assert [p.parent for p in cuts] == [tmp_path / "cuts" / "street.burst"] * 3
    for cut, seg in zip(cuts, segments):
        audio, cut_rate = sf.read(cut, always_2d=True)
        assert (cut_rate, audio.shape[1]) == (rate, 2)  # the original's rate and channels
        expected = min(10.0, seg["offset"] + 1.0) - max(0.0, seg["onset"] - 1.0)  # the first starts at 0
        assert len(audio) / rate == pytest.approx(expected, abs=2e-3)  # JSON times have 3 decimals
    png = Path(result["plot"])
    assert png == tmp_path / "segs" / "street.burst.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert Path(result["tsv"]).read_text().count("\n") == 4

    # A second run with fewer segments leaves no stale cuts behind.
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "--label", "burst",
                         "--out", tmp_path / "segs", "--extract", tmp_path / "cuts", "--threshold", "0.9",
                         "--min-duration", "1.2")
    assert code == 0, err
    assert len(list((tmp_path / "cuts" / "street.burst").glob("*.wav"))) == 1  # 5.33-6.67 s only
    assert "street.wav  'burst': 1 segment -> " in out

    # A gate above every presence score keeps nothing; --gate is checked like --threshold.
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "--label", "burst",
                         "--out", tmp_path / "segs", "--gate", "1.0", "--json")
    assert code == 0, err
    assert json.loads(out)["files"][0]["results"][0]["segments"] == []
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "--label", "burst", "--gate", "1.5")
    assert code == 2 and "--gate" in err


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_cut_spans_equal_the_decoded_file(tmp_path, ext, monkeypatch):
    """Written block by block (blocks of 0.3 s here), a cut-out holds the decoded file's
    samples of its span, clipped, in 16-bit: the bytes write_wav makes of the whole span."""
    if ext.upper() not in sf.available_formats():
        pytest.skip(f"libsndfile cannot write {ext}")
    monkeypatch.setattr(audio_io, "BLOCK_SECONDS", 0.3)
    path = write(tmp_path / f"x.{ext}", noise(4.0, 22050, 2, level=0.6), 22050)  # some samples past 1
    whole, rate = sf.read(path, dtype="float32", always_2d=True)
    for start, stop in [(0.0, 0.5), (1.0, 2.5), (3.9, 5.0)]:
        assert audio_io.write_span(path, start, stop, tmp_path / "cut.wav")
        span, span_rate = sf.read(tmp_path / "cut.wav", dtype="float32", always_2d=True)
        first = int(round(start * rate))
        assert span_rate == rate and span.shape[1] == 2
        assert len(span) == min(len(whole), int(round(stop * rate))) - first
        expected = np.clip(whole[first:first + len(span)], -1.0, 1.0)
        assert np.abs(span - expected).max() < 1e-4 + 1 / 32768
        if ext == "wav":  # exactly what the whole span through write_wav would be
            audio_io.write_wav(tmp_path / "whole.wav", expected, rate)
            assert (tmp_path / "cut.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()
    assert not audio_io.write_span(tmp_path / "missing.wav", 0.0, 1.0, tmp_path / "cut.wav")


def test_output_names_are_safe(models, tmp_path, capsys):
    path = write(tmp_path / "my file;.wav", noise(2.0), RATE)
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "--label", ODD_LABEL,
                         "--label", "dog", "--out", tmp_path / "out", "--json")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 2
    for name in names:
        assert all(c.isalnum() or c in "._-" for c in name), name
    assert "my_file-" in names[0]
    assert [r["query"] for r in json.loads(out)["files"][0]["results"]] == [ODD_LABEL, "dog"]
    # Distinct texts that clean up alike keep distinct names.
    assert segment.safe_name("a/b") != segment.safe_name("a b") != segment.safe_name("a_b") == "a_b"
    assert not segment.safe_name("../..").startswith(".")
    assert segment.safe_name("") and segment.safe_name("ü")


def test_same_stem_in_two_folders_gets_two_names(models, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write(tmp_path / "a" / "x.wav", noise(2.0), RATE)
    two = write(tmp_path / "b" / "x.flac", noise(2.0, seed=3), RATE)
    (tmp_path / "c").mkdir()
    three = write(tmp_path / "c" / "X.wav", noise(2.0, seed=4), RATE)  # one name on a case-blind file system
    again = tmp_path / "a" / "." / "x.wav"  # the first file, written otherwise: segmented once
    code, out, err = run(capsys, "segment", one, two, again, three, "--model", models["label"], "-l", "dog",
                         "-o", tmp_path / "o", "--json")
    assert code == 0, err
    files = json.loads(out)["files"]
    assert [f["file"] for f in files] == [str(one), str(two), str(three)]
    tsvs = [r["tsv"] for f in files for r in f["results"]]
    assert len({t.lower() for t in tsvs}) == 3
    link = tmp_path / "link.wav"
    link.symlink_to(one)
    code, out, err = run(capsys, "segment", one, link, "--model", models["label"], "-l", "dog", "-o", tmp_path / "o")
    assert code == 0 and f"{link}: the same file as {one}; segmented once" in err, err


def test_a_file_and_a_query_never_take_another_pairs_names(models, tmp_path, capsys):
    """<file stem>.<query name>: x.y.ogg asked "z" and x.wav asked "y.z" would both write x.y.z.tsv."""
    one = write(tmp_path / "x.y.ogg", noise(2.0), RATE)
    two = write(tmp_path / "x.wav", noise(2.0, seed=1), RATE)
    code, out, err = run(capsys, "segment", one, two, "--model", models["text"], "-q", "z", "-q", "y.z",
                         "-o", tmp_path / "o", "--json")
    assert code == 0, err
    tsvs = [r["tsv"] for f in json.loads(out)["files"] for r in f["results"]]
    assert len(set(tsvs)) == 4 and sorted(tsvs) == sorted(str(p) for p in (tmp_path / "o").iterdir())
    assert segment.file_keys([Path("a.wav"), Path("b.wav")], ["z", "y.z"]) == {Path("a.wav"): "a", Path("b.wav"): "b"}


def test_an_output_folder_that_cannot_be_written_stops_before_any_audio_is_read(models, tmp_path, capsys,
                                                                                monkeypatch):
    import tempfile

    def refused(dir=None, **_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)  # as an immutable folder answers, even to root
    path = write(tmp_path / "x.wav", noise(2.0), RATE)
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "-l", "dog", "-o", tmp_path / "o")
    assert code == 2 and f"--out {tmp_path / 'o'}: cannot write in the folder (Operation not permitted)" in err, err


def test_an_interrupted_extraction_leaves_the_earlier_cuts_and_no_table(models, energy_model, tmp_path, capsys,
                                                                         monkeypatch):
    path = write(tmp_path / "street.wav", with_bursts(10.0, [(1.0, 2.0), (5.4, 6.6), (8.4, 9.3)]), RATE)
    args = ["segment", path, "--model", models["label"], "--label", "burst", "--out", tmp_path / "segs",
            "--extract", tmp_path / "cuts", "--threshold", "0.9", "--min-duration", "1.2"]
    assert run(capsys, *args)[0] == 0
    before = sorted((tmp_path / "cuts" / "street.burst").iterdir())
    assert len(before) == 1 and (tmp_path / "segs" / "street.burst.tsv").is_file()
    written = []

    def write_then_stop(source, start, stop, dest):
        if written:
            raise KeyboardInterrupt
        written.append(dest)
        return real_write(source, start, stop, dest)

    real_write = segment.write_span
    monkeypatch.setattr(segment, "write_span", write_then_stop)
    code, out, err = run(capsys, *args[:-4])  # three segments this time: stopped after the first
    assert code == 130 and "interrupted" in err
    assert sorted((tmp_path / "cuts" / "street.burst").iterdir()) == before
    assert sorted(p.name for p in (tmp_path / "cuts").iterdir()) == ["street.burst"]  # no staging folder left
    assert not (tmp_path / "segs" / "street.burst.tsv").exists()

    # Stopped after the cut-outs, while drawing: the new cut-outs stand, and no table (not the earlier one).
    monkeypatch.undo()
    monkeypatch.setenv("ARSEG_CACHE_DIR", str(tmp_path / "cache"))
    assert run(capsys, *args)[0] == 0

    def stop(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(segment, "plot", stop)
    code, out, err = run(capsys, *args[:-4], "--plot")
    assert code == 130
    assert len(list((tmp_path / "cuts" / "street.burst").iterdir())) == 3
    assert not (tmp_path / "segs" / "street.burst.tsv").exists()


def test_text_query_through_the_real_encoder(models, tmp_path, capsys, monkeypatch, embedding_cache):
    path = write(tmp_path / "bell.ogg", noise(5.0, 44100, 2), 44100)
    code, out, err = run(capsys, "segment", path, "--model", models["text"], "--query", "a bell rings twice",
                         "--label", "footsteps", "--query", "a bell rings twice", "--label", "Bell_Ring",
                         "--query", "bell ring", "--out", tmp_path, "--json", "--threshold", "0.01")
    assert code == 0, err
    assert "loading the text encoder" in err
    results = json.loads(out)["files"][0]["results"]
    # --label Bell_Ring asks what --query "bell ring" asks: once
    assert [(r["query"], r["kind"]) for r in results] == [
        ("a bell rings twice", "text"), ("bell ring", "text"), ("footsteps", "label")]
    assert len(list(tmp_path.glob("bell.a_bell_rings_twice-*.tsv"))) == 1
    [cache] = embedding_cache.glob("query-embeddings-*.npz")

    # Again: the embeddings come from the cache and the encoder is not loaded.
    from arseg.model import text_encoder

    monkeypatch.setattr(text_encoder, "load_encoder", refuse_encoder)
    code, out2, err = run(capsys, "segment", path, "--model", models["text"], "--query", "a bell rings twice",
                          "--query", "bell ring", "--label", "footsteps", "--out", tmp_path, "--json",
                          "--threshold", "0.01")
    assert code == 0, err
    assert "loading the text encoder" not in err
    assert json.loads(out2)["files"][0]["results"] == results
    # A category's name alone is asked as training asked its label queries ("bell ring", from
    # the cache), and its files are named after it.
    code, out3, err = run(capsys, "segment", path, "--model", models["text"], "--label", "Bell_Ring", "--out",
                          tmp_path, "--json", "--threshold", "0.01")
    assert code == 0, err
    [label] = json.loads(out3)["files"][0]["results"]
    assert (label["query"], label["kind"]) == ("Bell_Ring", "label") and label["tsv"].endswith("bell.Bell_Ring.tsv")
    assert label["segments"] == results[1]["segments"] and label["segments"]
    # A new query loads it; --no-cache never reads the cache.
    for argv in (["--query", "a new query"], ["--query", "footsteps", "--no-cache"]):
        code, out, err = run(capsys, "segment", path, "--model", models["text"], *argv, "--out", tmp_path)
        assert code == 2 and "cannot load the text encoder" in err


def refuse_encoder(*args, **kwargs):
    raise AssertionError("the text encoder was loaded")


def test_label_model_never_loads_the_text_encoder(models, tmp_path, capsys, monkeypatch):
    from arseg.model import text_encoder

    monkeypatch.setattr(text_encoder, "load_encoder", refuse_encoder)
    code, out, err = run(capsys, "segment", write(tmp_path / "x.wav", noise(1.0), RATE), "--model", models["label"],
                         "--label", "bell", "--out", tmp_path)
    assert code == 0, err


# ---------------------------------------------------------------- errors


def test_bad_files_in_a_batch_are_named_and_the_good_ones_done(models, tmp_path, capsys):
    good = write(tmp_path / "good.wav", noise(2.0), RATE)
    silent = write(tmp_path / "silent.flac", np.zeros((RATE, 2), np.float32), RATE)
    no_samples = write(tmp_path / "nosamples.wav", np.zeros((0, 1), np.float32), RATE)
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("these are not audio samples\n" * 50)
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    missing = tmp_path / "missing.ogg"
    files = [missing, good, silent, no_samples, tmp_path / "empty.mp3", tmp_path / "notes.wav", folder]
    code, out, err = run(capsys, "segment", *files, "--model", models["label"], "--label", "dog",
                         "--out", tmp_path / "out", "--json")
    assert code == 1
    report = json.loads(out)
    assert [f["file"] for f in report["files"]] == [str(good)]
    assert (tmp_path / "out" / "good.dog.tsv").is_file()
    errors = {e["file"]: e["error"] for e in report["errors"]}
    assert set(errors) == {str(f) for f in files if f != good}
    for f, message in errors.items():
        assert message.startswith(f + ": ")
        assert f"arseg segment: error: {message}" in err
    assert "no such file" in errors[str(missing)]
    assert "silent" in errors[str(silent)]
    assert "0 samples" in errors[str(no_samples)]
    assert "empty file" in errors[str(tmp_path / "empty.mp3")]
    assert "not a readable audio file (NoBackendError: no decoder knows its format)" in errors[str(tmp_path / "notes.wav")]
    assert "folder" in errors[str(folder)]
    assert "Traceback" not in err


def _payload(**changes):
    cfg = ModelConfig(**TINY)
    payload = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "arseg_version": "0.1.0",
               "config": dict(vars(cfg)), "state_dict": ReferringSegmenter(cfg).state_dict(), "extra": {}}
    payload.update(changes)
    return payload


@pytest.mark.parametrize("kind, expected", [
    ("missing", "model file not found"),
    ("folder", "a folder, not a model file"),
    ("garbage", "not an arseg model file"),
    ("foreign", "not an arseg model file"),
    ("another file", "not an arseg model file (not a file torch.save writes); give the model.pt"),
    ("foreign objects", "holds objects other than tensors and plain values"),
    ("newer", f"model format version {MODEL_FORMAT_VERSION + 1}"),
    ("mismatch", "weights do not fit"),
    ("backbone", "not a usable arseg model"),
    ("damaged", "damaged (its part data/"),
    ("edited", "its config holds threshold = None, not a number (an edited model file?)"),
])
def test_unusable_model_files(models, tmp_path, capsys, kind, expected):
    model = tmp_path / "model.pt"
    if kind == "folder":
        model.mkdir()
    elif kind == "garbage":
        model.write_bytes(os.urandom(2000))
    elif kind == "foreign":
        torch.save({"weights": torch.zeros(3)}, model)
    elif kind == "another file":  # provenance.json beside model.pt, a tab-completion away
        model.write_text('{"config": {}}')
    elif kind == "foreign objects":
        torch.save({"when": datetime.date(2026, 1, 1)}, model)
    elif kind == "newer":
        torch.save(_payload(format_version=MODEL_FORMAT_VERSION + 1), model)
    elif kind == "mismatch":
        torch.save(_payload(state_dict=ReferringSegmenter(ModelConfig(**{**TINY, "width": 0.25})).state_dict()), model)
    elif kind == "backbone":
        torch.save(_payload(config={**vars(ModelConfig(**TINY)), "backbone": "no_such_backbone"}), model)
    elif kind == "edited":
        torch.save(_payload(config={**vars(ModelConfig(**TINY)), "threshold": None}), model)
    elif kind == "damaged":  # a weight's bytes changed (a bad disk or copy): torch.load itself checks nothing
        import struct
        import zipfile

        data = bytearray(models["label"].read_bytes())
        with zipfile.ZipFile(models["label"]) as archive:
            member = max(archive.infolist(), key=lambda info: info.file_size)
        name_length, extra_length = struct.unpack_from("<HH", data, member.header_offset + 26)
        middle = member.header_offset + 30 + name_length + extra_length + member.file_size // 2
        data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
        model.write_bytes(bytes(data))
    audio = write(tmp_path / "a.wav", noise(1.0), RATE)
    code, out, err = run(capsys, "segment", audio, "--model", model, "--label", "dog", "--out", tmp_path / "out")
    assert code == 2
    assert out == ""
    assert f"arseg segment: error: {model}: " in err and expected in err
    assert "Traceback" not in err and "weights_only" not in err  # not torch's advice to load it unsafely
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, expected", [
    (["--query", "a dog barks"], "closed-set model"),
    (["--label", "cat"], "unknown label 'cat'"),
    (["--label", "dog", "--query", ""], "empty query"),
    ([], "at least one --query"),
    (["--example", "clip.wav"], "retrain a text model with queries.examples: true, or ask with --label"),
])
def test_queries_the_model_cannot_answer(models, tmp_path, capsys, argv, expected):
    audio = write(tmp_path / "a.wav", noise(1.0), RATE)
    code, out, err = run(capsys, "segment", audio, "--model", models["label"], *argv, "--out", tmp_path / "out")
    assert code == 2
    assert expected in err
    if "closed-set" in expected or "unknown" in expected:
        assert str(models["label"]) in err and "dog, bell, burst" in err
    assert not (tmp_path / "out").exists()


def test_a_label_is_read_without_surrounding_spaces(models, tmp_path, capsys):
    audio = write(tmp_path / "a.wav", noise(1.0), RATE)
    code, out, err = run(capsys, "segment", audio, "--model", models["label"], "--label", " dog ",
                         "--out", tmp_path / "out", "--json")
    assert code == 0, err
    assert [r["query"] for r in json.loads(out)["files"][0]["results"]] == ["dog"]


def test_usage_errors(models, tmp_path, capsys):
    audio = write(tmp_path / "a.wav", noise(1.0), RATE)
    assert run(capsys, "segment", audio, "--label", "dog")[0] == 2  # no --model
    code, out, err = run(capsys, "segment", audio, "--model", models["label"], "-l", "dog", "--threshold", "2")
    assert code == 2 and "--threshold" in err
    (tmp_path / "file").write_text("x")
    code, out, err = run(capsys, "segment", audio, "--model", models["label"], "-l", "dog", "--out", tmp_path / "file")
    assert code == 2 and "not a folder" in err
    assert run(capsys, "--version")[0] == 0


# ---------------------------------------------------------------- arseg models


def test_models_lists_models_with_metrics(models, tmp_path, capsys):
    results = tmp_path / "results"
    for backbone, seed in [("yoho", 0), ("yoho", 1), ("crnn", 0), ("crnn", "0_old")]:  # seed0_old: a copy
        target = results / "models" / backbone / f"seed{seed}" / "model.pt"
        target.parent.mkdir(parents=True)
        target.write_bytes(models["label" if backbone == "crnn" else "text"].read_bytes())
    (results / "models" / "vgg" / "seed0").mkdir(parents=True)
    (results / "models" / "vgg" / "seed0" / "model.pt").write_bytes(b"not a model")
    metrics = results / "metrics" / "yoho" / "seed0.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"overall": {"event_f1": 0.5123, "segment_f1": 0.8},
                                   "negatives": {"false_alarm_rate": 0.1}}))

    code, out, err = run(capsys, "models", results, "--json")
    assert code == 0, err
    rows = {(r["backbone"], r["seed"]): r for r in json.loads(out)}
    assert sorted(rows) == [("crnn", 0), ("vgg", 0), ("yoho", 0), ("yoho", 1)]
    assert rows[("yoho", 0)]["event_f1"] == 0.5123 and rows[("yoho", 0)]["false_alarm_rate"] == 0.1
    assert rows[("yoho", 1)]["event_f1"] is None and rows[("yoho", 1)]["query"] == "text"
    assert rows[("crnn", 0)]["query"] == "label (4)" and rows[("crnn", 0)]["parameters"] > 0
    assert rows[("vgg", 0)]["status"].startswith("unusable: not an arseg model file")

    code, out, err = run(capsys, "models", results)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["backbone", "seed", "query"]
    assert any(line.startswith("yoho") and "0.512" in line for line in lines)
    assert sum("unusable" in line for line in lines) == 1

    code, out, err = run(capsys, "models", tmp_path / "nowhere")
    assert code == 2 and "no such folder" in err
    code, out, err = run(capsys, "models", results / "models")  # a folder too deep
    assert code == 2 and f"the models folder itself; give the results folder above it ({results})" in err
    code, out, err = run(capsys, "models", results / "models" / "crnn" / "seed0" / "model.pt")
    assert code == 2 and "a file; give the workflow's results folder" in err

    # An unusable model keeps saying so beside unreadable metrics, and is not said to lack provenance.
    (results / "metrics" / "vgg").mkdir()
    (results / "metrics" / "vgg" / "seed0.json").write_text("{not json")
    code, out, err = run(capsys, "models", results)
    [vgg] = [line for line in out.splitlines() if line.startswith("vgg")]
    assert "unusable: not an arseg model file" in vgg and "unreadable metrics" in vgg
    assert not any("no provenance record" in line and "vgg" in line for line in out.splitlines())


# ---------------------------------------------------------------- as a program


def test_runs_as_a_program(models, tmp_path):
    audio = write(tmp_path / "prog.wav", noise(2.0, 48000, 2), 48000)
    missing = tmp_path / "gone.wav"
    proc = subprocess.run([sys.executable, "-m", "arseg.cli", "segment", str(audio), str(missing),
                           "--model", str(models["label"]), "--label", "bell", "--out", str(tmp_path / "o"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [f["file"] for f in report["files"]] == [str(audio)]
    assert f"{missing}: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(models, tmp_path):
    """`arseg ... | head`: the closed pipe stops the command with the shell's status for it,
    not a traceback."""
    audio = write(tmp_path / "a.wav", noise(1.0), RATE)
    reader = subprocess.Popen([sys.executable, "-m", "arseg.cli", "segment", str(audio), "--model", str(models["label"]),
                               "--label", "dog", "--label", "bell", "--out", str(tmp_path / "o"), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # nobody reads what it prints
    _, err = reader.communicate(timeout=300)
    assert reader.returncode == 141, err.decode()
    assert b"Traceback" not in err


def test_every_bin_of_the_encoders_frames_is_predicted():
    """A pretrained encoder's frame is a stretch of time, a log-mel frame a point: 43 encoder
    frames are a whole 8 s window of 43 bins (the last one was once left out, and with it any
    sound in the last 186 ms of a recording); 801 log-mel frames at a 10 ms hop are 25 bins."""
    from types import SimpleNamespace

    from arseg.model.aisfx import output_frames
    from arseg.model.segmenter import ModelConfig

    encoder = ModelConfig(backbone="aisfx", n_bins=43, hop_seconds=8.0 / 43, window_seconds=8.0, n_mels=768)
    assert window_plan(43, SimpleNamespace(cfg=encoder)) == ([0], 21, 43)
    frames = output_frames(20 * 16000, 16000)  # a 20 s recording: its whole frames
    assert window_plan(frames, SimpleNamespace(cfg=encoder))[2] == frames == 107
    log_mel_model = SimpleNamespace(cfg=ModelConfig(backbone="yoho", n_bins=25, hop_seconds=0.01))
    assert window_plan(801, log_mel_model)[2] == 25


@pytest.mark.parametrize("backbone", ["crnn", "aisfx"])
def test_the_progress_of_a_file_runs_through_the_encoder_and_then_the_windows(tmp_path, backbone):
    """The bar moves while the pretrained encoder works (half of the file's parts), not only
    in the windows after it; the parts add up to the whole file."""
    from arseg.infer import segment
    from arseg.infer.windows import model_decodings
    from arseg.model.backbone_specs import ENCODER_DIM, ENCODER_FRAME_SECONDS
    from arseg.model.segmenter import ModelConfig, ReferringSegmenter, prepare_for_inference

    torch.manual_seed(0)
    shape = dict(n_mels=ENCODER_DIM["aisfx"], hop_seconds=ENCODER_FRAME_SECONDS["aisfx"], n_bins=43) \
        if backbone == "aisfx" else {}
    model = ReferringSegmenter(ModelConfig(backbone=backbone, query_encoder="label", labels=["dog"], width=0.125,
                                           **shape)).eval()
    path = write(tmp_path / "long.wav", noise(120.0), RATE)
    calls = []
    segment.segment_file(path, "long", model, prepare_for_inference(model), [segment.Query("dog", "label")],
                         torch.tensor([0]), model_decodings(model), tmp_path,
                         progress=lambda n, parts: calls.append(n / parts))
    assert sum(calls) == pytest.approx(1.0)
    if backbone == "aisfx":  # the encoder's two stretches of the 120 s, then the windows
        assert calls[:2] == [pytest.approx(0.25), pytest.approx(0.25)] and sum(calls[2:]) == pytest.approx(0.5)


def test_a_recording_shorter_than_a_time_bin_and_too_many_threads_get_notes(models, tmp_path, capsys):
    path = write(tmp_path / "click.wav", noise(0.01), RATE)
    code, out, err = run(capsys, "segment", path, "--model", models["label"], "-l", "dog", "--out", tmp_path / "o",
                         "--threads", "100000", "--json")
    assert code == 0, err
    assert f"--threads 100000: this machine has {len(os.sched_getaffinity(0))} CPUs; using" in err
    assert json.loads(out)["files"][0]["note"] == ("only 10 ms long, shorter than one of the model's time bins "
                                                   "(333 ms): too short to find a sound in")
    assert f"{path}: only 10 ms long" in err


def test_two_queries_that_differ_only_in_case_stop_before_any_file(models, tmp_path, capsys):
    """Their files would be one on a case-blind file system (macOS, Windows)."""
    path = write(tmp_path / "x.wav", noise(2.0), RATE)
    code, out, err = run(capsys, "segment", path, "--model", models["text"], "-q", "dog", "-q", "Dog",
                         "--out", tmp_path / "o")
    assert code == 2 and "queries 'dog' and 'Dog' would write the same files" in err, err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_a_label_asked_as_a_text_query_too_is_asked_once(models):
    """On a text model --label dog and --query dog ask the same thing: one query, not two
    that would write the same files."""
    from arseg.model.segmenter import load_model

    model, _ = load_model(models["text"])
    queries = segment.check_queries(model, ["dog", "a dog barks"], ["dog", "wild_animals"], str(models["text"]))
    assert [(q.text, q.kind) for q in queries] == [("dog", "text"), ("a dog barks", "text"),
                                                   ("wild_animals", "label")]
    queries = segment.check_queries(model, ["wild animals"], ["wild_animals", "dog", "dog"], str(models["text"]))
    assert [(q.text, q.kind) for q in queries] == [("wild animals", "text"), ("dog", "label")]
