"""Atomic file writes: a killed job never leaves a file that looks finished.

Every writer goes to a temporary file in the destination folder, then renames it
into place (rename is atomic on POSIX within one file system). A writer killed outright
(SIGKILL) cannot remove its temporary file; the next write of the same file does, since
one job at a time writes a given output. A folder's hidden files are listed once per process
(what killed writers left is there before the process starts writing), not at every write:
a rule that writes thousands of files into one folder would otherwise list it each time.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

# The process's umask, read once on import (reading it means setting it, which would race
# with other threads creating files).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def temporary_suffix(path: Path, suffix: str | None) -> str:
    """The ending of `path`'s temporary files: the one given, or the file's own plus .tmp."""
    return suffix or (path.suffix + ".tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = temporary_suffix(path, suffix)
    remove_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        with contextlib.suppress(OSError):  # some file systems (CIFS, FUSE) keep their own modes
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); a written file is not
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


_hidden_files: dict[str, set[str]] = {}  # folder -> its hidden files when this process first wrote there
_hidden_lock = threading.Lock()  # downloads write from several threads


def remove_temporaries(path: str | os.PathLike, suffix: str | None = None) -> None:
    """Delete the temporary files atomic_path(path, suffix) left when its writer was killed
    outright: `.<name>.<random>.<suffix>`, the random part without dots, so the temporaries
    of another file whose name starts with this one's stay. Looked up in the folder's
    hidden files as this process first listed them."""
    path = Path(path)
    suffix = temporary_suffix(path, suffix)
    own = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]+{re.escape(suffix)}")
    folder = os.path.abspath(path.parent)
    with _hidden_lock:
        if folder not in _hidden_files:
            with contextlib.suppress(FileNotFoundError):
                _hidden_files[folder] = {e.name for e in os.scandir(folder) if e.name.startswith(".")}
        hidden = _hidden_files.get(folder, set())
        stale = [name for name in hidden if own.fullmatch(name)]
        hidden.difference_update(stale)
    for name in stale:
        leftover = path.parent / name
        if leftover.is_dir():  # an atomic_dir's staging folder
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to `path`, put in `path`'s place (an earlier folder
    there replaced whole) when the block ends without error; otherwise removed, the earlier
    folder left as it was."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path}: exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(path, ".tmp")
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield staging
        with contextlib.suppress(OSError):
            os.chmod(staging, 0o777 & ~_UMASK)  # mkdtemp makes it private (0700)
        if path.exists():
            os.rename(path, aside)
        os.rename(staging, path)
    finally:
        if aside.exists() and not path.exists():  # the swap failed half way: the earlier folder back
            os.rename(aside, path)
        for leftover in (staging, aside):
            shutil.rmtree(leftover, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_ready(obj):
    """numpy scalars -> Python numbers, NaN -> None, infinities -> "inf"/"-inf" (JSON has none)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_tsv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as TSV (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")

