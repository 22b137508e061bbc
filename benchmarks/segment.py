"""`arseg segment` on one hour of audio, end to end, against the issue's absolute target
(under 10 s on 2 CPU cores with the yoho backbone).

Input, built once in the work folder: a 1-hour 16 kHz mono 16-bit WAV made of 60 one-minute
mixtures of the demo corpus's test clips over coloured noise (arseg.data.mixtures, fixed seeds).
Model: yoho at the default width (0.25) with label queries over the demo categories,
randomly initialised (nothing is trained; its batch-norm statistics are calibrated on
random features as in the inference benchmark, so activations are of a realistic size),
saved with arseg.model.segmenter.save_model. A label query loads no text encoder; a text
query whose embedding is in the cache costs the same.

Timed: the whole command in a fresh process, `python -m arseg.cli segment hour.wav --label
dog --model yoho.pt --out DIR --threads 2 --quiet --json` (Python and torch start-up, model
load, reading the WAV, log-mel, the model over half-overlapping windows, decoding, writing
the TSV), median of the repeats after a warm-up; also the part the command itself reports
per file (read to TSV). Then where the time goes, stage by stage, in this process (2 torch
threads): reading, log-mel, model (predict_bins), decoding, writing.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .common import SRC, Row, Settings, median, spread
from .data import demo_corpus, quiet

NAME = "segment"
HOUR = 3600.0
THREADS = 2
TARGET = 10.0  # seconds, absolute (issue 6)
LABEL = "dog"
INPUT_VERSION = 1  # bump when the recording's recipe changes


def recording(workdir: Path) -> Path:
    """The 1-hour WAV (built once per work folder)."""
    from arseg.data.mixtures import ClipLoader, ClipPools, MixtureConfig, draw_events, mix
    from arseg.io.audio import write_wav

    path = Path(workdir) / f"segment-hour-v{INPUT_VERSION}" / "hour.wav"
    if path.exists():
        return path
    root, clips = demo_corpus(workdir)
    pool = ClipPools(clips[clips["split"] == "test"])
    cfg = MixtureConfig(duration=60.0, max_events=10)
    load = ClipLoader(root / "audio", cfg.sample_rate)
    pieces = []
    for minute in range(int(HOUR // cfg.duration)):
        rng = np.random.default_rng([7, minute])
        audio, _ = mix(draw_events(rng, pool, cfg), load, rng, cfg)
        pieces.append(audio.astype(np.float32))
    write_wav(path, np.concatenate(pieces), cfg.sample_rate)
    return path


def model_file(workdir: Path) -> Path:
    """A randomly initialised, calibrated yoho label model at the default width (rebuilt every
    run, so it always matches the current model code)."""
    import torch

    from arseg.model.segmenter import ModelConfig, ReferringSegmenter, save_model

    from .inference import calibrate

    _, clips = demo_corpus(workdir)
    torch.manual_seed(0)
    model = calibrate(ReferringSegmenter(ModelConfig(backbone="yoho", query_encoder="label",
                                                     labels=sorted(clips["category"].unique()))))
    path = Path(workdir) / "segment-model" / "yoho.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path)
    return path


def command(wav: Path, model: Path, out: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, file s as the command reports it, segments) of one `arseg segment` run."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SRC), env.get("PYTHONPATH", "")] if p)
    argv = [sys.executable, "-m", "arseg.cli", "segment", str(wav), "--label", LABEL, "--model", str(model),
            "--out", str(out), "--threads", str(THREADS), "--quiet", "--json"]
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"arseg segment failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    entry = report["files"][0]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, entry["seconds"], len(entry["results"][0]["segments"])


def stages(wav: Path, model_path: Path, out: Path) -> dict[str, float]:
    """Seconds of each stage of what the command does per file, in this process."""
    import torch

    from arseg.features.logmel import feature_config, log_mel
    from arseg.infer import segment
    from arseg.infer.windows import model_decodings, predict_bins, segments_from_bins
    from arseg.io.audio import read_mono
    from arseg.model.query_inputs import query_inputs
    from arseg.model.segmenter import load_model, prepare_for_inference

    saved = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        times = {}
        t = time.perf_counter()
        model = load_model(model_path)[0]
        queries = segment.check_queries(model, [], [LABEL], str(model_path))
        inputs = query_inputs(model, [q.text for q in queries])
        fast = prepare_for_inference(model)
        times["model load + prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        audio, meta = read_mono(wav, model.cfg.sample_rate)
        times["read WAV"] = time.perf_counter() - t
        t = time.perf_counter()
        logmel = log_mel(audio, feature_config(model.cfg))
        times["log-mel"] = time.perf_counter() - t
        t = time.perf_counter()
        bins = predict_bins(fast, logmel, inputs, batch_windows=16)
        times["model (predict_bins)"] = time.perf_counter() - t
        t = time.perf_counter()
        decode = model_decodings(model).text
        segments = [s for s in segments_from_bins(bins[0], model, meta.duration, decode)
                    if s[1] - s[0] >= segment.RESOLUTION]
        times["decode"] = time.perf_counter() - t
        t = time.perf_counter()
        segment.write_segments_tsv(out / "stages.tsv", segments)
        times["write TSV"] = time.perf_counter() - t
        return times
    finally:
        torch.set_num_threads(saved)


def run(settings: Settings) -> list[Row]:
    log = settings.log
    workdir = settings.workdir
    began = time.perf_counter()
    with quiet():
        wav = recording(workdir)
    log(f"  input: {wav} ({wav.stat().st_size / 1e6:.0f} MB; ready in {time.perf_counter() - began:.1f} s)")
    model = model_file(workdir)
    out = workdir / "segment-out"
    runs = []
    for r in range(settings.warmup + settings.repeats):
        result = command(wav, model, out)
        log(f"  {'warm-up' if r < settings.warmup else 'run'}: command {result[0]:.2f} s wall, {result[1]:.2f} s CPU; "
            f"file (read to TSV) {result[2]:.2f} s; {result[3]} segments")
        if r >= settings.warmup:
            runs.append(result)
    walls, cpus, files, segments = (list(x) for x in zip(*runs))
    stage_runs = []
    for _ in range(settings.pick(1, 3)):
        out.mkdir(parents=True, exist_ok=True)
        stage_runs.append(stages(wav, model, out))
    shutil.rmtree(out, ignore_errors=True)
    stage = {k: median([s[k] for s in stage_runs]) for k in stage_runs[0]}
    in_process = sum(v for k, v in stage.items() if k != "model load + prepare")
    log("  stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stage.items()))
    wall = median(walls)
    rtf = [HOUR / w for w in walls]
    common = dict(benchmark=NAME, metric="s", peer=HOUR, peer_name="real time")
    model_note = ("yoho, width 0.25, label queries, randomly initialised (calibrated batch norm; nothing trained), "
                  "saved with save_model")
    rows = [
        Row(case=f"one hour, 16 kHz WAV, yoho width 0.25, {THREADS} threads: whole `arseg segment` command",
            ours=wall, ratio=median(rtf), target=f"< {TARGET:g} s", met=wall < TARGET,
            samples={"wall_s": walls, "cpu_s": cpus, "file_s": files, "segments": segments},
            note=f"{model_note}; median of {len(walls)} runs after {settings.warmup} warm-up "
                 f"({spread(walls)} s); ratio = real-time factor (audio seconds per second); CPU time "
                 f"{median(cpus):.1f} s; {segments[0]} segments written",
            **common),
        Row(case="one hour: the part the command reports per file (read WAV to TSV written)",
            ours=median(files), ratio=HOUR / median(files), samples={"file_s": files},
            note="the rest of the command's time is Python and torch start-up and loading the model", **common),
    ]
    for name, seconds in stage.items():
        rows.append(Row(case=f"one hour, stage (in process, {THREADS} threads): {name}", ours=seconds,
                        ratio=HOUR / seconds if seconds >= 0.1 else None,  # real-time factor of the stage
                        samples={"seconds": [s[name] for s in stage_runs]},
                        note=f"{100 * seconds / in_process:.0f}% of the per-file stages" if name != "model load + prepare"
                        else "", **common))
    return rows
