"""The shipped corpus of real recordings (data/real_sfx) keeps its contract, and a slice of it,
handed over as a user would (mixed formats, no split column), runs through the workflow with
config/real.yaml, the recommended settings for a real corpus (the pretrained backbone)."""
import importlib.util
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from arseg.data.corpus.table import SAFE_STEM, SPLITS, read_clips

_spec = importlib.util.spec_from_file_location("workflow_runner", Path(__file__).with_name("workflow_runner.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)
ROOT = runner.ROOT

CORPUS = ROOT / "data" / "real_sfx"
EXTRA_COLUMNS = ["file", "source_package", "source_path", "licence", "credit"]


@pytest.fixture(scope="module")
def clips():
    return read_clips(CORPUS / "clips.tsv")


def test_counts_categories_and_splits(clips):
    assert list(clips.columns[5:10]) == EXTRA_COLUMNS
    assert len(clips) >= 400
    counts = clips["category"].value_counts()
    assert len(counts) >= 15 and counts.min() >= 10, counts.to_dict()
    for category, group in clips.groupby("category"):
        shares = group["split"].value_counts(normalize=True)
        assert set(shares.index) == set(SPLITS), category
        assert 0.45 <= shares["train"] <= 0.75, (category, shares.to_dict())
    assert clips["clip_id"].map(lambda c: bool(SAFE_STEM.match(c))).all()
    assert (clips["description"].str.strip() != "").all()
    assert clips["duration"].between(0.05, 2.81).all()


def test_every_clip_is_a_16k_mono_flac_that_decodes(clips):
    assert clips["file"].tolist() == [f"audio/{c}.flac" for c in clips["clip_id"]]
    on_disk = sorted(p.name for p in (CORPUS / "audio").iterdir())
    assert on_disk == sorted(Path(f).name for f in clips["file"])  # nothing unlisted ships
    for clip in clips.itertuples():
        audio, rate = sf.read(CORPUS / clip.file, dtype="float32")
        assert rate == 16000 and audio.ndim == 1, clip.file
        assert len(audio) / rate == pytest.approx(clip.duration, abs=0.002), clip.file
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01, clip.file


def test_licences_and_credits_per_clip(clips):
    assert (clips["licence"].str.strip() != "").all() and (clips["credit"].str.strip() != "").all()
    assert (clips["source_package"].str.strip() != "").all() and (clips["source_path"].str.strip() != "").all()
    licences = (CORPUS / "LICENSES").read_text(encoding="utf-8")
    for licence in clips["licence"].unique():
        assert re.search(rf"^  {re.escape(licence)} \(\d+\): ", licences, re.M), licence
    for package in clips["source_package"].unique():
        assert f"usr/share/doc/{package}/copyright" in licences
    assert (CORPUS / "README.md").is_file()


def test_compact_in_the_repository():
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total <= 25 * 2**20, f"{total / 2**20:.1f} MiB"


# A small slice, as a user hands it over: 3 clips of each of 4 categories in four formats,
# found by id or through a file column, no split column.
SLICE_FORMATS = [("wav", "WAV"), ("ogg", "OGG"), ("mp3", "MP3"), ("flac", "FLAC")]


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory, clips):
    folder = tmp_path_factory.mktemp("real_slice")
    rows = []
    categories = sorted(clips["category"].unique())[:4]
    for c, category in enumerate(categories):
        for k, clip in enumerate(clips[clips["category"] == category].head(3).itertuples()):
            ext, fmt = SLICE_FORMATS[(c + k) % 4]
            audio, rate = sf.read(CORPUS / clip.file, dtype="float32")
            file = f"sounds/{clip.clip_id}.{ext}" if k == 1 else ""
            target = folder / (file or f"audio/{clip.clip_id}.{ext}")
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, np.stack([audio, audio], axis=1) if k == 2 else audio, rate, format=fmt)
            rows.append([clip.clip_id, category, clip.description, clip.duration, file])
    pd.DataFrame(rows, columns=["clip_id", "category", "description", "duration", "file"]).to_csv(
        folder / "clips.tsv", sep="\t", index=False)
    workdir = tmp_path_factory.mktemp("real_slice_run")
    sizes = runner.prepare_workdir(workdir, ROOT / "tests" / "data" / "real_slice.yaml")
    my_corpus = workdir / "my_corpus.yaml"  # all a user writes, as the README says
    my_corpus.write_text(f"corpus: {{source: folder, path: {folder}}}\n")
    runner.place_encoder(workdir)
    # config/real.yaml on the folder, up to the trained model's metrics and the demo (which
    # segments long recordings with the model file alone)
    runner.snakemake(workdir, "--cores", "2", "results/metrics/aisfx/seed0.json", "results/demo/summary.json",
                     configfile=[workdir / "config" / "real.yaml", my_corpus, sizes], timeout=900)
    return workdir, rows


