"""Fault injection: impossible config values, hostile query texts, hostile or broken model
files, writers that fail mid-way, determinism, and a workflow killed mid-run.

Every case goes through `record()`, which asserts the outcome (a clear message naming the
file/key, or a correct result), that no bare traceback was printed and that no partial output
was left, and counts it. The last test prints the tally:

    faults: N tried, R rejected with a clear message, H handled correctly, 0 bare tracebacks, 0 partial outputs

Faults already covered elsewhere are not repeated here: corpus audio (test_corpus_check.py),
training resume (test_training.py), unknown key / wrong type (test_workflow_e2e.py),
pickles and zips from the internet (test_sounddescs.py), CLI audio and model files (test_cli.py).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from arseg import MODEL_FORMAT_VERSION
from arseg.cli import main
from arseg.data.corpus.synthetic import synthesize_corpus
from arseg.data.mixtures import MixtureConfig, generate_split
from arseg.data.queries import QUERY_COLUMNS, make_queries, read_queries, write_queries
from arseg.features.logmel import FeatureConfig, compute_split
from arseg.io import atomic
from arseg.io.audio import write_wav
from arseg.model import text_encoder
from arseg.model.segmenter import ModelConfig, ModelFileError, ReferringSegmenter, load_model, save_model

_spec = importlib.util.spec_from_file_location("workflow_runner", Path(__file__).with_name("workflow_runner.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = Path(__file__).with_name("data") / "tiny.yaml"
TINY_MODEL = dict(width=0.125, window_seconds=2.0, n_bins=6, query_dim=16, n_mels=32)
RATE = 16000
TRACEBACK = "Traceback (most recent call last)"

# ---------------------------------------------------------------- the registry

FAULTS: list[dict] = []


def leftovers(paths) -> list[str]:
    """Partial outputs: any of `paths` that exists, and temp files (.name.*tmp*) beside them."""
    found = []
    for path in map(Path, paths):
        if path.exists():
            found.append(str(path))
        if path.parent.is_dir():
            found += [str(p) for p in path.parent.glob(f".{path.name}.*")]
    return found


def record(name: str, outcome: str, message: str = "", *, names=(), output: str = "",
           no_outputs=(), temp_dirs=()) -> None:
    """Count one fault case and assert how it ended.

    outcome: "rejected" (an error whose `message` names each of `names`) or "handled"
    (a correct result; the caller asserted what correct means). `output` is everything the
    failing program printed (checked for a bare traceback); `no_outputs` must not exist;
    `temp_dirs` must hold no temporary files of the atomic writers."""
    assert outcome in ("rejected", "handled"), outcome
    partial = leftovers(no_outputs)
    for folder in map(Path, temp_dirs):
        if folder.is_dir():
            partial += [str(p) for p in folder.rglob(".*tmp*")]
    traceback = TRACEBACK in (output or "") or TRACEBACK in (message or "")
    FAULTS.append({"name": name, "outcome": outcome, "traceback": traceback, "partial": bool(partial)})
    if outcome == "rejected":
        assert message.strip(), f"{name}: rejected without a message"
        for needle in names:
            assert str(needle) in message, f"{name}: message does not name {needle!r}:\n{message[-3000:]}"
    assert not traceback, f"{name}: bare traceback:\n{(output or message)[-3000:]}"
    assert not partial, f"{name}: partial output left: {partial}"


# ---------------------------------------------------------------- config: caught before any job


def _config(change) -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    change(config)
    return config


def _set(path: str, value):
    def change(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return change


def _both(*changes):
    def change(config):
        for c in changes:
            c(config)
    return change


CONFIG_FAULTS = {
    # More events per mixture than the corpus has categories (the chosen categories are in
    # the config, so check_config catches it; with all categories, the mixtures rule does).
    "min_events_above_categories": (_both(_set("corpus.categories", ["dog", "bell"]),
                                          _set("mixtures.min_events", 3), _set("mixtures.max_events", 3)),
                                    ["mixtures.min_events", "corpus.categories"]),
    "snr_db_reversed": (_set("mixtures.snr_db", [20.0, 0.0]), ["mixtures.snr_db", "reversed"]),
    "unknown_backbone": (_set("model.backbones", ["resnet9000"]), ["resnet9000", "backbones"]),
    "negative_count": (_set("mixtures.count.train", -5), ["-5", "train"]),
    "win_seconds_too_short": (_set("audio.win_seconds", 0.001), ["audio.win_seconds"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FAULTS))
def test_impossible_config_fails_before_any_job(case, tmp_path):
    change, names = CONFIG_FAULTS[case]
    runner.prepare_workdir(tmp_path, TINY_CONFIG)
    (tmp_path / "config" / "test.yaml").write_text(yaml.safe_dump(_config(change)))
    result = runner.snakemake(tmp_path, "-n", "--cores", "1", check=False, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    record(f"config:{case}", "rejected", output, names=names, output=output,
           no_outputs=[tmp_path / "results", tmp_path / "resources"])


def test_min_events_above_categories_in_the_mixtures_rule(tmp_path):
    """All categories of a corpus are only known once it exists: the mixtures step names the key."""
    corpus = tmp_path / "corpus"
    clips = synthesize_corpus(corpus, clips_per_category=1, seed=0, categories=("dog", "bell"),
                              split_fractions=(1.0, 0.0, 0.0))
    out = tmp_path / "mixtures" / "train"
    cfg = MixtureConfig(duration=2.0, sample_rate=RATE, min_events=3, max_events=3)
    with pytest.raises(ValueError) as error:
        generate_split(clips, corpus / "audio", out, "train", 2, cfg, seed=0)
    record("mixtures:min_events_above_categories", "rejected", str(error.value),
           names=["mixtures.min_events", "2 categories"], no_outputs=[out])


# ---------------------------------------------------------------- hostile query texts

PWNED = Path("/tmp/pwned")
QUERY_TEXTS = {
    "empty": "",
    "long_10k": ("a dog barks far away while rain falls on a tin roof " * 200)[:9_999] + ".",
    "non_ascii": "Hündin bellt 犬",
    "shell": "$(touch /tmp/pwned); rm -rf x; \"quote' ` |&>",
    "tab_newline": "a bell\trings\ntwice",
}


@pytest.fixture(scope="module")
def encoder():
    """The real sentence encoder, loaded once for the module (~8 s)."""
    return text_encoder.load_encoder()


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults_model") / "text.pt"
    torch.manual_seed(0)
    save_model(ReferringSegmenter(ModelConfig(query_encoder="text", **TINY_MODEL)).eval(), path)
    return path


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARSEG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module", autouse=True)
def _no_pwned():
    existed = PWNED.exists()
    yield
    if not existed:
        assert not PWNED.exists(), "a query text was run by a shell"


def test_query_texts_through_the_embedding_cache(encoder, tmp_path):
    texts = list(QUERY_TEXTS.values())
    cache = text_encoder.EmbeddingCache([], np.zeros((0, text_encoder.EMBEDDING_DIM), np.float32))
    vectors = cache.lookup(texts + texts[::-1], encoder=encoder)
    assert vectors.shape == (2 * len(texts), text_encoder.EMBEDDING_DIM)
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(vectors[:len(texts)], vectors[len(texts):][::-1])  # one vector per distinct text
    path = tmp_path / "emb.npz"
    cache.save(path)
    again = text_encoder.EmbeddingCache.load(path)
    assert again.texts == cache.texts  # exact texts, the empty one and the 10k one included
    for name, text in QUERY_TEXTS.items():
        assert np.array_equal(again.lookup([text], encoder=_refuse), cache.lookup([text])), name
        record(f"embedding_cache:{name}", "handled", temp_dirs=[tmp_path])


def _refuse(*args, **kwargs):
    raise AssertionError("the encoder was used for a cached text")


def test_query_texts_survive_the_tsv_round_trip(tmp_path):
    rows = [[f"m{i:02d}_q00", f"m{i:02d}.wav", text, "description", "dog", 1]
            for i, text in enumerate(QUERY_TEXTS.values())]
    table = pd.DataFrame(rows, columns=QUERY_COLUMNS)
    path = tmp_path / "queries.tsv"
    write_queries(path, table)
    back = read_queries(path)
    for name, (expected, got) in zip(QUERY_TEXTS, zip(table["text"], back["text"])):
        assert got == expected, (name, got[:80])
        record(f"queries_tsv:{name}", "handled", temp_dirs=[tmp_path])
    pd.testing.assert_frame_equal(back, table, check_dtype=False)


@pytest.mark.parametrize("name", sorted(QUERY_TEXTS))
def test_query_texts_through_the_cli(name, encoder, text_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(text_encoder, "load_encoder", lambda *a, **k: encoder)
    marker = tmp_path / "pwned"
    text = QUERY_TEXTS[name].replace("/tmp/pwned", str(marker))
    audio = tmp_path / "in.wav"
    sf.write(audio, np.random.default_rng(0).normal(0, 0.1, RATE * 2).astype(np.float32), RATE)
    out = tmp_path / "out"
    code = main(["segment", str(audio), "--model", str(text_model), "--query", text, "--out", str(out), "--json"])
    stdout, stderr = capsys.readouterr()
    assert not marker.exists()
    if name == "empty":
        assert code == 2
        record(f"cli:{name}", "rejected", stderr, names=["empty query"], output=stderr, no_outputs=[out])
        return
    assert code == 0, stderr
    [result] = json.loads(stdout)["files"][0]["results"]
    assert result["query"] == text
    files = sorted(p.name for p in out.iterdir())
    assert files == [Path(result["tsv"]).name]
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", files[0]) and len(files[0]) < 100, files
    record(f"cli:{name}", "handled", output=stderr, temp_dirs=[out])


# ---------------------------------------------------------------- hostile and broken model files


class Evil:
    """Unpickling this runs Path.touch(marker): it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _tiny_model_file(path: Path) -> Path:
    torch.manual_seed(0)
    save_model(ReferringSegmenter(ModelConfig(query_encoder="label", labels=["dog"], **TINY_MODEL)), path)
    return path


