"""Kill a whole workflow run at random jobs and rerun it; check the results equal a run
that was never interrupted (issue 9: "killing the default workflow at a random job, several
trials"). Too slow for the test suite (each trial is one full run); tests/test_faults.py
does one trial on the tiny config in CI.

    python tools/kill_and_rerun.py --reference RUN_DIR --trials 3 [--seed 1] [--config CONFIG]

RUN_DIR is a finished, uninterrupted run of the same checkout and config. Each trial copies
the checkout into a fresh folder, starts `snakemake` (the default profile), SIGKILLs its
process group while its k-th job runs (k drawn at random over the jobs of the run, plus a
random delay under 2 s), unlocks, reruns to the end, and compares every metrics, predictions
and tables file byte for byte with RUN_DIR.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ["results/metrics", "results/predictions", "results/tables"]


def digests(run: Path) -> dict[str, str]:
    files = [p for folder in COMPARED for p in sorted((run / folder).rglob("*")) if p.is_file()]
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def copy_checkout(dest: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def snakemake(workdir: Path, *args: str, log=None, wait=True):
    command = [sys.executable, "-m", "snakemake", *args]
    if not wait:
        return subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return subprocess.run(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, check=True)


def trial(number: int, chance: random.Random, jobs: int, reference: dict, extra: list[str], base: Path) -> bool:
    workdir = base / f"trial{number}"
    shutil.rmtree(workdir, ignore_errors=True)
    copy_checkout(workdir)
    kth, delay = chance.randint(1, jobs - 1), chance.uniform(0.0, 2.0)
    log_path = workdir / "killed.log"
    with open(log_path, "w") as log:
        process = snakemake(workdir, *extra, log=log, wait=False)
        while len(re.findall(r"rule \w+:", log_path.read_text())) < kth and process.poll() is None:
            time.sleep(0.05)
        time.sleep(delay)
        finished_first = process.poll() is not None
        if not finished_first:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    started = re.findall(r"rule (\w+):", log_path.read_text())
    print(f"trial {number}: killed {delay:.1f} s after job {kth} of {jobs} started "
          f"(last rule started: {started[-1] if started else 'none'})", flush=True)
    began = time.perf_counter()
    with open(workdir / "rerun.log", "w") as log:
        snakemake(workdir, "--unlock", *extra, log=log)
        snakemake(workdir, "--rerun-incomplete", *extra, log=log)
    ours = digests(workdir)
    differ = sorted(k for k in reference.keys() | ours.keys() if reference.get(k) != ours.get(k))
    print(f"trial {number}: rerun took {time.perf_counter() - began:.0f} s; {len(ours)} result files, "
          f"{len(differ)} differ from the reference{': ' + ', '.join(differ[:5]) if differ else ''}", flush=True)
    if not differ:
        shutil.rmtree(workdir)
    return not finished_first and not differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a finished uninterrupted run of this checkout")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", help="a config file for every run (default: config/config.yaml)")
    parser.add_argument("--base", type=Path, default=Path("/tmp/arseg-kill-trials"))
    args = parser.parse_args()
    reference = digests(args.reference)
    if not reference:
        parser.error(f"{args.reference}: no results under {COMPARED}")
    extra = ["--configfile", str(Path(args.config).resolve())] if args.config else []
    log_text = "\n".join(p.read_text() for p in (args.reference / ".snakemake" / "log").glob("*.log"))
    jobs = max(int(n) for n in re.findall(r"(\d+) of \d+ steps", log_text) or ["40"])
    chance = random.Random(args.seed)
    passed = sum(trial(n, chance, jobs, reference, extra, args.base) for n in range(1, args.trials + 1))
    print(f"{passed} of {args.trials} trials: killed mid-run, rerun, results identical to the reference")
    return 0 if passed == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