def test_a_slice_in_mixed_formats_without_split_runs_end_to_end(slice_run):
    workdir, rows = slice_run
    checked = read_clips(workdir / "results" / "corpus" / "clips.tsv")
    assert sorted(checked["clip_id"]) == sorted(r[0] for r in rows)
    assert pd.read_csv(workdir / "results" / "corpus" / "rejected.tsv", sep="\t").empty
    for _, group in checked.groupby("category"):
        assert sorted(group["split"]) == ["test", "train", "val"]
    for clip_id in checked["clip_id"]:
        info = sf.info(workdir / "results" / "corpus" / "audio" / f"{clip_id}.wav")
        assert (info.samplerate, info.channels) == (16000, 1)
    for split in SPLITS:
        events = pd.read_csv(workdir / "results" / "mixtures" / split / "events.tsv", sep="\t")
        assert set(events["clip_id"]) <= set(checked.loc[checked["split"] == split, "clip_id"])
        assert len(events) > 0
    metrics = json.loads((workdir / "results" / "metrics" / "aisfx" / "seed0.json").read_text())
    assert metrics["overall"]["n_queries"] > 0 and metrics["negatives"]["n_negative_queries"] > 0
    assert metrics["provenance"]["config"]["corpus"]["source"] == "folder"
    assert metrics["provenance"]["config"]["mixtures"]["augment"]["pitch_semitones"] > 0  # real.yaml's recipe
    # and its refit: the model scored was trained again with mixtures of the validation clips
    assert metrics["provenance"]["model"]["config"]["mixtures"]["count"]["refit"] == 8
    # by the ensemble of three trained with seeds of their own
    assert metrics["provenance"]["model"]["config"]["model"]["members"] == 3
    assert len(list((workdir / "results" / "models" / "aisfx" / "seed0").glob("member*/refit/model.pt"))) == 3
    refit = pd.read_csv(workdir / "results" / "mixtures" / "refit" / "events.tsv", sep="\t")
    assert set(refit["clip_id"]) <= set(checked.loc[checked["split"] == "val", "clip_id"])
    # the pretrained backbone read the frozen encoder's features, computed once per split
    features = np.load(workdir / "results" / "features" / "aisfx" / "train.npy", mmap_mode="r")
    assert features.shape[1:] == (21, 768)  # 4 s at 186 ms per frame
    demo = json.loads((workdir / "results" / "demo" / "summary.json").read_text())
    assert demo["model"]["backbone"] == "aisfx", demo["model"]
    assert demo["model"]["path"].endswith("aisfx/seed0/refit/model.pt"), demo["model"]