def test_malicious_plain_pickle_is_not_executed(tmp_path):
    marker, model = tmp_path / "executed", tmp_path / "model.pt"
    data = pickle.dumps({"format": "arseg-referring-segmenter", "x": Evil(marker)}, protocol=2)
    pickle.loads(data)  # the trap is armed: a plain unpickler runs it
    assert marker.exists()
    marker.unlink()
    model.write_bytes(data)
    with pytest.raises(ModelFileError) as error:
        load_model(model)
    assert not marker.exists()
    record("model:malicious_plain_pickle", "rejected", str(error.value), names=[str(model), "not an arseg model"])


def test_malicious_object_inside_a_torch_file_is_not_executed(tmp_path):
    marker, model = tmp_path / "executed", tmp_path / "model.pt"
    good = torch.load(_tiny_model_file(tmp_path / "good.pt"), weights_only=True)
    torch.save({**good, "extra": {"payload": Evil(marker)}}, model)
    assert not marker.exists()
    with pytest.raises(ModelFileError) as error:
        load_model(model)
    assert not marker.exists()
    record("model:malicious_torch_file", "rejected", str(error.value), names=[str(model), "not an arseg model"])


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.99])
def test_truncated_model_file(fraction, tmp_path):
    model = _tiny_model_file(tmp_path / "model.pt")
    data = model.read_bytes()
    model.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(ModelFileError) as error:
        load_model(model)
    record(f"model:truncated_{fraction}", "rejected", str(error.value), names=[str(model)])


