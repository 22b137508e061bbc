"""The SoundDescs workflow through Snakemake: metadata -> clip table -> sharded download ->
preparation -> corpus -> mixtures ... -> metrics, on a small slice of the real metadata.

A real HTTP server on 127.0.0.1 (tests/http_fixture.py) stands in for both upstream hosts
(their base URLs are config keys): under /github/ it serves the real categories.pkl,
download_links.txt (checked against the digests pinned in the schema), split lists cut
down to a handful of clips per class and a generated descriptions.pkl; under /bbc/zip/ a
generated zipped WAV per clip. No traffic leaves the machine.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from arseg.data.corpus.table import read_clips
from arseg.data.sounddescs import missing_downloads, shard_ids
from arseg.data.sounddescs.metadata import load_categories, parse_download_links, read_splits

TESTS = Path(__file__).resolve().parent


def _load(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, TESTS / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load("workflow_runner", "workflow_runner.py")
http_fixture = _load("sounddescs_http_fixture", "http_fixture.py")

N_SHARDS = 2
PER_SPLIT = {"train": 2, "val": 1, "test": 1}  # source clips per class and split
# seed6 classes -> (SoundDescs category of the picked clips, description, tone in Hz)
CLASSES = {
    "car": ("Transport", "Car passing by on a wet road.", 300),
    "aircraft": ("Transport", "Aircraft taking off, jet engine.", 450),
    "crowds": ("Crowds", "Crowd cheering in a stadium.", 600),
    "footsteps": ("Footsteps", "Footsteps on gravel.", 800),
    "clocks": ("Clocks", "Clock ticking in a quiet room.", 1000),
    "rainforest": ("Nature", "Tropical rainforest atmosphere.", 1300),
}
META = ["categories.pkl", "download_links.txt"]  # served unchanged: their pinned digests are checked


def _metadata_dir() -> Path:
    for parent in TESTS.parents:
        candidate = parent / "shared" / "sounddescs-metadata"
        if candidate.is_dir():
            return candidate
    pytest.fail(f"shared/sounddescs-metadata not found above {TESTS}; these tests need the real metadata")


def _wav(freq: float, seed: int, seconds=2.0, sr=44100) -> bytes:
    """Stereo 16-bit WAV like the BBC's: quiet noise plus a one-second tone."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    mono = 1e-3 * rng.standard_normal(len(t))
    start = 0.2 + 0.6 * rng.random()
    inside = (t >= start) & (t < start + 1.0)
    mono[inside] += 0.3 * np.sin(2 * np.pi * freq * t[inside])
    buf = io.BytesIO()
    sf.write(buf, np.stack([mono, 0.7 * mono], axis=1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def audio_path(clip_id: str) -> str:
    return f"/bbc/zip/{clip_id.upper()}.wav.zip"


class Slice:
    """The clips of the test: real ids from the official split, per class and split."""

    def __init__(self):
        meta = _metadata_dir()
        self.meta = meta
        categories = load_categories(meta / "categories.pkl")
        links = parse_download_links(meta / "download_links.txt")
        splits = read_splits(meta)
        self.split_of, self.cls, self.wav = {}, {}, {}
        taken = set()
        for name, (category, _, freq) in CLASSES.items():
            for split, n in PER_SPLIT.items():
                ids = [i for i in splits[split] if categories.get(i) == [category] and i in links and i not in taken]
                for clip_id in ids[:n]:
                    taken.add(clip_id)
                    self.split_of[clip_id], self.cls[clip_id] = split, name
                    self.wav[clip_id] = _wav(freq, seed=len(self.wav))
        self.ids = sorted(self.split_of)
        self.zips = {i: _zip(f"{i.upper()}.wav", w) for i, w in self.wav.items()}
        descriptions = defaultdict(list, {i: CLASSES[self.cls[i]][1] for i in self.ids})
        self.descriptions = pickle.dumps(descriptions, protocol=3)

    def serve(self, server) -> None:
        for name in META:
            server.add(f"/github/sounddescs_data/{name}", (self.meta / name).read_bytes())
        server.add("/github/sounddescs_data/descriptions.pkl", self.descriptions)
        for split in PER_SPLIT:
            ids = [i for i in self.ids if self.split_of[i] == split]
            server.add(f"/github/data/SoundDescs/{split}_list.txt", ("\n".join(ids) + "\n").encode())
        for clip_id, body in self.zips.items():
            server.add(audio_path(clip_id), body)

    def config(self, server, accept_licence=True) -> dict:
        return {
            "corpus": {"source": "sounddescs", "sounddescs": {
                "accept_licence": accept_licence,
                "metadata": {
                    "data_base_url": f"{server.url}/github/sounddescs_data/",
                    "splits_base_url": f"{server.url}/github/data/SoundDescs/",
                    # categories.pkl and download_links.txt keep the digests pinned in the schema
                    "sha256": {"train_list.txt": None, "val_list.txt": None, "test_list.txt": None},
                    "timeout": 10, "retries": 1, "backoff": 0.01},
                "n_shards": N_SHARDS,
                "download": {"audio_base_url": f"{server.url}/bbc/zip", "parallel": 2, "retries": 1,
                             "backoff": 0.01, "timeout": 10, "max_failure_rate": 0.0},
                "excerpt": {"mode": "longest_active", "max_seconds": 1.5, "min_seconds": 0.5}}},
            "mixtures": {"seed": 0, "duration": 4.0, "count": {"train": 12, "val": 4, "test": 4}, "max_events": 2},
            "queries": {"negatives_per_mixture": 1, "examples": False},
            "model": {"backbones": ["yoho"], "seeds": [0], "width": 0.125, "query_encoder": "label"},
            "training": {"epochs": 1, "patience": 1, "threads": 1},
        }


def prepare(workdir: Path, config: dict) -> None:
    source = workdir / "test-source.yaml"
    source.write_text(yaml.safe_dump(config, sort_keys=False))
    runner.prepare_workdir(workdir, source)


def audio_hits(server) -> Counter:
    return Counter({p: n for p, n in server.hits.items() if p.startswith("/bbc/")})


MANIFESTS = [f"resources/sounddescs/manifests/shard{k}.tsv" for k in range(N_SHARDS)]
METRICS = "results/metrics/yoho/seed0.json"


@pytest.fixture(scope="module")
def clips() -> Slice:
    return Slice()


@pytest.fixture(scope="module")
def bbc(clips):
    with http_fixture.FixtureServer() as server:
        clips.serve(server)
        yield server


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, clips, bbc):
    workdir = tmp_path_factory.mktemp("sounddescs_run")
    prepare(workdir, clips.config(bbc))
    runner.snakemake(workdir, "--cores", "2", METRICS)
    return workdir


def test_workflow_runs_from_download_to_metrics(finished_run, clips, bbc):
    metrics = json.loads((finished_run / METRICS).read_text())
    assert metrics["overall"]["n_queries"] > 0 and "event_f1" in metrics["overall"]

    sd = finished_run / "resources/sounddescs"
    table = pd.read_csv(sd / "clip_table.tsv", sep="\t", dtype=str)
    assert sorted(table.clip_id) == clips.ids  # real categories + served split lists -> exactly the slice
    assert table.set_index("clip_id").category.to_dict() == clips.cls

    corpus = read_clips(sd / "corpus/clips.tsv")  # the project's corpus-contract checker
    assert sorted(corpus.clip_id) == sorted(f"{i}_0" for i in clips.ids)  # one excerpt per source
    assert set(corpus.category) == set(CLASSES)
    assert corpus.set_index("clip_id").split.to_dict() == {f"{i}_0": s for i, s in clips.split_of.items()}
    for row in corpus.itertuples():
        info = sf.info(sd / "corpus/audio" / f"{row.clip_id}.wav")
        assert (info.samplerate, info.channels) == (16000, 1)
        assert abs(info.frames / 16000 - row.duration) < 1e-3 and 0.5 <= row.duration <= 1.5 + 1e-6

    manifests = pd.concat(pd.read_csv(finished_run / m, sep="\t", dtype=str) for m in MANIFESTS)
    assert sorted(manifests.id) == clips.ids and set(manifests.status) == {"fetched"}
    for k, ids in enumerate(shard_ids(clips.ids, N_SHARDS)):  # each shard job fetched its own ids
        assert pd.read_csv(finished_run / MANIFESTS[k], sep="\t", dtype=str).id.tolist() == ids
    for clip_id in clips.ids:  # raw audio is the BBC's WAV, byte for byte, fetched once
        assert (sd / "raw" / f"{clip_id}.wav").read_bytes() == clips.wav[clip_id]
        assert bbc.hits[audio_path(clip_id)] == 1
    assert all(n == 1 for p, n in bbc.hits.items() if p.startswith("/github/"))
    assert not [p for p in (sd / "raw").iterdir() if p.name.startswith(".")]  # no temporaries left


def test_second_run_fetches_nothing(finished_run, bbc):
    before = Counter(bbc.hits)
    result = runner.snakemake(finished_run, "--cores", "2", METRICS)
    assert "Nothing to be done" in result.stdout + result.stderr
    assert bbc.hits == before

    # network settings and the licence flag are not params: changing them re-runs nothing
    config_path = finished_run / "config" / "test.yaml"
    original = config_path.read_text()
    changed = yaml.safe_load(original)
    changed["corpus"]["sounddescs"]["download"].update(timeout=30, retries=3, parallel=1)
    changed["corpus"]["sounddescs"]["metadata"].update(timeout=30)
    config_path.write_text(yaml.safe_dump(changed))
    try:
        result = runner.snakemake(finished_run, "-n", "--cores", "2", METRICS)
    finally:
        config_path.write_text(original)
    assert "Nothing to be done" in result.stdout + result.stderr

    # even a forced re-run of the download jobs fetches nothing: every clip is already there
    runner.snakemake(finished_run, "--cores", "2", *MANIFESTS, "--forcerun", "sounddescs_download")
    assert bbc.hits == before
    for manifest in MANIFESTS:
        assert set(pd.read_csv(finished_run / manifest, sep="\t").status) == {"skipped_existing"}


def _finished(raw: Path) -> set[str]:
    return {p.stem for p in raw.glob("*.wav") if not p.name.startswith(".")}


def test_failed_and_killed_downloads_resume_where_they_stopped(tmp_path, clips):
    """A shard job that fails keeps its manifest (as a log); a run SIGKILLed while a clip is
    mid-body leaves nothing half-written that looks like a clip; the rerun fetches exactly
    the clips that were not finished, never a finished one again."""
    shards = shard_ids(clips.ids, N_SHARDS)
    broken, slow = shards[1][0], shards[0][0]
    raw = tmp_path / "resources/sounddescs/raw"
    with http_fixture.FixtureServer() as server:
        clips.serve(server)
        prepare(tmp_path, clips.config(server))

        # 1. one clip of shard 1 is missing upstream: with max_failure_rate 0 the job fails
        server.misbehave(audio_path(broken), "404")
        result = runner.snakemake(tmp_path, "--cores", "2", MANIFESTS[1], check=False)
        output = result.stdout + result.stderr
        kept = "results/logs/sounddescs/download/shard1.manifest.tsv"
        assert result.returncode != 0 and f"1 of {len(shards[1])} clips failed" in output and kept in output
        manifest = pd.read_csv(tmp_path / kept, sep="\t", dtype=str).set_index("id")
        assert manifest.status[broken] == "failed" and "HTTP 404" in manifest.reason[broken]
        assert (manifest.status.drop(broken) == "fetched").all()
        assert not (tmp_path / MANIFESTS[1]).exists()  # the declared output of the failed job is gone
        assert _finished(raw) == set(shards[1]) - {broken}

        # 2. the clip is back; one clip of shard 0 trickles in: SIGKILL the run while it is mid-body
        server.behave(audio_path(broken))
        server.misbehave(audio_path(slow), "trickle", chunk=4096, delay=0.2)  # ~20 s for the whole body
        part = raw / f".{slow}.wav.zip.part"
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(runner.ROOT / "workflow" / "Snakefile"),
                   "--directory", str(tmp_path), "--configfile", str(tmp_path / "config" / "test.yaml"),
                   "--workflow-profile", "none", "--cores", "2", "--nolock", MANIFESTS[0]]
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # its own process group: the kill takes the jobs too
        try:
            deadline = time.monotonic() + 90
            while not (part.exists() and part.stat().st_size > 0 and set(shards[0][1:]) <= _finished(raw)):
                assert proc.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline, "the slow clip never got under way"
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

        done_at_kill = _finished(raw)
        assert slow not in done_at_kill and 0 < part.stat().st_size < len(clips.zips[slow])
        assert not (tmp_path / MANIFESTS[0]).exists()
        for clip_id in done_at_kill:  # every file that looks finished is finished
            assert (raw / f"{clip_id}.wav").read_bytes() == clips.wav[clip_id]

        # 3. rerun both shards: only what was unfinished is fetched
        server.behave(audio_path(slow))
        before = audio_hits(server)
        runner.snakemake(tmp_path, "--cores", "2", "--nolock", *MANIFESTS)
        fetched = audio_hits(server) - before

    assert fetched == Counter({audio_path(i): 1 for i in clips.ids if i not in done_at_kill})
    assert _finished(raw) == set(clips.ids) and not [p for p in raw.iterdir() if p.name.startswith(".")]
    for clip_id in clips.ids:
        assert (raw / f"{clip_id}.wav").read_bytes() == clips.wav[clip_id]
    statuses = pd.concat(pd.read_csv(tmp_path / m, sep="\t", dtype=str) for m in MANIFESTS).set_index("id").status
    assert statuses.to_dict() == {i: "fetched" if i in (slow, broken) else "skipped_existing" for i in clips.ids}


def test_refuses_to_download_without_the_licence(tmp_path, clips):
    with http_fixture.FixtureServer() as server:
        clips.serve(server)
        prepare(tmp_path, clips.config(server, accept_licence=False))
        result = runner.snakemake(tmp_path, "--cores", "2", METRICS, check=False)
        hits = sum(server.hits.values())
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "corpus.sounddescs.accept_licence" in output and "RemArc" in output and "non-commercial" in output
    assert hits == 0  # neither the BBC's descriptions nor its audio were requested
    left = [p for p in (tmp_path / "resources").rglob("*") if p.is_file()] if (tmp_path / "resources").exists() else []
    assert left == []


def test_missing_downloads_lists_clips_deleted_after_their_download(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.wav").write_bytes(b"x")
    manifest = tmp_path / "m.tsv"
    pd.DataFrame({"id": ["a", "b", "c", "007"], "status": ["fetched", "skipped_existing", "failed", "fetched"],
                  "attempts": [1, 0, 3, 1], "bytes": [1, 0, 0, 1], "reason": ["", "", "HTTP 404", ""]}
                 ).to_csv(manifest, sep="\t", index=False)
    assert missing_downloads(manifest, tmp_path / "raw") == ["b", "007"]  # failed ones are not expected
