"""SoundDescs corpus: safe unpickling, licence gate, clip table, sharded download, prepare.

All network traffic goes to a real HTTP server on 127.0.0.1 (tests/http_fixture.py)
that serves the real upstream metadata from shared/sounddescs-metadata, a generated
descriptions.pkl and generated zipped WAVs, and misbehaves on demand per path.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import stat
import subprocess
import sys
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from arseg.data.sounddescs import (
    LicenceNotAcceptedError,
    MetadataError,
    ShardFailedError,
    UnsafePickleError,
    build_clip_table,
    download_shard,
    excerpt_spans,
    fetch_metadata,
    load_metadata,
    load_pickle,
    gather_corpus,
    prepare_clips,
    shard_clip_ids,
    read_clip_table,
    shard_ids,
    write_clip_table,
)
from arseg.data.corpus.table import CorpusError
from arseg.data.sounddescs.metadata import load_categories, parse_download_links, read_splits
from arseg.io.audio import read_mono

# The class project's 6-class protocol, as the config schema gives it by default.
SEED6_CATEGORY_MAP = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml")
                                    .read_text())["properties"]["corpus"]["properties"]["sounddescs"]["properties"][
    "clip_table"]["properties"]["category_maps"]["properties"]["seed6"]["default"]

TESTS = Path(__file__).resolve().parent
META_FILES = ["categories.pkl", "download_links.txt", "train_list.txt", "val_list.txt", "test_list.txt"]


def _find_metadata_dir() -> Path:
    """shared/sounddescs-metadata beside the repo (or inside it on a copied tree)."""
    for parent in TESTS.parents:
        candidate = parent / "shared" / "sounddescs-metadata"
        if candidate.is_dir():
            return candidate
    pytest.fail(f"shared/sounddescs-metadata not found above {TESTS}; these tests need the real "
                "SoundDescs metadata (categories.pkl, download_links.txt, *_list.txt)")


def _load_helper():
    """tests/ has no __init__.py (importlib mode): load the server helper by path."""
    spec = importlib.util.spec_from_file_location("sounddescs_http_fixture", TESTS / "http_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def meta_dir() -> Path:
    path = _find_metadata_dir()
    missing = [f for f in META_FILES if not (path / f).is_file()]
    if missing:
        pytest.fail(f"{path} lacks {missing}")
    return path


@pytest.fixture(scope="module")
def categories(meta_dir):
    return load_categories(meta_dir / "categories.pkl")


def _bucket(clip_id: str, n: int) -> int:
    return zlib.crc32(clip_id.encode()) % n


def synthetic_descriptions(categories) -> defaultdict:
    """id -> text in the upstream style (a pickled defaultdict), with known keyword hits."""
    out = defaultdict(list)
    for clip_id, cats in categories.items():
        if "Transport" in cats:
            out[clip_id] = ["Car passing by on a wet road.", "Aircraft taking off, jet engine.",
                            "Steam train\tdeparting\nthe station.", "Cartwheels on cobbles."][_bucket(clip_id, 4)]
        elif "Nature" in cats:
            out[clip_id] = "Tropical rainforest atmosphere." if _bucket(clip_id, 3) == 0 else "Wind in trees."
        else:
            out[clip_id] = "Recording: " + ", ".join(cats)
    return out


@pytest.fixture(scope="module")
def descriptions_pkl(tmp_path_factory, categories) -> bytes:
    return pickle.dumps(synthetic_descriptions(categories), protocol=3)


@pytest.fixture
def server():
    with _load_helper().FixtureServer() as srv:
        yield srv


def wav_bytes(seconds=0.2, sr=44100, channels=2, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, 0.1 * rng.standard_normal((int(seconds * sr), channels)), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def zip_bytes(entries: dict[str | zipfile.ZipInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def audio_path(clip_id: str) -> str:
    return f"/zip/{clip_id.upper()}.wav.zip"


# --------------------------------------------------------------------- safe unpickling
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_safe_unpickler_loads_real_metadata(meta_dir):
    cats = load_pickle(meta_dir / "categories.pkl")
    assert isinstance(cats, defaultdict) and cats.default_factory is list
    assert len(cats) == 33062


@pytest.mark.parametrize("payload", ["system", "eval", "ordereddict"])
def test_safe_unpickler_refuses_malicious_pickle_without_running_it(tmp_path, payload):
    marker = tmp_path / "pwned"
    obj = {"system": _Evil(marker), "eval": None, "ordereddict": None}[payload]
    data = pickle.dumps(obj)
    if payload == "eval":  # builtins.eval("...") via REDUCE
        data = b"cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR."
    if payload == "ordereddict":  # harmless, but still not on the allow-list
        import collections
        data = pickle.dumps(collections.OrderedDict(a=1))
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError) as err:
        load_pickle(path)
    assert str(path) in str(err.value) and "refusing" in str(err.value)
    assert not marker.exists(), "the pickle's payload ran"


def test_safe_unpickler_reports_corrupt_pickle(tmp_path):
    path = tmp_path / "broken.pkl"
    path.write_bytes(pickle.dumps(defaultdict(list, a=["x"]))[:20])
    with pytest.raises(UnsafePickleError, match="broken.pkl"):
        load_pickle(path)


# --------------------------------------------------------------------- licence
@pytest.mark.parametrize("value", [False, None, "true", 1])
def test_download_refuses_without_licence_acceptance(tmp_path, server, value):
    server.add(audio_path("ok1"), zip_bytes({"OK1.wav": wav_bytes()}))
    with pytest.raises(LicenceNotAcceptedError) as err:
        download_shard(["ok1"], tmp_path / "raw", tmp_path / "m.tsv", accept_licence=value,
                       audio_base_url=server.url + "/zip", progress=False)
    message = str(err.value)
    assert "RemArc" in message and "non-commercial" in message
    assert "corpus.sounddescs.accept_licence" in message
    assert sum(server.hits.values()) == 0 and not (tmp_path / "raw").exists()


# --------------------------------------------------------------------- metadata + clip table
def _serve_metadata(server, meta_dir, descriptions_pkl):
    for name in ["categories.pkl", "download_links.txt"]:
        server.add(f"/meta/sounddescs_data/{name}", (meta_dir / name).read_bytes())
    server.add("/meta/sounddescs_data/descriptions.pkl", descriptions_pkl)
    for name in ["train_list.txt", "val_list.txt", "test_list.txt"]:
        server.add(f"/meta/data/SoundDescs/{name}", (meta_dir / name).read_bytes())
    return dict(data_base_url=server.url + "/meta/sounddescs_data/",
                splits_base_url=server.url + "/meta/data/SoundDescs/")


def test_fetch_metadata_from_mirror_with_checksums(tmp_path, server, meta_dir, descriptions_pkl):
    urls = _serve_metadata(server, meta_dir, descriptions_pkl)
    server.misbehave("/meta/data/SoundDescs/val_list.txt", "500", times=1)  # retried
    sha = {n: hashlib.sha256((meta_dir / n).read_bytes()).hexdigest() for n in META_FILES}
    paths = fetch_metadata(tmp_path / "meta", **urls, sha256=sha, retries=2, backoff=0.01, timeout=5,
                           progress=False)
    for name in META_FILES:
        assert paths[name].read_bytes() == (meta_dir / name).read_bytes()
    assert server.hits["/meta/data/SoundDescs/val_list.txt"] == 2
    assert sorted(p.name for p in (tmp_path / "meta").iterdir()) == sorted(META_FILES + ["descriptions.pkl"])

    before = sum(server.hits.values())  # a rerun finds everything in place
    fetch_metadata(tmp_path / "meta", **urls, sha256=sha, timeout=5, progress=False)
    assert sum(server.hits.values()) == before


def test_fetch_metadata_errors_name_the_url(tmp_path, server, meta_dir, descriptions_pkl):
    urls = _serve_metadata(server, meta_dir, descriptions_pkl)
    with pytest.raises(MetadataError, match=r"categories\.pkl: sha256 .* does not match"):
        fetch_metadata(tmp_path / "a", **urls, sha256={"categories.pkl": "0" * 64}, timeout=5, progress=False)
    assert not (tmp_path / "a" / "categories.pkl").exists()
    server.misbehave("/meta/data/SoundDescs/test_list.txt", "404")
    with pytest.raises(MetadataError, match=r"test_list\.txt after 1 attempt\(s\): HTTP 404"):
        fetch_metadata(tmp_path / "b", **urls, retries=2, backoff=0.01, timeout=5, progress=False)
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".")]


def test_clip_table_seed6_on_real_categories(tmp_path, meta_dir, categories, descriptions_pkl):
    folder = tmp_path / "meta"  # the real files plus the generated descriptions.pkl
    folder.mkdir()
    for name in META_FILES:
        (folder / name).symlink_to(meta_dir / name)
    (folder / "descriptions.pkl").write_bytes(descriptions_pkl)
    meta = load_metadata(folder)
    table = build_clip_table(**meta, category_map=SEED6_CATEGORY_MAP)
    counts = table.category.value_counts().to_dict()
    print("\nseed6 clips per class (real categories.pkl, synthetic descriptions):", counts)
    print("per split:\n", pd.crosstab(table.category, table.split))
    print("dropped:", table.attrs["dropped"])

    # direct SoundDescs categories: exact counts from the real metadata
    assert counts["crowds"] == 482 and counts["footsteps"] == 617 and counts["clocks"] == 716
    # keyword classes: exactly the clips whose synthetic description has the word
    split_ids = {i for ids in read_splits(meta_dir).values() for i in ids}
    expect = Counter()
    for clip_id in split_ids:
        cats = categories[clip_id]
        if "Transport" in cats and _bucket(clip_id, 4) in (0, 1):  # "Cartwheels" must not count as car
            expect[["car", "aircraft"][_bucket(clip_id, 4)]] += 1
        if "Nature" in cats and _bucket(clip_id, 3) == 0:
            expect["rainforest"] += 1
    for name in ["car", "aircraft", "rainforest"]:
        assert counts[name] == expect[name] > 0
    assert set(counts) == set(SEED6_CATEGORY_MAP)

    assert list(table.columns[:4]) == ["clip_id", "category", "description", "split"]
    assert table.clip_id.is_unique and table.clip_id.is_monotonic_increasing
    assert (table.source_id == table.clip_id.str.upper()).all()
    assert set(table.split) == {"train", "val", "test"}
    assert not table.description.str.contains("[\t\n]").any()
    assert table.attrs["dropped"]["no_split"] == 83
    # multi-category clips map deterministically, e.g. Clocks+Machines -> clocks
    row = table[table.source_categories == "Clocks|Machines"].iloc[0]
    assert row.category == "clocks"
    # ids keep their leading zeros through the TSV
    write_clip_table(tmp_path / "table.tsv", table)
    back = read_clip_table(tmp_path / "table.tsv")
    assert back.clip_id.tolist() == table.clip_id.tolist() and back.clip_id.str.startswith("0").any()


def test_clip_table_conflicts_unknown_categories_and_bad_ids():
    cats = {"a": ["Crowds", "Footsteps"], "b": ["Footsteps"], "c": ["Clocks"]}
    desc = {"a": "x", "b": "y", "c": "z"}
    splits = {"train": ["a", "b"], "test": ["C"]}  # split lists are lower-cased
    cmap = {"crowds": "Crowds", "footsteps": {"category": "Footsteps"}, "clocks": [{"category": "Clocks"}]}
    first = build_clip_table(cats, desc, splits, cmap)
    assert first.set_index("clip_id").category.to_dict() == {"a": "crowds", "b": "footsteps", "c": "clocks"}
    dropped = build_clip_table(cats, desc, splits, cmap, on_conflict="drop")
    assert dropped.clip_id.tolist() == ["b", "c"] and dropped.attrs["dropped"]["conflict"] == 1
    with pytest.raises(MetadataError, match="unknown SoundDescs category 'Clock'"):
        build_clip_table(cats, desc, splits, {"clocks": "Clock"})
    with pytest.raises(MetadataError, match="in both the train and test"):
        build_clip_table(cats, desc, {"train": ["a"], "test": ["a"]}, cmap)
    with pytest.raises(CorpusError, match=r"'\.\./x'"):
        build_clip_table(cats, desc, {"train": ["../x"]}, cmap)


def test_download_links_parse(meta_dir):
    links = parse_download_links(meta_dir / "download_links.txt")
    assert len(links) == 33064
    assert links["nhu05030045"] == "https://sound-effects-media.bbcrewind.co.uk/zip/NHU05030045.wav.zip"


# --------------------------------------------------------------------- sharding
def test_shard_ids_is_a_deterministic_partition():
    ids = [f"id{i:04d}" for i in range(500)]
    shards = shard_ids(ids, 4)
    assert sorted(i for s in shards for i in s) == sorted(ids)
    assert shards == shard_ids(list(reversed(ids)) + ids[:10], 4)  # order and duplicates do not matter
    assert all(60 < len(s) < 190 for s in shards)
    assert shard_ids(ids, 1) == [sorted(ids)]
    # an id's shard does not depend on the other ids
    assert [s for s in shard_ids(ids[:50], 4)] == [[i for i in s if i in ids[:50]] for s in shards]
    with pytest.raises(CorpusError):
        shard_ids(["ok", "a/b"], 2)
    assert shard_clip_ids(ids, 1, 4) == shards[1]
    with pytest.raises(ValueError, match="shard 4 does not exist: corpus.sounddescs.n_shards is 4"):
        shard_clip_ids(ids, 4, 4)


# --------------------------------------------------------------------- download
def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("LINK.wav")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_download_shard_faults_retries_manifest_and_rerun(tmp_path, server):
    good = {i: wav_bytes(seed=n) for n, i in enumerate(["ok1", "ok2", "flaky500", "droponce"])}
    for clip_id, data in good.items():
        server.add(audio_path(clip_id), zip_bytes({f"{clip_id.upper()}.wav": data}))
    server.misbehave(audio_path("flaky500"), "500", times=2)
    server.misbehave(audio_path("droponce"), "drop", times=1)
    bodies = {
        "always500": zip_bytes({"ALWAYS500.wav": wav_bytes()}),
        "dropped": zip_bytes({"DROPPED.wav": wav_bytes()}),
        "slow": zip_bytes({"SLOW.wav": wav_bytes()}),
        "truncated": zip_bytes({"TRUNCATED.wav": wav_bytes()})[:300],
        "evil": zip_bytes({"../evil.wav": wav_bytes()}),
        "absolute": zip_bytes({"/tmp/absolute.wav": wav_bytes()}),
        "symlink": zip_bytes({_symlink_entry(): b"/etc/passwd"}),
        "badwav": zip_bytes({"BADWAV.wav": b"RIFF\x00\x00\x00\x00WAVEjunk" * 10}),
    }
    for clip_id, body in bodies.items():
        server.add(audio_path(clip_id), body)
    server.misbehave(audio_path("always500"), "500")
    server.misbehave(audio_path("dropped"), "drop")
    server.misbehave(audio_path("slow"), "slow", delay=3.0)
    ids = list(good) + list(bodies) + ["missing"]  # 'missing' is a 404

    out, manifest_path = tmp_path / "raw", tmp_path / "manifests" / "shard-0.tsv"
    opts = dict(accept_licence=True, audio_base_url=server.url + "/zip", parallel=2, retries=2,
                backoff=0.01, timeout=0.3, progress=False)
    t0 = time.monotonic()
    manifest = download_shard(ids, out, manifest_path, max_failure_rate=1.0, **opts)
    assert time.monotonic() - t0 < 10
    on_disk = pd.read_csv(manifest_path, sep="\t", keep_default_na=False)
    assert list(on_disk.columns) == ["id", "status", "attempts", "bytes", "reason"]
    assert on_disk.id.tolist() == sorted(ids)
    m = manifest.set_index("id")

    expected_attempts = {"ok1": 1, "ok2": 1, "flaky500": 3, "droponce": 2}
    for clip_id, attempts in expected_attempts.items():
        assert (m.status[clip_id], m.attempts[clip_id]) == ("fetched", attempts)
        assert server.hits[audio_path(clip_id)] == attempts
        assert np.array_equal(sf.read(out / f"{clip_id}.wav")[0], sf.read(io.BytesIO(good[clip_id]))[0])
    assert m.bytes["ok1"] == len(zip_bytes({"OK1.wav": good["ok1"]}))
    failures = {  # id -> (attempts, words in the reason)
        "missing": (1, "HTTP 404"),
        "always500": (3, "HTTP 500"),
        "dropped": (3, "connection dropped"),
        "slow": (3, "timed out"),
        "truncated": (1, "not a valid zip"),
        "evil": (1, "unsafe zip entry '../evil.wav'"),
        "absolute": (1, "absolute path"),
        "symlink": (1, "symlink"),
        "badwav": (1, "does not decode"),
    }
    for clip_id, (attempts, words) in failures.items():
        assert m.status[clip_id] == "failed", clip_id
        assert m.attempts[clip_id] == attempts == server.hits[audio_path(clip_id)], clip_id
        assert words in m.reason[clip_id] and audio_path(clip_id) in m.reason[clip_id], m.reason[clip_id]
    # nothing partial kept, nothing escaped the folder
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.wav" for i in good)
    assert not (tmp_path / "evil.wav").exists()

    # rerun: finished clips are not fetched again; too many failures -> clear error naming the manifest
    hits_before = Counter(server.hits)
    with pytest.raises(ShardFailedError, match=str(manifest_path)) as err:
        download_shard(ids, out, manifest_path, max_failure_rate=0.5, **opts)
    assert "9 of 13 clips failed" in str(err.value)
    rerun = pd.read_csv(manifest_path, sep="\t", keep_default_na=False).set_index("id")
    for clip_id in good:
        assert (rerun.status[clip_id], rerun.attempts[clip_id], rerun.bytes[clip_id]) == ("skipped_existing", 0, 0)
        assert server.hits[audio_path(clip_id)] == hits_before[audio_path(clip_id)]
    assert (rerun.status == "failed").sum() == 9
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.wav" for i in good)


def test_download_rejects_unsafe_ids(tmp_path):
    with pytest.raises(CorpusError, match=r"'\.\./evil'"):
        download_shard(["ok", "../evil"], tmp_path, tmp_path / "m.tsv", accept_licence=True, progress=False)


def test_download_resumes_over_stale_temporaries(tmp_path, server):
    server.add(audio_path("ok3"), zip_bytes({"OK3.wav": wav_bytes()}))
    out = tmp_path / "raw"
    out.mkdir()
    (out / ".ok3.wav.zip.part").write_bytes(b"PK\x03\x04 half a zip")
    (out / ".ok3.wav.k2j4h1x_.tmp.wav").write_bytes(b"RIFF half a wav")
    manifest = download_shard(["ok3"], out, tmp_path / "m.tsv", accept_licence=True,
                              audio_base_url=server.url + "/zip", timeout=5, progress=False)
    assert manifest.status.tolist() == ["fetched"]
    assert sorted(p.name for p in out.iterdir()) == ["ok3.wav"]


def test_download_killed_mid_body_resumes(tmp_path, server):
    body = zip_bytes({"TRICKLE.wav": wav_bytes(seconds=1.0, seed=7)})
    server.add(audio_path("trickle"), body)
    server.misbehave(audio_path("trickle"), "trickle", chunk=2048, delay=0.05)
    out = tmp_path / "raw"
    script = (
        "import sys; from arseg.data.sounddescs import download_shard; "
        "download_shard(['trickle'], sys.argv[1], sys.argv[2], accept_licence=True, "
        "audio_base_url=sys.argv[3], timeout=5, retries=0, progress=False)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", script, str(out), str(tmp_path / "m.tsv"), server.url + "/zip"],
                            env=env)
    part = out / ".trickle.wav.zip.part"
    try:
        deadline = time.monotonic() + 20
        while not (part.exists() and part.stat().st_size > 0):  # bounded by the deadline
            assert proc.poll() is None, "the download finished before it could be killed"
            assert time.monotonic() < deadline, "no partial download appeared"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert 0 < part.stat().st_size < len(body)
    assert not (out / "trickle.wav").exists() and not (tmp_path / "m.tsv").exists()

    server.behave(audio_path("trickle"))
    manifest = download_shard(["trickle"], out, tmp_path / "m.tsv", accept_licence=True,
                              audio_base_url=server.url + "/zip", timeout=5, progress=False)
    assert manifest.status.tolist() == ["fetched"] and manifest.attempts.tolist() == [1]
    assert sorted(p.name for p in out.iterdir()) == ["trickle.wav"]
    assert np.array_equal(sf.read(out / "trickle.wav")[0], sf.read(io.BytesIO(zipfile.ZipFile(io.BytesIO(body))
                                                                              .read("TRICKLE.wav")))[0])


# --------------------------------------------------------------------- prepare
SR_IN = 44100


def _events(seconds: float, events: list[tuple[float, float, float]], seed=0, sr=SR_IN) -> np.ndarray:
    """Stereo: -80 dBFS noise plus 440 Hz tones (start, end, amplitude); right channel at 60%."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    mono = 1e-4 * rng.standard_normal(len(t))
    for start, end, amp in events:
        inside = (t >= start) & (t < end)
        mono[inside] += amp * np.sin(2 * np.pi * 440 * t[inside])
    return np.stack([mono, 0.6 * mono], axis=1)


