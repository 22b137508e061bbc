"""Run the benchmarks: `python -m benchmarks [NAME ...] [--quick]` from the repository root.

Prints a table (median of repeats after warm-up; ratio = paired median against the peer
measured interleaved in the same run) and writes JSON and Markdown to results/benchmarks/.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

# As the arseg command line does (src/arseg/cli.py), before torch loads its OpenMP runtime:
# idle OpenMP threads sleep instead of spinning, which on a shared CPU is the difference
# between a usable and a 5-25x slower multi-threaded torch. Override it in the environment.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # arseg, installed or not

from benchmarks.common import REPO, Row, Settings, environment, load_average, table  # noqa: E402

# name -> (module, one-line description), in the order they run
BENCHMARKS = {
    "mixtures": ("mixtures", "mixture generation vs Scaper and a numpy loop, 1 and N processes"),
    "logmel": ("logmel", "log-mel extraction vs librosa, with and without WAV I/O"),
    "encoder": ("encoder", "the pretrained aisfx encoder vs the package's own pipeline, per hour of audio"),
    "inference": ("inference", "real-time factor, parameters and MACs per backbone"),
    "segment": ("segment", "`arseg segment` on one hour of audio, end to end, stage by stage"),
    "training": ("training", "training throughput per backbone"),
    "evaluation": ("evaluation", "evaluation time per 1,000 queries"),
    "planning": ("planning", "snakemake -n time and job count"),
    "memory": ("memory", "peak memory of mixtures and features as the count grows"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats (about 4 minutes in all)")
    parser.add_argument("--repeats", type=int, help="timed repeats per case (default 5, quick 3)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks", help="where JSON and Markdown go")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "arseg-benchmarks",
                        help="scratch folder; inputs built here are reused by later runs")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (_, about) in BENCHMARKS.items():
            print(f"{name:12s} {about}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(quick=args.quick, repeats=args.repeats or (3 if args.quick else 5), warmup=1,
                        workdir=args.workdir, log=lambda msg: print(msg, flush=True))
    env = environment()
    print(f"{env.get('cpu_model', '?')}, {env['cpu_count']} CPUs, torch {env['torch']} ({env['torch_threads']} threads), "
          f"load average {env['load_average']}; {'quick' if args.quick else 'full'} mode, {settings.repeats} repeats",
          flush=True)
    started = dt.datetime.now().astimezone()
    rows: list[Row] = []
    report = {"started": started.isoformat(timespec="seconds"), "quick": args.quick, "repeats": settings.repeats,
              "environment": env, "benchmarks": {}}
    failed = []
    for name in names:
        module, about = BENCHMARKS[name]
        print(f"== {name}: {about}", flush=True)
        began = time.perf_counter()
        entry = {"started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                 "load_average_before": load_average()}
        try:
            new = importlib.import_module(f"benchmarks.{module}").run(settings)
        except Exception as error:  # keep going: one broken benchmark should not hide the others
            traceback.print_exc()
            failed.append(name)
            entry["error"] = f"{type(error).__name__}: {error}"
            new = []
        entry.update(seconds=round(time.perf_counter() - began, 1), load_average_after=load_average(),
                     rows=[r.as_dict() for r in new])
        report["benchmarks"][name] = entry
        rows.extend(new)
        print(f"   ({entry['seconds']} s)", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{name}.json").write_text(json.dumps({"environment": env, "quick": args.quick, **entry},
                                                          indent=2, default=str) + "\n")
    report["seconds"] = round((dt.datetime.now().astimezone() - started).total_seconds(), 1)
    text = table(rows)
    print()
    print(text)
    notes = [f"- {r.benchmark} / {r.case}: {r.note}" for r in rows if r.note]
    if notes:
        print()
        print("\n".join(notes))
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (see the traceback above)")
    stamp = started.strftime("%Y%m%d-%H%M%S")
    for stem in ("latest", f"run-{stamp}"):
        (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "latest.md").write_text(latest_markdown(args.out))
    print(f"\nwrote {args.out / 'latest.json'} (this run) and {args.out / 'latest.md'} "
          f"(the latest result of every benchmark) ({report['seconds']} s)")
    return 1 if failed else 0


def latest_markdown(out: Path) -> str:
    """One table of the most recent result of each benchmark (runs of a subset included)."""
    rows, lines, notes = [], [], []
    for name in BENCHMARKS:
        path = out / f"{name}.json"
        if not path.exists():
            continue
        entry = json.loads(path.read_text())
        env = entry.get("environment", {})
        lines.append(f"- {name}: {entry.get('started', '?')}, {'quick' if entry.get('quick') else 'full'} mode, "
                     f"{entry.get('seconds')} s, load average {entry.get('load_average_before')} -> "
                     f"{entry.get('load_average_after')} on {env.get('cpu_count')} CPUs"
                     + (f"; FAILED: {entry['error']}" if entry.get("error") else ""))
        for r in entry.get("rows", []):
            row = Row(**r)
            rows.append(row)
            if row.note:
                notes.append(f"- {row.benchmark} / {row.case}: {row.note}")
    return ("\n".join(lines) + "\n\n" + table(rows) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else ""))


if __name__ == "__main__":
    sys.exit(main())
