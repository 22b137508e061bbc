"""One-shot: peak memory of generate_split and then compute_split for one mixture count.

argv: corpus_dir out_dir count -> one JSON line on stdout.
Peak resident memory is taken two ways for each stage:
  hwm   VmHWM from /proc/self/status after resetting it (echo 5 > /proc/self/clear_refs):
        exact, but counts file pages mapped into the process (compute_split's memory-mapped
        output array is resident while it is written: page cache, not heap)
  anon  the largest RssAnon seen by a thread sampling every millisecond: the process's own
        heap, which is what must not grow with the number of mixtures
Both are quoted above the process's resident memory after its imports (the baseline).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import time
from pathlib import Path


def status() -> dict:
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024  # MiB
    return fields


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class AnonSampler:
    def __init__(self):
        self.peak = 0.0
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while self.running:
            self.peak = max(self.peak, status()["RssAnon"])
            time.sleep(0.001)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return max(self.peak, status()["RssAnon"])


def measure(stage) -> dict:
    reset = reset_peak()
    before = status()
    sampler = AnonSampler()
    began = time.perf_counter()
    stage()
    seconds = time.perf_counter() - began
    anon = sampler.stop()
    after = status()
    return {"hwm_mib": after["VmHWM"] if reset else None, "anon_peak_mib": anon, "rss_before_mib": before["VmRSS"],
            "anon_before_mib": before["RssAnon"], "seconds": seconds}


def main():
    corpus, out, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    import torch  # noqa: F401  (imported up front: part of the baseline, not of a stage)

    from arseg.data.corpus.table import read_clips
    from arseg.data.mixtures import MixtureConfig, generate_split
    from arseg.features.logmel import FeatureConfig, compute_split

    clips = read_clips(corpus / "clips.tsv")
    with contextlib.redirect_stderr(io.StringIO()):
        result = {"count": count, "baseline": status()}
        result["mixtures"] = measure(lambda: generate_split(clips, corpus / "audio", out, "train", count,
                                                            MixtureConfig(), seed=0))
        paths = sorted((out / "audio").glob("*.wav"))
        result["features"] = measure(lambda: compute_split(paths, out / "features.npy", out / "features.index.tsv",
                                                           FeatureConfig()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
