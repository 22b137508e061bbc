"""Helpers for end-to-end tests that run the workflow on a real SLURM cluster.

CI brings up a one-node cluster on localhost with `.ci/slurm-up` (one fake
GPU, accounting via slurmdbd so that ``sacct`` works) and runs Snakemake with
``--workflow-profile profiles/slurm``. A test then asks ``sacct`` which jobs
went through ``sbatch`` and what they were allocated.

How the SLURM executor plugin (2.8.0) labels jobs, with profiles/slurm:

* ``JobName``  -- ``arseg_<run uuid>``: the same for every job of one Snakemake
  run (prefix from ``slurm-jobname-prefix`` in the profile).
* ``Comment``  -- ``rule_<rule>``, or ``rule_<rule>_wildcards_<values>`` with
  the wildcard values joined by "_" (train, backbone=yoho, seed=0:
  ``rule_train_wildcards_yoho_0``): this is how a test recognises the
  training job (``Rule`` key of :func:`sacct_jobs`). ``sacct`` only keeps comments because
  ``.ci/slurm-up`` sets ``AccountingStoreFlags=job_comment``.
* ``AllocTRES`` -- e.g. ``billing=1,cpu=1,gres/gpu=1,mem=4G,node=1`` for a rule
  with ``resources: gpu=1`` (``AccountingStorageTRES=gres/gpu`` makes the GPU
  show up here).
* ``SubmitLine`` -- the full ``sbatch ...`` command line.

Typical use in a test::

    t0 = slurm_helpers.now()
    ... run snakemake --workflow-profile profiles/slurm ...
    jobs = slurm_helpers.sacct_jobs(t0)
    train = [j for j in jobs if j["Rule"] == "train"]
    assert train and slurm_helpers.gpu_count(train[0]["AllocTRES"]) == 1

Missing SLURM must fail the test in CI (``ARSEG_REQUIRE_SLURM=1``) and skip it
elsewhere: call :func:`require_slurm` at the top of the test.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import subprocess

__all__ = [
    "SACCT_FIELDS",
    "gpu_count",
    "now",
    "require_slurm",
    "sacct_jobs",
    "slurm_available",
    "slurm_required",
]

# Fields read from sacct, in this order. SubmitLine stays last: it may itself
# contain the delimiter, so the line is split at most len(SACCT_FIELDS)-1 times.
SACCT_FIELDS = (
    "JobID",
    "JobName",
    "State",
    "ExitCode",
    "Partition",
    "Account",
    "AllocTRES",
    "Comment",
    "Submit",
    "SubmitLine",
)
_DELIM = "|"
_TIMEOUT = 30  # seconds for any one SLURM client call


def _run(args: list[str], timeout: float = _TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False
    )


def slurm_required() -> bool:
    """True when the environment demands SLURM (CI sets ARSEG_REQUIRE_SLURM=1)."""
    return os.environ.get("ARSEG_REQUIRE_SLURM", "").strip() == "1"


def slurm_available(refresh: bool = False) -> bool:
    """True when sbatch/sinfo/sacct exist, a node is usable and sacct answers.

    Never raises; each SLURM call is bounded by a timeout. The answer is
    cached for the process (a down controller makes sinfo take ~10 s to give
    up); pass refresh=True to ask again.
    """
    global _AVAILABLE
    if _AVAILABLE is None or refresh:
        _AVAILABLE = _probe_slurm()
    return _AVAILABLE


_AVAILABLE: bool | None = None


def _probe_slurm() -> bool:
    for tool in ("sbatch", "sinfo", "squeue", "sacct"):
        if shutil.which(tool) is None:
            return False
    try:
        nodes = _run(["sinfo", "-h", "-o", "%T"])
        if nodes.returncode != 0:
            return False
        states = {s.strip().rstrip("*~#!%$@^-") for s in nodes.stdout.split()}
        if not states & {"idle", "mixed", "allocated", "completing"}:
            return False
        acct = _run(["sacct", "-X", "-n", "-S", "now-1minutes"])
        return acct.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def slurm_python() -> str:
    """A Python whose Snakemake has the SLURM executor plugin (the project's [slurm] extra).

    This environment's, when the plugin is installed here; otherwise a virtual environment
    beside the cluster's state that sees this environment's packages and adds the plugin
    (pip, once). The plugin stays out of the test environment: at every Snakemake start it
    asks `scontrol` for the cluster's settings, which waits 10 s where no controller runs."""
    import importlib.util
    import sys
    import tomllib

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None:
        return sys.executable
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        requirements = tomllib.load(f)["project"]["optional-dependencies"]["slurm"]
    venv = os.path.join(os.environ.get("ARSEG_SLURM_STATE", "/tmp/arseg-slurm"), "plugin-venv")
    python = os.path.join(venv, "bin", "python")
    ready = os.path.join(venv, "requirements.txt")
    wanted = "\n".join(requirements)
    if not (os.path.isfile(ready) and open(ready).read() == wanted):
        subprocess.run([sys.executable, "-m", "venv", "--clear", "--system-site-packages", venv], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *requirements], check=True, timeout=600)
        with open(ready, "w") as f:
            f.write(wanted)
    return python


