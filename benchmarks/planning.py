"""Workflow planning: wall time and job count of `snakemake -n` (a dry run: parse the
workflow, validate the config, build the whole DAG) from a fresh working directory with
no results, so every job of the paper is planned.

Configs: the default (config/config.yaml); the SoundDescs paper (config/sounddescs.yaml,
when it exists); the full paper, i.e. SoundDescs with every backbone of the registry
(what config/sounddescs.yaml is meant to become); and, in full mode, a synthetic large
run (every backbone x 10 seeds). Without config/sounddescs.yaml the paper rows fall back
to the default config with the same backbone and seed lists, and say so.
Peer: `snakemake --version` (interpreter start-up plus importing Snakemake), run
interleaved: what planning costs beyond merely starting Snakemake.
"""
from __future__ import annotations

import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .common import REPO, Row, Settings, interleaved, median, paired_ratio, spread

NAME = "planning"
TARGET_SECONDS = 20.0
LINKED = ["workflow", "config", "scripts", "src", "envs", "report", "profiles"]


def scratch(workdir: Path) -> Path:
    """A working directory that sees the workflow but none of the repository's results."""
    root = workdir / "planning"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name in LINKED:
        if (REPO / name).exists():
            (root / name).symlink_to(REPO / name)
    return root


def dry_run(root: Path, configfiles: list[str]) -> tuple[int, str]:
    argv = [sys.executable, "-m", "snakemake", "-n", "--cores", "2"]
    if configfiles:
        argv += ["--configfile", *configfiles]
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"snakemake -n {' '.join(configfiles)} failed:\n{out[-2000:]}")
    if "Nothing to be done" in out:
        return 0, out
    match = re.search(r"^total\s+(\d+)", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no job count in the output of snakemake -n:\n{out[-2000:]}")
    return int(match.group(1)), out


def slurm_probe() -> str:
    """Snakemake's SLURM executor plugin, when installed, runs `scontrol show config` while
    Snakemake starts (to pick its job-status command) if SLURM's tools are on PATH; with no
    reachable slurmctld that call retries for about 10 s. Time it once, to explain the gap
    between wall and CPU time of every Snakemake start."""
    import importlib.util

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None or shutil.which("scontrol") is None:
        return ""
    began = time.perf_counter()
    try:
        done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60)
        outcome = f"exit code {done.returncode}"
    except subprocess.TimeoutExpired:
        outcome = "timed out"
    return (f"the SLURM executor plugin runs `scontrol show config` at every Snakemake start; here it took "
            f"{time.perf_counter() - began:.1f} s ({outcome})")


def run(settings: Settings) -> list[Row]:
    from arseg.model.backbones import BACKBONES

    log = settings.log
    root = scratch(settings.workdir)
    paper = REPO / "config" / "sounddescs.yaml"
    has_paper = paper.exists()
    base = ["config/sounddescs.yaml"] if has_paper else []
    every = root / "all-backbones.yaml"
    seeds = (yaml.safe_load(paper.read_text()).get("model", {}).get("seeds") if has_paper else None) or [0, 1, 2]
    every.write_text(yaml.safe_dump({"model": {"backbones": list(BACKBONES), "seeds": seeds}}))
    large = root / "large.yaml"
    large.write_text(yaml.safe_dump({"model": {"backbones": list(BACKBONES), "seeds": list(range(10))}}))
    paper_name = "SoundDescs paper" if has_paper else "default config (config/sounddescs.yaml absent)"
    configs = {f"full paper: {paper_name}, {len(BACKBONES)} backbones x {len(seeds)} seeds": base + [every.name]}
    if not settings.quick:
        configs["default config (config/config.yaml)"] = []
        if has_paper:
            configs["config/sounddescs.yaml as it is"] = base
        configs[f"synthetic large: {paper_name}, {len(BACKBONES)} backbones x 10 seeds"] = base + [large.name]
    jobs, cpu = {}, {}

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def plan(name):
        def case():
            began = children_cpu()
            jobs[name], _ = dry_run(root, configs[name])
            cpu.setdefault(name, []).append(children_cpu() - began)
        return case

    def version():
        began = children_cpu()
        subprocess.run([sys.executable, "-m", "snakemake", "--version"], cwd=root, capture_output=True, check=True)
        cpu.setdefault("snakemake --version", []).append(children_cpu() - began)

    slurm = slurm_probe()
    if slurm:
        log(f"  {slurm}")
    cases = {name: plan(name) for name in configs}
    cases["snakemake --version"] = version
    repeats = settings.pick(2, min(settings.repeats, 3))  # each dry run starts Snakemake afresh: slow
    times = interleaved(cases, repeats, settings.pick(0, settings.warmup))
    rows = []
    for name in configs:
        log(f"  {name}: {spread(times[name])} s, {jobs[name]} jobs")
        is_target = name.startswith("full paper")
        rows.append(Row(benchmark=NAME, case=name, metric="s", ours=median(times[name]),
                        peer=median(times["snakemake --version"]), peer_name="snakemake --version",
                        ratio=paired_ratio(times[name], times["snakemake --version"]),
                        target=f"< {TARGET_SECONDS:g} s" if is_target else "",
                        met=(median(times[name]) < TARGET_SECONDS) if is_target else None,
                        samples={"seconds": times[name], "jobs": jobs[name], "cpu_seconds": cpu[name],
                                 "version_cpu_seconds": cpu["snakemake --version"]},
                        note=f"{jobs[name]} jobs; CPU time {median(cpu[name]):.1f} s (snakemake --version "
                             f"{median(cpu['snakemake --version']):.1f} s); `snakemake -n"
                             f"{' --configfile ' + ' '.join(configs[name]) if configs[name] else ''}` "
                             f"from an empty working directory" + (f"; {slurm}" if slurm and is_target else "")))
    shutil.rmtree(root, ignore_errors=True)
    return rows