def test_sources_are_downmixed_and_resampled(tmp_path):
    """prepare reads its sources through io.audio.read_mono: channels averaged, soxr resampling."""
    const = np.stack([np.full(1600, 0.5), np.full(1600, 0.1)], axis=1)
    sf.write(tmp_path / "c.wav", const, 16000, subtype="FLOAT")
    assert np.allclose(read_mono(tmp_path / "c.wav", 16000)[0], 0.3, atol=1e-6)

    sf.write(tmp_path / "t.wav", _events(2.0, [(0, 2, 0.5)]), SR_IN, subtype="PCM_16")
    mono = read_mono(tmp_path / "t.wav", 16000)[0]
    assert mono.dtype == np.float32 and len(mono) == round(2.0 * 16000)
    spectrum = np.abs(np.fft.rfft(mono))
    assert abs(np.argmax(spectrum) * 16000 / len(mono) - 440) < 2  # pitch survives resampling
    assert 0.75 < np.abs(mono).max() / 0.5 / 0.8 < 1.05  # (L + 0.6 L) / 2 = 0.8 L


def test_excerpt_modes():
    sr = 16000
    audio = _events(20.0, [(5.0, 8.0, 0.5), (12.0, 12.8, 0.4)])[:, 0]
    audio = np.interp(np.arange(20 * sr) / sr, np.arange(len(audio)) / SR_IN, audio)  # cheap 16 kHz copy
    (start, end), = excerpt_spans(audio, sr, {"mode": "longest_active", "max_seconds": 10})
    assert abs(start / sr - 5.0) < 0.1 and abs(end / sr - 8.0) < 0.1
    (start, end), = excerpt_spans(audio, sr, {"mode": "longest_active", "max_seconds": 2})
    assert end - start == 2 * sr and 4.9 <= start / sr and end / sr <= 8.1
    short = np.interp(np.arange(4 * sr) / sr, [0, 1.0, 1.0, 1.3, 1.3, 4], [0, 0, 1, 1, 0, 0]) * 0.5
    (start, end), = excerpt_spans(short, sr, {"mode": "longest_active", "min_seconds": 1.0})
    assert end - start == sr and start / sr <= 1.0 and end / sr >= 1.3
    assert excerpt_spans(np.zeros(sr), sr) == []  # silence: nothing to cut

    spans = excerpt_spans(audio, sr, {"mode": "n_excerpts", "n_excerpts": 3, "excerpt_seconds": 1.5})
    assert len(spans) == 3 and spans == sorted(spans)
    assert all(e - s == round(1.5 * sr) for s, e in spans)
    assert all(e0 <= s1 for (_, e0), (s1, _) in zip(spans, spans[1:]))  # no overlap
    assert all(np.sqrt(np.mean(audio[s:e] ** 2)) > 0.05 for s, e in spans)  # all from active parts
    with pytest.raises(ValueError, match="unknown excerpt option"):
        excerpt_spans(audio, sr, {"mode": "n_excerpts", "n_excerpt": 3})