def test_model_file_from_a_future_format_version(tmp_path):
    model = _tiny_model_file(tmp_path / "model.pt")
    payload = torch.load(model, weights_only=True)
    torch.save({**payload, "format_version": MODEL_FORMAT_VERSION + 1, "arseg_version": "9.0.0"}, model)
    with pytest.raises(ModelFileError) as error:
        load_model(model)
    record("model:future_version", "rejected", str(error.value),
           names=[str(model), f"version {MODEL_FORMAT_VERSION + 1}", "9.0.0"])


def test_every_load_is_safe():
    """torch.load only with weights_only=True; pickle only through the restricted unpickler."""
    offenders = []
    sources = [p for d in ("src", "scripts", "workflow") for p in (ROOT / d).rglob("*")
               if p.suffix in (".py", ".smk") or p.name == "Snakefile"]
    assert len(sources) > 20
    for path in sources:
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        for match in re.finditer(r"torch\.load\(", text):
            call = text[match.start():text.find(")", match.start()) + 1]
            if "weights_only=True" not in call:
                offenders.append(f"{rel}: {call}")
        if rel != "src/arseg/data/sounddescs/safe_pickle.py":
            for pattern in (r"pickle\.loads?\(", r"pickle\.Unpickler", r"allow_pickle\s*=\s*True", r"dill\.|joblib\.load"):
                offenders += [f"{rel}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not offenders, offenders
    record("source:unsafe_loads", "handled")


# ---------------------------------------------------------------- atomic writers that fail mid-way


class Boom(RuntimeError):
    pass


def _half_then_boom(target, *args, **kwargs):
    """A stand-in writer: writes some bytes to its target (a path or a file), then raises."""
    if hasattr(target, "write"):
        target.write(b"partial")
    else:
        Path(target).write_bytes(b"partial")
    raise Boom("disk full (simulated)")


def _method_half_then_boom(self, *args, **kwargs):
    with open(self, "wb") as f:
        _half_then_boom(f)


ATOMIC_CASES = {  # writer -> (how it fails mid-way, the call)
    "write_text": (lambda mp: mp.setattr(Path, "write_text", _method_half_then_boom),
                   lambda dest: atomic.write_text(dest, "hello")),
    "write_json": (None, lambda dest: atomic.write_json(dest, {"loss": float("nan")})),  # NaN: refused
    "write_tsv": (lambda mp: mp.setattr(pd.DataFrame, "to_csv", lambda self, path, **k: _half_then_boom(path)),
                  lambda dest: atomic.write_tsv(dest, pd.DataFrame({"a": [1, 2]}))),
    "write_wav": (lambda mp: mp.setattr(Path, "write_bytes", _method_half_then_boom),
                  lambda dest: write_wav(dest, np.zeros(100, np.float32), RATE)),
    "save_model": (lambda mp: mp.setattr(torch, "save", lambda obj, path, **k: _half_then_boom(path)),
                   lambda dest: save_model(ReferringSegmenter(ModelConfig(query_encoder="label", labels=["a"],
                                                                          **TINY_MODEL)), dest)),
    "embedding_cache": (lambda mp: mp.setattr(np, "savez", _half_then_boom),
                        lambda dest: text_encoder.EmbeddingCache(["a"], np.zeros((1, 4), np.float32)).save(dest)),
}


@pytest.mark.parametrize("case", sorted(ATOMIC_CASES))
@pytest.mark.parametrize("existing", [False, True])
def test_failing_writer_leaves_nothing_behind(case, existing, tmp_path, monkeypatch):
    patch, write = ATOMIC_CASES[case]
    dest = tmp_path / "out" / f"result{'.wav' if 'wav' in case else '.dat'}"
    if existing:  # a finished file from an earlier run stays exactly as it was
        dest.parent.mkdir()
        dest.write_bytes(b"old and complete")
    if patch:
        patch(monkeypatch)
    with pytest.raises((Boom, ValueError)) as error:
        write(dest)
    monkeypatch.undo()
    if existing:
        assert dest.read_bytes() == b"old and complete"
        record(f"atomic:{case}:over_existing", "rejected", str(error.value) or type(error.value).__name__,
               temp_dirs=[tmp_path])
    else:
        record(f"atomic:{case}", "rejected", str(error.value) or type(error.value).__name__,
               no_outputs=[dest], temp_dirs=[tmp_path])


def test_feature_extraction_stopped_by_a_bad_file_leaves_no_array(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        rate = 8000 if i == 9 else RATE  # one mixture at the wrong rate, in the second batch
        path = audio / f"m{i:02d}.wav"
        write_wav(path, rng.normal(0, 0.1, rate).astype(np.float32), rate)
        paths.append(path)
    out_npy, out_index = tmp_path / "features" / "train.npy", tmp_path / "features" / "train.tsv"
    with pytest.raises(ValueError) as error:
        compute_split(paths, out_npy, out_index, FeatureConfig(n_mels=32))
    record("features:bad_file_mid_split", "rejected", str(error.value), names=[str(paths[9]), "8000 Hz"],
           no_outputs=[out_npy, out_index], temp_dirs=[tmp_path])


# ---------------------------------------------------------------- determinism


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _pipeline(root: Path) -> None:
    clips = synthesize_corpus(root / "corpus", clips_per_category=3, seed=7, categories=("dog", "bell", "siren"))
    clips = clips.assign(split="train")
    cfg = MixtureConfig(duration=2.0, sample_rate=RATE, max_events=2)
    events = generate_split(clips, root / "corpus" / "audio", root / "mixtures", "train", 4, cfg, seed=3)
    write_queries(root / "queries.tsv", make_queries(events, clips, "train", negatives_per_mixture=1, seed=3))
    paths = sorted((root / "mixtures" / "audio").glob("*.wav"))
    compute_split(paths, root / "features" / "train.npy", root / "features" / "train.tsv", FeatureConfig(n_mels=32))


def test_same_config_and_seed_give_byte_identical_files(tmp_path):
    _pipeline(tmp_path / "one")
    _pipeline(tmp_path / "two")
    one, two = _digest(tmp_path / "one"), _digest(tmp_path / "two")
    assert one.keys() == two.keys()
    for part in ("corpus/clips.tsv", "mixtures/events.tsv", "queries.tsv", "features/train.npy", "features/train.tsv"):
        assert part in one
    for name in one:
        assert one[name] == two[name], name
    record("determinism:corpus_mixtures_queries_features", "handled", temp_dirs=[tmp_path])


# ---------------------------------------------------------------- a workflow killed mid-run (slow, ~1-3 min)

TARGET = "results/metrics/yoho/seed0.json"
PREDICTIONS = "results/predictions/yoho/seed0"


def test_killed_workflow_reruns_to_identical_results(finished_run, tmp_path):
    """SIGKILL the whole snakemake process group while a seeded random job runs (its k-th job,
    plus a short seeded delay), unlock, rerun with --rerun-incomplete: metrics and predictions
    equal an uninterrupted run. Keyed to jobs, not seconds, so a fast machine cannot finish first."""
    runner.prepare_workdir(tmp_path, TINY_CONFIG)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
               "--directory", str(tmp_path), "--configfile", str(tmp_path / "config" / "test.yaml"),
               "--workflow-profile", "none", "--cores", "2", TARGET]
    log = open(tmp_path / "killed.log", "w")
    process = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    chance = random.Random(20261124)
    kth_job, delay = chance.randint(2, 8), chance.uniform(0.0, 1.0)  # the target needs ~12 jobs
    try:
        deadline = time.monotonic() + 300
        while (len(re.findall(r"rule \w+:", (tmp_path / "killed.log").read_text())) < kth_job
               and process.poll() is None):
            assert time.monotonic() < deadline, f"job {kth_job} did not start within 300 s"
            time.sleep(0.05)
        time.sleep(delay)
        assert process.poll() is None, f"the run finished before job {kth_job} + {delay:.1f} s: nothing was killed"
        running = (tmp_path / "killed.log").read_text()
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)
        log.close()
    killed_in = re.findall(r"rule (\w+):", running)[-1]
    print(f"\nkilled {delay:.1f} s after job {kth_job} started, during (or after) rule {killed_in}")
    assert not (tmp_path / TARGET).exists()
    runner.snakemake(tmp_path, "--unlock", timeout=120)
    runner.snakemake(tmp_path, "--cores", "2", "--rerun-incomplete", TARGET, timeout=600)
    assert (tmp_path / TARGET).read_bytes() == (finished_run / TARGET).read_bytes()
    ours, reference = _digest(tmp_path / PREDICTIONS), _digest(finished_run / PREDICTIONS)
    assert ours and ours == reference
    record(f"workflow:killed_in_{killed_in}_and_rerun", "handled", temp_dirs=[tmp_path / "results"])


# ---------------------------------------------------------------- the tally (keep last)


def test_zz_fault_summary():
    if not FAULTS:
        pytest.skip("no fault case ran in this session")
    tried = len(FAULTS)
    rejected = sum(f["outcome"] == "rejected" for f in FAULTS)
    handled = sum(f["outcome"] == "handled" for f in FAULTS)
    tracebacks = sum(f["traceback"] for f in FAULTS)
    partial = sum(f["partial"] for f in FAULTS)
    line = (f"faults: {tried} tried, {rejected} rejected with a clear message, {handled} handled correctly, "
            f"{tracebacks} bare tracebacks, {partial} partial outputs")
    print("\n" + line)
    assert rejected + handled == tried and tracebacks == 0 and partial == 0, line
    assert len({f["name"] for f in FAULTS}) == tried, "two cases share a name"
