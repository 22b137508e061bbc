"""Take the WAV out of a downloaded zip safely, and check that it decodes.

We never call extractall: the entry's bytes are copied to a path we choose. Still,
an archive with an entry that would escape its folder (absolute path, '..',
symlink) is refused outright, since it signals a tampered or broken download.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path

from arseg.io.atomic import atomic_path
from arseg.io.audio import AudioError, check_decodes


class BadArchiveError(ValueError):
    """The zip is corrupt, truncated, empty, or its WAV does not decode."""


class UnsafeArchiveError(BadArchiveError):
    """The zip holds an entry that would escape the target folder."""


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why this entry would escape the target folder, or None if it is safe."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symlink"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "climbs out of the target folder ('..')"
    return None


def _pick_wav(infos: list[zipfile.ZipInfo], stem: str) -> zipfile.ZipInfo:
    # macOS zips carry '__MACOSX/._name.wav' resource forks: not audio
    wavs = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".wav")
            and not i.filename.startswith("__MACOSX/") and not Path(i.filename).name.startswith("._")]
    if not wavs:
        raise BadArchiveError(f"no .wav entry (entries: {[i.filename for i in infos][:5]})")
    if len(wavs) == 1:
        return wavs[0]
    # several WAVs: take the one named after the clip, never guess
    named = [i for i in wavs if Path(i.filename).stem.lower() == stem.lower()]
    if len(named) != 1:
        raise BadArchiveError(f"{len(wavs)} .wav entries and none uniquely named {stem}.wav")
    return named[0]


def verify_wav(path: str | os.PathLike) -> None:
    """Decode the whole file; raise BadArchiveError if it does not."""
    try:
        check_decodes(path)
    except AudioError as e:
        raise BadArchiveError(f"WAV {'has no audio frames' if e.kind == 'empty' else 'does not decode'}: {e}") from e


def extract_wav(zip_path: str | os.PathLike, dest: str | os.PathLike, *, max_bytes: int | None = None) -> int:
    """Copy the single WAV in `zip_path` to `dest` atomically after checking it; return its size."""
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise BadArchiveError(f"not a valid zip: {e}") from e
    with zf:
        infos = zf.infolist()
        for info in infos:
            reason = unsafe_reason(info)
            if reason:
                raise UnsafeArchiveError(f"unsafe zip entry {info.filename!r} {reason}; archive refused")
        try:
            bad = zf.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
            raise BadArchiveError(f"zip integrity check failed: {e}") from e
        if bad is not None:
            raise BadArchiveError(f"zip integrity check failed: bad CRC in {bad!r}")
        info = _pick_wav(infos, dest.stem)
        if max_bytes is not None and info.file_size > max_bytes:
            raise BadArchiveError(f"WAV entry is {info.file_size} bytes > max {max_bytes}")
        with atomic_path(dest, suffix=".tmp.wav") as tmp:
            with zf.open(info) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            verify_wav(tmp)  # only a decodable WAV is renamed into place
        return dest.stat().st_size
