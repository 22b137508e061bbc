"""Peak memory of mixture generation and feature extraction as the number of mixtures
grows (default mixture config: 8 s, 1-3 events, demo corpus). Each size runs in a fresh
subprocess (benchmarks/_memory_worker.py), single-threaded as the workflow's rules are.
Streaming means the process's own memory (anonymous pages: heap, arrays) stays flat; the
figure is the peak above the stage's start (the process after its imports, or after the
previous stage);
the memory-mapped feature array being written shows up as resident file pages, reported
separately, since the kernel writes them back and drops them under pressure.
Sizes start at 100 mixtures, by which point the clip cache holds the whole demo corpus.
Peer: the smallest size; ratio = peak at this size / peak at the smallest size.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from .common import ONE_THREAD, REPO, SRC, Row, Settings
from .data import demo_corpus

NAME = "memory"
TOLERANCE_MIB = 16.0  # allowed growth of the anonymous peak from the smallest to the largest size
CACHE_NOTE = ("; generate_split's working memory is mostly its clip cache (ClipLoader: up to 512 clips as "
              "float32), full here from about 100 mixtures on (the demo corpus has 72 training clips): bounded "
              "by the corpus, not by the number of mixtures")


def run(settings: Settings) -> list[Row]:
    log = settings.log
    corpus, _ = demo_corpus(settings.workdir)
    sizes = settings.pick([100, 250], [100, 400, 1200])
    env = dict(os.environ, **ONE_THREAD, TQDM_DISABLE="1",
               PYTHONPATH=os.pathsep.join(p for p in [str(SRC), str(REPO), os.environ.get("PYTHONPATH", "")] if p))
    results = []
    for count in sizes:
        out = settings.workdir / f"memory-{count}"
        shutil.rmtree(out, ignore_errors=True)
        done = subprocess.run([sys.executable, "-m", "benchmarks._memory_worker", str(corpus), str(out), str(count)],
                              cwd=REPO, env=env, capture_output=True, text=True)
        shutil.rmtree(out, ignore_errors=True)
        if done.returncode != 0:
            raise RuntimeError(f"memory worker failed for {count} mixtures:\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        for stage in ("mixtures", "features"):
            r = result[stage]
            log(f"  {count} mixtures, {stage}: anonymous peak {r['anon_peak_mib']:.0f} MiB "
                f"(+{r['anon_peak_mib'] - r['anon_before_mib']:.0f} over the baseline), resident peak "
                f"{r['hwm_mib'] if r['hwm_mib'] is None else round(r['hwm_mib'])} MiB, {r['seconds']:.1f} s")
    rows = []
    for stage, what in (("mixtures", "generate_split"), ("features", "compute_split")):
        above = [r[stage]["anon_peak_mib"] - r[stage]["anon_before_mib"] for r in results]
        growth = above[-1] - above[0]
        for i, result in enumerate(results):
            r = result[stage]
            last = i == len(results) - 1
            hwm = "" if r["hwm_mib"] is None else (
                f"; resident peak {r['hwm_mib']:.0f} MiB including mapped file pages")
            rows.append(Row(
                benchmark=NAME, case=f"{what}, {result['count']} mixtures", metric="MiB peak above start",
                ours=above[i], peer=above[0] if i else None, peer_name=f"{sizes[0]} mixtures" if i else "",
                ratio=above[i] / above[0] if i and above[0] > 0 else None,
                target=f"flat (+<= {TOLERANCE_MIB:g} MiB)" if last else "",
                met=(growth <= TOLERANCE_MIB) if last else None, samples=r,
                note=f"anonymous memory peak {r['anon_peak_mib']:.0f} MiB, {r['anon_before_mib']:.0f} MiB at the "
                     f"start of the stage{hwm}; {r['seconds']:.1f} s"
                     + (CACHE_NOTE if stage == "mixtures" and i == 0 else "")))
    return rows
