"""The tiny workflow on a real SLURM cluster through `--workflow-profile profiles/slurm`.

CI brings up a one-node cluster with one fake GPU (`.ci/slurm-up`) and sets
ARSEG_REQUIRE_SLURM=1, so a missing cluster fails this test there; elsewhere it is skipped.
Asserts that the jobs went through sbatch (sacct knows them, by this run's job name), that
the training job was allocated the GPU, and that the metrics equal a local run's: training
on CPU is deterministic for a seed, and every job runs with its rule's `threads` both ways
(Snakemake sets OMP_NUM_THREADS and friends, train also calls torch.set_num_threads).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load("workflow_runner")
slurm = _load("slurm_helpers")

TINY = HERE / "data" / "tiny.yaml"
PROFILE = runner.ROOT / "profiles" / "slurm"
METRICS = "results/metrics/yoho/seed0.json"
# CI-friendly overrides of the profile: check job states soon, fail at once, and never ask
# for more CPUs than the CI node has (sbatch rejects such a job).
OVERRIDES = ("--slurm-init-seconds-before-status-checks", "5", "--restart-times", "0",
             "--max-threads", "2", "--latency-wait", "5")
RUN_TIMEOUT = 1200  # seconds for the whole SLURM run
# Up to the metrics: every rule on the way goes through sbatch; the table and figures after
# them would only add job overhead (about 10 s each, more on a busy machine).
SLURM_RULES = {"demo_corpus", "mixtures", "queries", "embed_queries", "features", "train", "predict", "evaluate"}


def cluster_settings() -> dict[str, str]:
    """ARSEG_SLURM_PARTITION/ACCOUNT for profiles/slurm: from the environment, else from
    the file .ci/slurm-up writes (`export KEY=VALUE` lines)."""
    found = {k: v for k, v in os.environ.items() if k.startswith("ARSEG_SLURM_")}
    env_file = Path(os.environ.get("ARSEG_SLURM_STATE", "/tmp/arseg-slurm")) / "env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            m = re.match(r"^export (ARSEG_SLURM_\w+)=(.*)$", line.strip())
            if m:
                found.setdefault(m.group(1), m.group(2))
    return found


def run_id_of(output: str) -> str | None:
    m = re.search(r"SLURM run ID: (\S+)", output)
    return m.group(1) if m else None


def cancel(run_id: str | None) -> None:
    """Cancel what is left of a run (a killed driver does not cancel its jobs)."""
    if run_id:
        subprocess.run(["scancel", "--name", run_id], capture_output=True, timeout=30, check=False)


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    slurm.require_slurm()
    python = slurm.slurm_python()
    workdir = tmp_path_factory.mktemp("slurm_run")
    runner.prepare_workdir(workdir, TINY)
    t0 = slurm.now()
    start = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in cluster_settings().items():
            mp.setenv(key, value)
        try:
            result = runner.snakemake(workdir, "--workflow-profile", str(PROFILE), *OVERRIDES, METRICS,
                                      timeout=RUN_TIMEOUT, check=False, python=python)
        except subprocess.TimeoutExpired as e:
            output = _text(e.stdout) + _text(e.stderr)
            cancel(run_id_of(output))
            pytest.fail(f"the SLURM run took over {RUN_TIMEOUT} s:\n{output[-6000:]}")
    output = result.stdout + result.stderr
    run_id = run_id_of(output)
    cancel(run_id)  # nothing should be left; never leave jobs behind
    assert result.returncode == 0, f"SLURM run failed ({result.returncode}):\n{output[-8000:]}"
    assert run_id, f"no 'SLURM run ID' in the output: did the SLURM executor run?\n{output[-4000:]}"
    return {"workdir": workdir, "jobs": slurm.sacct_jobs(t0, name=run_id), "run_id": run_id,
            "seconds": time.monotonic() - start, "output": output}


def test_jobs_went_through_sbatch(slurm_run):
    jobs = slurm_run["jobs"]
    print(f"SLURM run {slurm_run['run_id']}: {len(jobs)} jobs in {slurm_run['seconds']:.0f} s")
    rules = {job["Rule"] for job in jobs}
    assert SLURM_RULES <= rules, f"rules seen by sacct: {sorted(rules)}"
    splits = [job["Comment"] for job in jobs if job["Rule"] in {"mixtures", "queries", "features"}]
    assert len(splits) == 9, splits  # one job per rule and split
    for job in jobs:
        assert job["State"] == "COMPLETED" and job["ExitCode"] == "0:0", job
        assert job["JobName"] == slurm_run["run_id"], job
        assert job["SubmitLine"].startswith("sbatch"), job
    expected = cluster_settings()
    for job in jobs:  # the profile's env-var defaults reached sbatch
        if "ARSEG_SLURM_PARTITION" in expected:
            assert job["Partition"] == expected["ARSEG_SLURM_PARTITION"], job
        if "ARSEG_SLURM_ACCOUNT" in expected:
            assert job["Account"] == expected["ARSEG_SLURM_ACCOUNT"], job


def test_training_job_was_allocated_the_gpu(slurm_run):
    jobs = slurm_run["jobs"]
    train = [job for job in jobs if job["Rule"] == "train"]
    assert len(train) == 1, [job["Rule"] for job in jobs]
    assert slurm.gpu_count(train[0]["AllocTRES"]) == 1, train[0]
    assert "--gpus=1" in train[0]["SubmitLine"], train[0]
    others = [job for job in jobs if job["Rule"] != "train"]
    assert others and all(slurm.gpu_count(job["AllocTRES"]) == 0 for job in others), others


def test_metrics_equal_a_local_run(slurm_run, request):
    # the same tiny config run locally, once per session (tests/conftest.py); asked for only
    # now, so that a skipped SLURM run does not start it
    local_run = request.getfixturevalue("finished_run")
    on_slurm = json.loads((slurm_run["workdir"] / METRICS).read_text())
    local = json.loads((local_run / METRICS).read_text())
    if on_slurm != local:
        differing = sorted(k for k in set(on_slurm) | set(local) if on_slurm.get(k) != local.get(k))
        pytest.fail(f"metrics differ between SLURM and local runs in {differing}")
    predictions = "results/predictions/yoho/seed0/test.tsv"
    assert (slurm_run["workdir"] / predictions).read_bytes() == (local_run / predictions).read_bytes()
