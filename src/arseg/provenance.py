"""What made a result: the config values, the package versions and the code version.

Every model file, metrics file and the report carry such a record, so a result read months
later still says how to make it again. The config part is the subset of the workflow config
the result depends on (its rule's params), in the config's own shape: it can be pasted into
a config file. No clock time is recorded: two runs of one checkout give identical files."""
from __future__ import annotations

import copy
import subprocess
from importlib import metadata
from pathlib import Path

from arseg import __version__

PACKAGES = ("torch", "numpy", "snakemake", "sed_eval", "sed_scores_eval")


def merge_configs(*configs: dict) -> dict:
    """Deep-merge config subsets (later ones win on a conflict), keys sorted at every level;
    with one config, a sorted deep copy of it."""
    merged: dict = {}
    for config in configs:
        for key, value in config.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge_configs(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
    return {k: merge_configs(v) if isinstance(v, dict) else v for k, v in sorted(merged.items())}


def package_versions() -> dict[str, str]:
    """Installed version of each package that decides results ("not installed" in an env without it)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def code_version() -> dict:
    """The git commit of the checkout this package runs from (and whether files differ from
    it), or, outside a checkout, the package version."""
    root = Path(__file__).resolve().parents[2]
    if (root / "src" / "arseg").is_dir() and (root / ".git").exists():
        try:
            commit = _git(root, "rev-parse", "HEAD")
            dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
            return {"arseg": __version__, "commit": commit, "dirty": dirty}
        except (OSError, subprocess.SubprocessError):
            pass  # no git, or not a repository after all: the package version still says something
    return {"arseg": __version__, "commit": None, "dirty": None}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def record(*configs: dict) -> dict:
    """The provenance record of a result made from these config subsets."""
    return {"config": merge_configs(*configs), "code": code_version(), "versions": package_versions()}


def describe_code(code: dict | None) -> str:
    """One line: `commit 1a2b3c4d5e6f with uncommitted changes` or `arseg 0.1.0 (not a git checkout)`."""
    if not code:
        return "unknown"
    if code.get("commit"):
        return f"commit {code['commit'][:12]}" + (" with uncommitted changes" if code.get("dirty") else "")
    return f"arseg {code.get('arseg', '?')} (not a git checkout)"


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """{"training.learning_rate": 0.004, ...}: dotted keys, as config/README.md names them."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