def prepare_in_shards(table, raw, corpus, excerpt, n_shards=2):
    """As the workflow does: prepare_clips per shard into a folder of its own, then gather_corpus."""
    excerpt_tables, audio_dirs, skipped_tables = [], [], []
    for shard in range(n_shards):
        ids = shard_clip_ids(table.clip_id, shard, n_shards)
        audio_dirs.append(corpus.parent / f"{corpus.name}_shard{shard}")
        excerpts, skipped = prepare_clips(table[table.clip_id.isin(ids)], raw, audio_dirs[-1], sample_rate=16000,
                                          excerpt=excerpt, progress=False)
        excerpt_tables.append(corpus.parent / f"{corpus.name}_excerpts{shard}.tsv")
        skipped_tables.append(corpus.parent / f"{corpus.name}_skipped{shard}.tsv")
        excerpts.to_csv(excerpt_tables[-1], sep="\t", index=False)
        skipped.to_csv(skipped_tables[-1], sep="\t", index=False)
    return gather_corpus(excerpt_tables, audio_dirs, skipped_tables, corpus)


def test_prepared_shards_gather_into_a_contract_folder(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    sf.write(raw / "07000001.wav", _events(20.0, [(5.0, 8.0, 0.5), (12.0, 12.8, 0.4)]), SR_IN, subtype="PCM_16")
    sf.write(raw / "nhu0002.wav", _events(6.0, [(1.0, 5.0, 0.3)], seed=1, sr=48000), 48000, subtype="PCM_24")
    table = pd.DataFrame({
        "clip_id": ["07000001", "nhu0002", "gone"], "category": ["car", "crowds", "clocks"],
        "description": ["Car passing.", "Crowd.", "Clock."], "split": ["train", "test", "val"],
        "source_id": ["07000001", "NHU0002", "GONE"], "source_categories": ["Transport", "Crowds", "Clocks"],
    })
    corpus = tmp_path / "corpus"
    prepare_in_shards(table, raw, corpus, {"mode": "n_excerpts", "n_excerpts": 2, "excerpt_seconds": 1.0})
    clips = pd.read_csv(corpus / "clips.tsv", sep="\t", dtype={"clip_id": str})
    assert list(clips.columns) == ["clip_id", "category", "description", "duration", "split"]
    assert clips.clip_id.tolist() == ["07000001_0", "07000001_1", "nhu0002_0", "nhu0002_1"]
    assert clips.split.tolist() == ["train", "train", "test", "test"]
    for row in clips.itertuples():
        info = sf.info(corpus / "audio" / f"{row.clip_id}.wav")
        assert (info.channels, info.samplerate, info.subtype) == (1, 16000, "PCM_16")
        assert abs(info.frames / 16000 - row.duration) < 1e-4 and abs(row.duration - 1.0) < 1e-4
    assert sorted(p.name for p in (corpus / "audio").iterdir()) == sorted(f"{c}.wav" for c in clips.clip_id)
    skipped = pd.read_csv(corpus / "skipped.tsv", sep="\t")
    assert skipped.source_id.tolist() == ["gone"] and "no downloaded audio" in skipped.reason[0]
    from arseg.data.corpus.table import read_clips  # the project's corpus-contract checker
    assert read_clips(corpus / "clips.tsv").clip_id.tolist() == clips.clip_id.tolist()
    excerpts = pd.read_csv(corpus / "excerpts.tsv", sep="\t", dtype={"clip_id": str, "source_id": str})
    assert excerpts.source_id.tolist() == ["07000001", "07000001", "nhu0002", "nhu0002"]

    prepare_in_shards(table, raw, tmp_path / "c2", {"mode": "longest_active"})
    clips = pd.read_csv(tmp_path / "c2" / "clips.tsv", sep="\t", dtype={"clip_id": str}).set_index("clip_id")
    assert abs(clips.duration["07000001_0"] - 3.0) < 0.1 and abs(clips.duration["nhu0002_0"] - 4.0) < 0.1