def require_slurm() -> None:
    """Skip the calling test when SLURM is not up, or fail it under CI.

    With ARSEG_REQUIRE_SLURM=1 a missing cluster is an error (pytest.fail),
    so CI cannot go green by silently skipping the end-to-end test.
    """
    import pytest

    if slurm_available():
        return
    msg = (
        "no usable SLURM cluster (sbatch/sinfo/sacct); start one with "
        "`sudo .ci/slurm-up`"
    )
    if slurm_required():
        pytest.fail(f"ARSEG_REQUIRE_SLURM=1 but {msg}", pytrace=False)
    pytest.skip(msg)


def now() -> _dt.datetime:
    """Current local time truncated to seconds: a `since` for sacct_jobs().

    SLURM compares submit times at one-second resolution in local time, so
    take it *before* starting the run.
    """
    return _dt.datetime.now().replace(microsecond=0)


def _fmt_since(since: _dt.datetime | str | float | int) -> str:
    if isinstance(since, _dt.datetime):
        if since.tzinfo is not None:  # sacct wants local wall-clock time
            since = since.astimezone().replace(tzinfo=None)
        return since.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(since, (int, float)):  # epoch seconds, e.g. time.time()
        return _dt.datetime.fromtimestamp(int(since)).strftime("%Y-%m-%dT%H:%M:%S")
    return str(since)  # anything sacct -S understands: "now-1hour", "2026-01-01"


def sacct_jobs(
    since: _dt.datetime | str | float | int,
    name: str | None = None,
) -> list[dict[str, str]]:
    """Jobs submitted at or after `since`, one dict per job allocation.

    `since` is a datetime (local time, see now()), epoch seconds, or any
    string `sacct -S` accepts. `name` filters on JobName (e.g. the run's
    ``arseg_<uuid>``). Job steps (batch, extern) are left out (`sacct -X`).

    Each dict has the keys in SACCT_FIELDS (JobID, JobName, State, ExitCode,
    Partition, Account, AllocTRES, Comment, Submit, SubmitLine) plus ``Rule``:
    the Snakemake rule parsed from the plugin's comment ("" if none).
    Raises RuntimeError when sacct fails.
    """
    start = _fmt_since(since)
    args = [
        "sacct",
        "-X",
        "--allusers",
        "--noheader",
        "--parsable2",
        f"--delimiter={_DELIM}",
        "--format=" + ",".join(SACCT_FIELDS),
        "-S",
        start,
    ]
    if name:
        args += ["--name", name]
    res = _run(args)
    if res.returncode != 0 and "after end time" in res.stderr:
        return []  # `since` lies in the future: nothing submitted yet
    if res.returncode != 0:
        raise RuntimeError(
            f"sacct failed (rc={res.returncode}): {res.stderr.strip()}\n"
            f"command: {' '.join(args)}"
        )
    jobs = []
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        values = line.split(_DELIM, len(SACCT_FIELDS) - 1)
        values += [""] * (len(SACCT_FIELDS) - len(values))
        job = dict(zip(SACCT_FIELDS, values))
        job["Rule"] = _rule_from_comment(job["Comment"])
        # sacct -S selects jobs *active* after `start`; keep those submitted then.
        if job["Submit"][:19] >= start[:19] or not _is_timestamp(start):
            jobs.append(job)
    return jobs


def _is_timestamp(value: str) -> bool:
    return re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", value) is not None


def _rule_from_comment(comment: str) -> str:
    """'rule_train_wildcards_yoho_0' -> 'train'; 'rule_prepare' -> 'prepare'."""
    m = re.match(r"^(?:rule|group)_(.+?)(?:_wildcards_.*)?$", comment or "")
    return m.group(1) if m else ""


def gpu_count(alloc_tres: str) -> int:
    """Number of GPUs in an AllocTRES string ('...,gres/gpu=1,...' -> 1).

    Counts both the plain ``gres/gpu=N`` and typed ``gres/gpu:model=N``
    entries without double counting (typed entries are ignored when a plain
    one is present).
    """
    plain = re.findall(r"(?:^|,)gres/gpu=(\d+)", alloc_tres or "")
    if plain:
        return sum(int(n) for n in plain)
    typed = re.findall(r"(?:^|,)gres/gpu:[^=,]+=(\d+)", alloc_tres or "")
    return sum(int(n) for n in typed)
