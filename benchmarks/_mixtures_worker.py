"""Our side of the mixture benchmark, in its own single-threaded process.

Requests (one JSON line each, see benchmarks/common.py):
  {"kind": "arseg", "corpus": dir, "out": dir, "count": n, "seed": s, "duration": d, "max_events": k}
      arseg.data.mixtures.generate_split, exactly as the workflow's rule calls it
  {"kind": "numpy", "spec": path, "out": dir, "first": i, "count": n}
      the straightforward numpy reference: in-memory clips and backgrounds, the same events
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from arseg.data.corpus.table import read_clips
from arseg.data.mixtures import MixtureConfig, generate_split
from benchmarks.common import serve

_clips = {}
_audio = {}
_specs = {}


def arseg_run(request: dict) -> dict:
    corpus = Path(request["corpus"])
    if corpus not in _clips:
        _clips[corpus] = read_clips(corpus / "clips.tsv")
    cfg = MixtureConfig(duration=request["duration"], max_events=request["max_events"])
    shutil.rmtree(request["out"], ignore_errors=True)  # a fresh folder each run, as in a workflow run
    began, cpu = time.perf_counter(), time.process_time()
    generate_split(_clips[corpus], corpus / "audio", Path(request["out"]), "train", request["count"], cfg,
                   request["seed"])
    return {"seconds": time.perf_counter() - began, "cpu_seconds": time.process_time() - cpu, "count": request["count"]}


def load(path: str) -> np.ndarray:
    if path not in _audio:
        _audio[path] = sf.read(path, dtype="float32")[0]
    return _audio[path]


def numpy_run(request: dict) -> dict:
    """Mix pre-loaded clips at the given spans and SNRs (RMS over the event's span), peak-limit, write."""
    if request["spec"] not in _specs:
        _specs[request["spec"]] = json.loads(Path(request["spec"]).read_text())
    spec = _specs[request["spec"]]
    first = request.get("first", 0)
    mixtures = spec["mixtures"][first:first + request["count"]]
    for mixture in mixtures:  # clips "in memory", as the reference is defined: loading is not timed
        load(mixture["background"])
        for ev in mixture["events"]:
            load(ev["path"])
    out = Path(request["out"])
    shutil.rmtree(out, ignore_errors=True)  # a fresh folder each run, cleared before the clock starts
    out.mkdir(parents=True)
    sr = spec["sample_rate"]
    began, cpu = time.perf_counter(), time.process_time()
    for i, mixture in enumerate(mixtures):
        mix = load(mixture["background"]).copy()
        rows = []
        for ev in mixture["events"]:
            a = int(round(ev["event_time"] * sr))
            n = int(round(ev["event_duration"] * sr))
            s = int(round(ev["source_time"] * sr))
            seg = load(ev["path"])[s:s + n]
            gain = 10 ** (ev["snr"] / 20) * np.sqrt(np.mean(mix[a:a + len(seg)] ** 2) / (np.mean(seg ** 2) + 1e-20))
            mix[a:a + len(seg)] += gain * seg
            rows.append(f"{ev['event_time']}\t{ev['event_time'] + ev['event_duration']}\t{ev['label']}\n")
        peak = np.abs(mix).max()
        if peak > 0.9:
            mix *= 0.9 / peak
        sf.write(out / f"mix_{i:05d}.wav", mix, sr, subtype="PCM_16")
        (out / f"mix_{i:05d}.txt").write_text("".join(rows))
    return {"seconds": time.perf_counter() - began, "cpu_seconds": time.process_time() - cpu, "count": len(mixtures)}


def handle(request: dict) -> dict:
    return {"arseg": arseg_run, "numpy": numpy_run}[request["kind"]](request)


if __name__ == "__main__":
    serve(handle)
