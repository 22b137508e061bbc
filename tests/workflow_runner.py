"""Run the real workflow through Snakemake in a scratch folder (shared by the e2e tests)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def prepare_workdir(workdir: Path, configfile: Path) -> Path:
    """A scratch folder with the default config (the Snakefile reads it) and the test config."""
    shutil.copytree(ROOT / "config", workdir / "config", dirs_exist_ok=True)
    target = workdir / "config" / "test.yaml"
    shutil.copy(configfile, target)
    return target


def snakemake(workdir: Path, *args: str, timeout: int = 900, check: bool = True,
              configfile: Path | list[Path] | None = None, python: str = sys.executable) -> subprocess.CompletedProcess:
    """Snakemake on the workdir with config/test.yaml (or `configfile`: one file, or several,
    each merged over the ones before), run by `python`."""
    configfiles = configfile if isinstance(configfile, list) else [configfile or workdir / "config" / "test.yaml"]
    command = [python, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--configfile", *map(str, configfiles),
               "--workflow-profile", "none", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def aisfx_checkpoint(target, seed: int = 0, extra=None) -> None:
    """Write (to a path or a file object) a checkpoint in the aisfx format with random weights:
    the state dict of its CrossNet (the trunk under `embedding_net.`, a classifier weight
    beside it) and its datasets with numpy integers; `extra`, if given, as a third item."""
    import numpy as np
    import torch

    from arseg.model.aisfx import Trunk

    torch.manual_seed(seed)
    state = {f"embedding_net.{k}": v for k, v in Trunk().state_dict().items()}
    state["fc.0.0.weight"] = torch.zeros(2, 2)
    datasets = {"prosfx": (np.int64(0), 78), "soundlyTrain": (np.int64(1), 79)}
    torch.save((state, datasets) if extra is None else (state, datasets, extra), target)


def place_encoder(workdir: Path, seed: int = 0) -> Path:
    """An aisfx-format checkpoint with random weights where the fetch_encoder rule would write
    it: the frozen path runs without the network (the fetch itself is tested against a local
    index)."""
    path = workdir / "resources" / "encoders" / "aisfx.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    aisfx_checkpoint(path, seed)
    return path