def test_log_mel_settings_do_not_retrain_the_pretrained_backbone(slice_run):
    """It reads the encoder's features of the audio, not its log-mel: an edit of the log-mel
    settings leaves its model and metrics as they are."""
    workdir, _ = slice_run
    log_mel = workdir / "log_mel.yaml"
    log_mel.write_text("audio: {n_mels: 40, win_seconds: 0.03, hop_seconds: 0.02}\n")
    result = runner.snakemake(workdir, "-n", "--cores", "1", "results/metrics/aisfx/seed0.json",
                              configfile=[workdir / "config" / "real.yaml", workdir / "my_corpus.yaml",
                                          workdir / "config" / "test.yaml", log_mel])
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def test_the_pretrained_backbone_with_its_last_block_trained_runs_beside_it(slice_run):
    """aisfx_tuned on the same slice: its own encoder features (the last block's input, in half
    precision), and a model whose last block moved away from the pretrained one."""
    import torch

    from arseg.model.aisfx import load_trunk_weights
    from arseg.model.segmenter import load_model

    workdir, _ = slice_run
    tuned = workdir / "tuned.yaml"
    tuned.write_text("model: {backbones: [aisfx, aisfx_tuned]}\ntraining: {per_backbone: {aisfx_tuned: {epochs: 2}}}\n")
    result = runner.snakemake(workdir, "--cores", "2", "results/metrics/aisfx_tuned/seed0.json",
                              configfile=[workdir / "config" / "real.yaml", workdir / "my_corpus.yaml",
                                          workdir / "config" / "test.yaml", tuned], timeout=900)
    log = result.stdout + result.stderr
    assert "backbone=aisfx_tuned, seed=0" in log and "backbone=aisfx," not in log  # aisfx is not redone
    maps = np.load(workdir / "results" / "features" / "aisfx_maps" / "train.npy", mmap_mode="r")
    assert maps.shape[1:] == (21, 3328) and maps.dtype == np.float16
    metrics = json.loads((workdir / "results" / "metrics" / "aisfx_tuned" / "seed0.json").read_text())
    assert metrics["overall"]["n_queries"] > 0
    # (a member of the seed's ensemble, real.yaml's model.members)
    model, _ = load_model(workdir / "results" / "models" / "aisfx_tuned" / "seed0" / "member0" / "model.pt")
    pretrained = load_trunk_weights(workdir / "resources" / "encoders" / "aisfx.pth")["conv_block4.conv1.weight"]
    assert not torch.equal(model.backbone.last_block.conv1.weight, pretrained)
    torch.testing.assert_close(model.encoder.trunk.conv_block4.conv1.weight, pretrained)  # the carried trunk: frozen


def test_the_folder_reruns_for_the_files_its_table_reads_and_nothing_else(slice_run):
    """A user's folder: a stray file beside the clips, or its path written another way,
    reruns nothing; a clip's audio changed reruns the corpus check and all after it."""
    workdir, _ = slice_run
    folder = Path(yaml.safe_load((workdir / "my_corpus.yaml").read_text())["corpus"]["path"])
    configs = [workdir / "config" / "real.yaml", workdir / "my_corpus.yaml", workdir / "config" / "test.yaml"]
    spelt = workdir / "spelt.yaml"
    spelt.write_text(f"corpus: {{path: {folder}/./}}\n")

    def plan(*extra: Path) -> str:
        result = runner.snakemake(workdir, "-n", "--cores", "1", "results/metrics/aisfx/seed0.json",
                                  configfile=[*configs, *extra])
        return result.stdout + result.stderr

    (folder / "notes.txt").write_text("recorded in May")
    try:
        assert "Nothing to be done" in plan(spelt), plan(spelt)[-3000:]
    finally:
        (folder / "notes.txt").unlink()
    clip = sorted((folder / "audio").iterdir())[0]
    before, original = clip.stat(), clip.read_bytes()
    clip.write_bytes(original + b"\0")  # edited (Snakemake compares a small file's content, not its date)
    try:
        assert re.search(r"check_corpus\s+1\n", plan()), plan()[-3000:]
    finally:
        clip.write_bytes(original)
        os.utime(clip, ns=(before.st_atime_ns, before.st_mtime_ns))
