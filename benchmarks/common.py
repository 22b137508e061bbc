"""Shared machinery: interleaved timing, result rows, persistent worker subprocesses.

Timing rules every benchmark follows (the machine may be shared, so absolute numbers are
noisy): each case is warmed up, then the cases are run *interleaved* (one repeat of
each, in a rotating order, then the next repeat), so a burst of foreign load hits all of
them alike. We quote the median of the repeats and, against a peer, the median of the
per-repeat ratios (paired: the two runs of a pair were a few seconds apart).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

# Environment for a worker that must stay on one core: every math library single-threaded.
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


@dataclasses.dataclass
class Settings:
    quick: bool = False
    repeats: int = 5
    warmup: int = 1
    workdir: Path = Path("/tmp")
    log: Callable[[str], None] = print

    def pick(self, quick, full):
        return quick if self.quick else full


@dataclasses.dataclass
class Row:
    """One line of the table: our median, the peer's median, and their paired ratio."""
    benchmark: str
    case: str
    metric: str                      # unit of `ours` and `peer`, e.g. "mixtures/s"
    ours: float
    peer: float | None = None
    peer_name: str = ""
    ratio: float | None = None       # ours / peer (higher is better for rates), paired median
    target: str = ""                 # e.g. ">= 10x"
    met: bool | None = None
    samples: dict = dataclasses.field(default_factory=dict)  # raw repeats, by case name
    note: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def median(values) -> float:
    return float(statistics.median(values))


def spread(values) -> str:
    """'median (min-max)' of a list of numbers, for logs."""
    return f"{median(values):.4g} ({min(values):.4g}-{max(values):.4g})"


def interleaved(cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                outputs: dict | None = None) -> dict[str, list[float]]:
    """Wall seconds of each case per repeat, cases run in a rotating order after warm-up.

    `outputs`, when given, receives each case's return values of the timed repeats.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            began = time.perf_counter()
            value = cases[name]()
            times[name].append(time.perf_counter() - began)
            if outputs is not None:
                outputs.setdefault(name, []).append(value)
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over repeats of numerator[i] / denominator[i]."""
    return median([a / b for a, b in zip(numerator, denominator)])


def rates(seconds: list[float], amount: float) -> list[float]:
    """Per-repeat throughput (amount per second) from per-repeat seconds."""
    return [amount / s for s in seconds]


class Worker:
    """A persistent subprocess that answers one JSON request per line with one JSON line.

    Keeps interpreter start-up and imports out of the measurement and lets a peer that
    lives in another virtual environment (Scaper) be timed interleaved with ours.
    """

    def __init__(self, argv: list[str], env: dict | None = None, cwd: Path | None = None):
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SRC), str(REPO), full_env.get("PYTHONPATH", "")] if p)
        full_env.update(env or {})
        full_env.setdefault("TQDM_DISABLE", "1")
        self.argv = argv
        # stderr goes to a file, not a pipe: a chatty worker must never block on a full pipe.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=full_env, cwd=cwd or REPO, bufsize=1)
        hello = self._read()
        if hello.get("ready") is not True:
            raise RuntimeError(f"worker {argv} did not start: {hello}")
        self.info = hello

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.stderr.seek(0)
            err = self.stderr.read()[-4000:]
            raise RuntimeError(f"worker {' '.join(self.argv)} died:\n{err}")
        return json.loads(line)

    def send(self, request: dict) -> None:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict:
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"worker {' '.join(self.argv)}: {reply['error']}")
        return reply

    def call(self, request: dict) -> dict:
        self.send(request)
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def call_all(workers: list[Worker], requests: list[dict]) -> tuple[float, list[dict]]:
    """Send one request to each worker at once; wall seconds until the last has answered."""
    began = time.perf_counter()
    for worker, request in zip(workers, requests):
        worker.send(request)
    replies = [worker.receive() for worker in workers]
    return time.perf_counter() - began, replies


def serve(handler: Callable[[dict], dict], hello: dict | None = None) -> None:
    """Worker side of `Worker`: answer JSON lines on stdin until it closes."""
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    out.write(json.dumps({"ready": True, **(hello or {})}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handler(json.loads(line))
        except Exception as error:  # report, keep serving
            import traceback
            reply = {"error": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


@contextlib.contextmanager
def silenced_fds():
    """Send this process's file descriptors 1 and 2 to /dev/null (chatty C++ libraries)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment() -> dict:
    import platform

    import numpy
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": load_average(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                 if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def table(rows: list[Row]) -> str:
    """Markdown table of rows."""
    lines = ["| benchmark | case | ours | peer | ratio | target | status |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        peer = f"{fmt(row.peer)} ({row.peer_name})" if row.peer is not None else (row.peer_name or "-")
        ratio = f"{fmt(row.ratio)}x" if row.ratio is not None else "-"
        status = {True: "met", False: "MISSED", None: ""}[row.met]
        lines.append(f"| {row.benchmark} | {row.case} | {fmt(row.ours)} {row.metric} | {peer} | {ratio} "
                     f"| {row.target} | {status} |")
    return "\n".join(lines)
