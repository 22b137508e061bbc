"""Mixture generation: arseg.data.mixtures.generate_split vs Scaper on the same events.

The events come from arseg's own draw (draw_events with the per-mixture seed that
generate_split uses), turned into Scaper's vocabulary: each event's in-mixture span as
(source_time, event_time, event_duration) and its SNR. Scaper gets coloured-noise
backgrounds as files (it needs files; generate_split synthesises its split's noise bank,
`arseg.data.mixtures.NoiseBank`, inside the timed call, and cuts each background from it). Both write
a 16-bit WAV plus an annotation table per mixture. Scaper runs in its own virtual
environment (numpy < 2, soxbindings built against libsox), set up here on first use;
when that fails the benchmark says so and compares with a straightforward numpy loop
only (which it always measures as a second peer).

Each side runs in persistent single-threaded worker processes (OMP/MKL/BLAS = 1 thread);
"P processes" runs P workers of a kind at once on different seeds and reports the
aggregate mixtures per second.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from .common import ONE_THREAD, REPO, Row, Settings, Worker, call_all, interleaved, median, paired_ratio, rates, spread
from .data import demo_corpus

NAME = "mixtures"
DURATION = 10.0      # the Scaper measurement: 10 s mixtures with 1 to 4 events
MAX_EVENTS = 4
SCAPER_VERSION = "1.6.5"
VENV = Path(os.environ.get("ARSEG_BENCH_VENV", REPO / ".bench-venv"))
TARGET = 10.0


def scaper_python(log) -> tuple[Path | None, str]:
    """The Scaper venv's python, creating the venv on first use; (None, why) when impossible."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import scaper, numpy; print(scaper.__version__, numpy.__version__)"]
    if python.exists():
        done = subprocess.run(probe, capture_output=True, text=True)
        if done.returncode == 0:
            return python, f"Scaper {done.stdout.split()[0]} (numpy {done.stdout.split()[1]}) in {VENV}"
    log(f"  setting up Scaper {SCAPER_VERSION} in {VENV} (once; about a minute) ...")
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(python), "-m", "pip", "install", "-q", "numpy<2", f"scaper=={SCAPER_VERSION}"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = " ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
            hint = " (soxbindings needs libsox: apt-get install libsox-dev)" if "sox" in tail.lower() else ""
            return None, f"Scaper could not be installed: {' '.join(step[-2:])} failed{hint}: {tail[-300:]}"
    done = subprocess.run(probe, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"Scaper installed but does not import: {done.stderr.strip()[-300:]}"
    return python, f"Scaper {done.stdout.split()[0]} (numpy {done.stdout.split()[1]}) in {VENV}, set up now"


def build_spec(workdir: Path, count: int, seed: int = 0) -> Path:
    """The events of generate_split's first `count` train mixtures, in Scaper's terms."""
    from arseg.data.corpus.table import SPLITS
    from arseg.data.mixtures import MixtureConfig, colored_noise, draw_events

    corpus, clips = demo_corpus(workdir)
    cfg = MixtureConfig(duration=DURATION, max_events=MAX_EVENTS)
    sr, total = cfg.sample_rate, int(round(DURATION * cfg.sample_rate))
    root = workdir / "scaper-input"
    fg, bg = root / "foreground", root / "background" / "noise"
    backgrounds = []
    for k in range(8):  # coloured noise from white to brown, at the workflow's background level
        path = bg / f"noise_{k}.wav"
        backgrounds.append(str(path))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            noise = colored_noise(np.random.default_rng([99, k]), total, exponent=2.0 * k / 7)
            sf.write(path, noise * 10 ** (cfg.background_db / 20), sr, subtype="PCM_16")
    pool = clips[clips["split"] == "train"]
    lengths = {}
    mixtures = []
    for index in range(count):
        rng = np.random.default_rng([seed, SPLITS.index("train"), index])
        events = []
        for event in draw_events(rng, pool, cfg):
            link = fg / event.category / f"{event.clip_id}.wav"
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to((corpus / "audio" / f"{event.clip_id}.wav").resolve())
            if event.clip_id not in lengths:
                lengths[event.clip_id] = sf.info(str(link)).frames
            first = max(event.start_sample, 0)
            last = min(event.start_sample + lengths[event.clip_id], total)
            events.append({"label": event.category, "path": str(link), "source_time": (first - event.start_sample) / sr,
                           "event_time": first / sr, "event_duration": (last - first) / sr, "snr": event.snr_db})
        mixtures.append({"background": backgrounds[index % len(backgrounds)], "events": events})
    spec = {"duration": DURATION, "sample_rate": sr, "ref_db": -20, "fg_path": str(fg), "bg_path": str(bg.parent),
            "bg_label": "noise", "mixtures": mixtures}
    path = root / f"spec-{count}.json"
    path.write_text(json.dumps(spec))
    return path


def run(settings: Settings) -> list[Row]:
    log = settings.log
    workdir = settings.workdir
    corpus, _ = demo_corpus(workdir)
    n_ours = settings.pick(30, 200)
    n_scaper = settings.pick(10, 50)
    n_numpy = settings.pick(30, 200)
    spec = build_spec(workdir, max(n_scaper, n_numpy))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    processes = sorted({1, min(cores, 4)})
    scaper, scaper_note = scaper_python(log)
    log(f"  {scaper_note}")
    out = workdir / "mixtures-out"
    shutil.rmtree(out, ignore_errors=True)

    ours = [Worker([sys.executable, "-m", "benchmarks._mixtures_worker"], env=ONE_THREAD) for _ in range(processes[-1])]
    scapers = []
    if scaper is not None:
        try:
            scapers = [Worker([str(scaper), str(REPO / "benchmarks" / "_scaper_worker.py")], env=ONE_THREAD)
                       for _ in range(processes[-1])]
        except RuntimeError as error:
            scaper_note = f"Scaper installed but its worker failed: {str(error)[-300:]}"
            log(f"  {scaper_note}")
    rows = []
    try:
        for p in processes:
            cases = {
                "arseg": lambda p=p: call_all(ours[:p], [
                    {"kind": "arseg", "corpus": str(corpus), "out": str(out / f"arseg-{j}"), "count": n_ours,
                     "seed": j, "duration": DURATION, "max_events": MAX_EVENTS} for j in range(p)]),
                "numpy": lambda p=p: call_all(ours[:p], [
                    {"kind": "numpy", "spec": str(spec), "out": str(out / f"numpy-{j}"), "count": n_numpy}
                    for j in range(p)]),
            }
            if scapers:
                cases["scaper"] = lambda p=p: call_all(scapers[:p], [
                    {"spec": str(spec), "out": str(out / f"scaper-{j}"), "count": n_scaper} for j in range(p)])
            outputs = {}
            times = interleaved(cases, settings.repeats, settings.warmup, outputs)
            rate = {"arseg": rates(times["arseg"], p * n_ours), "numpy": rates(times["numpy"], p * n_numpy)}
            if scapers:
                rate["scaper"] = rates(times["scaper"], p * n_scaper)
            # CPU milliseconds per mixture inside the workers: less sensitive to foreign load than wall time
            cpu_ms = {name: [1000 * sum(r["cpu_seconds"] for r in replies) / sum(r["count"] for r in replies)
                             for _, replies in outputs[name]] for name in rate}
            for name, values in rate.items():
                log(f"  {p} process(es) {name}: {spread(values)} mixtures/s; CPU {spread(cpu_ms[name])} ms/mixture")
            case = f"{p} process{'es' if p > 1 else ''}, {DURATION:g} s, 1-{MAX_EVENTS} events"
            common = dict(benchmark=NAME, metric="mixtures/s", ours=median(rate["arseg"]))
            samples = {"mixtures_per_s": rate, "cpu_ms_per_mixture": cpu_ms}

            def cpu_note(peer):
                return (f"CPU time per mixture: arseg {median(cpu_ms['arseg']):.1f} ms, {peer} "
                        f"{median(cpu_ms[peer]):.1f} ms (ratio {paired_ratio(cpu_ms[peer], cpu_ms['arseg']):.2f}x)")

            if scapers:
                ratio = paired_ratio(rate["arseg"], rate["scaper"])
                rows.append(Row(case=case, peer=median(rate["scaper"]), peer_name="Scaper " + SCAPER_VERSION,
                                ratio=ratio, target=f">= {TARGET:g}x" if p == 1 else "",
                                met=(ratio >= TARGET) if p == 1 else None, samples=samples,
                                note=f"{scaper_note}; {cpu_note('scaper')}", **common))
            rows.append(Row(case=case, peer=median(rate["numpy"]), peer_name="numpy loop",
                            ratio=paired_ratio(rate["arseg"], rate["numpy"]),
                            target=f">= {TARGET:g}x Scaper" if p == 1 and not scapers else "",
                            met=None, samples=samples,
                            note=("" if scapers else scaper_note + "; ") + cpu_note("numpy"), **common))
        if len(processes) > 1:
            one = {r.peer_name: r for r in rows if r.case.startswith("1 process")}
            many = {r.peer_name: r for r in rows if not r.case.startswith("1 process")}
            for key, row in many.items():
                row.note = (row.note + "; " if row.note else "") + (
                    f"scaling {processes[-1]} processes: arseg {row.ours / one[key].ours:.2f}x, "
                    f"{key} {row.peer / one[key].peer:.2f}x of one process")
    finally:
        for worker in ours + scapers:
            worker.close()
        shutil.rmtree(out, ignore_errors=True)
    return rows
