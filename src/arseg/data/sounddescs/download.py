"""Download the SoundDescs audio for one shard of clip ids.

Layout in `out_dir`: `<id>.wav` for each finished clip (the WAV from the BBC zip,
bytes unchanged, verified). While working: `.<id>.wav.zip.part` (the zip being
fetched) and atomic_path temporaries `.<id>.wav.*.tmp.wav`; these are removed on
the next run, so a killed job never leaves something that looks finished.
A clip counts as finished only if `<id>.wav` exists, and it is never fetched again.
"""
from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable

import pandas as pd
from tqdm import tqdm

from arseg.data.corpus.table import check_clip_id
from arseg.io.atomic import remove_temporaries, write_tsv
from .archive import BadArchiveError, extract_wav
from .fetch import DEFAULT_USER_AGENT, fetch
from .licence import require_licence

DEFAULT_AUDIO_BASE_URL = "https://sound-effects-media.bbcrewind.co.uk/zip"
MANIFEST_COLUMNS = ["id", "status", "attempts", "bytes", "reason"]


class ShardFailedError(RuntimeError):
    """Too many clips of a shard failed to download."""


def shard_of(clip_id: str, n_shards: int) -> int:
    """Shard index of one id: crc32, so it never depends on which other ids exist."""
    return zlib.crc32(clip_id.encode("utf-8")) % n_shards


def shard_ids(ids: Iterable[str], n_shards: int) -> list[list[str]]:
    """Split ids into `n_shards` deterministic lists (each sorted, duplicates dropped)."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    shards: list[list[str]] = [[] for _ in range(n_shards)]
    for clip_id in sorted(set(ids)):
        shards[shard_of(check_clip_id(clip_id, "shard_ids"), n_shards)].append(clip_id)
    return shards


def audio_url(clip_id: str, base_url: str = DEFAULT_AUDIO_BASE_URL) -> str:
    """The BBC URL uses the upper-case id; our files use the lower-case one."""
    return f"{base_url.rstrip('/')}/{clip_id.upper()}.wav.zip"


def _partial_path(out_dir: Path, clip_id: str) -> Path:
    return out_dir / f".{clip_id}.wav.zip.part"


def _remove_stale(out_dir: Path, clip_id: str) -> None:
    """Delete what an interrupted run left for this id (never a finished file)."""
    _partial_path(out_dir, clip_id).unlink(missing_ok=True)
    remove_temporaries(out_dir / f"{clip_id}.wav", suffix=".tmp.wav")  # extract_wav's


def _clean(reason: str) -> str:
    return " ".join(reason.split())  # no tabs/newlines in the TSV


def _download_one(clip_id: str, out_dir: Path, *, audio_base_url, retries, backoff, timeout,
                  deadline, max_bytes, user_agent) -> dict:
    final = out_dir / f"{clip_id}.wav"
    if final.exists():
        return dict(id=clip_id, status="skipped_existing", attempts=0, bytes=0, reason="")
    part = _partial_path(out_dir, clip_id)
    try:
        result = fetch(audio_url(clip_id, audio_base_url), part, timeout=timeout, retries=retries,
                       backoff=backoff, deadline=deadline, max_bytes=max_bytes, user_agent=user_agent)
        row = dict(id=clip_id, attempts=result.attempts, bytes=result.bytes)
        if not result.ok:
            return dict(row, status="failed", reason=_clean(f"{result.url}: {result.error}"))
        try:
            extract_wav(part, final, max_bytes=max_bytes)
        except BadArchiveError as e:  # corrupt content is not retried: the server sent it whole
            return dict(row, status="failed", reason=_clean(f"{result.url}: {e}"))
        return dict(row, status="fetched", reason="")
    finally:
        part.unlink(missing_ok=True)


def download_shard(
    ids: Iterable[str],
    out_dir: str | os.PathLike,
    manifest_path: str | os.PathLike,
    *,
    accept_licence: bool = False,
    audio_base_url: str = DEFAULT_AUDIO_BASE_URL,
    parallel: int = 2,
    retries: int = 4,
    backoff: float = 2.0,
    timeout: float = 60.0,
    deadline: float | None = 1800.0,
    max_failure_rate: float = 0.05,
    max_bytes: int | None = 2 * 1024**3,
    user_agent: str = DEFAULT_USER_AGENT,
    progress: bool = True,
) -> pd.DataFrame:
    """Fetch `<id>.wav` into `out_dir` for each id; write and return the shard manifest.

    The manifest (TSV: id, status in {fetched, skipped_existing, failed}, attempts,
    bytes, reason) is always written. If the failed fraction exceeds
    `max_failure_rate`, ShardFailedError is raised afterwards, naming the manifest.
    Per clip: at most 1 + `retries` attempts, `backoff` * 2**(k-1) s between them;
    `timeout`: s without data, `deadline`: s per attempt; `max_bytes` caps the zip
    and the WAV inside it (zip bombs). Corrupt or unsafe zips are not retried.
    """
    require_licence(accept_licence)
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    ids = sorted({check_clip_id(i, "download_shard") for i in ids})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for clip_id in ids:
        _remove_stale(out_dir, clip_id)

    options = dict(audio_base_url=audio_base_url, retries=retries, backoff=backoff, timeout=timeout,
                   deadline=deadline, max_bytes=max_bytes, user_agent=user_agent)
    rows = []
    with ThreadPoolExecutor(max_workers=parallel) as pool, \
            tqdm(total=len(ids), desc=f"download {Path(manifest_path).stem}", unit="clip",
                 disable=not progress) as bar:
        futures = [pool.submit(_download_one, clip_id, out_dir, **options) for clip_id in ids]
        for future in as_completed(futures):
            rows.append(future.result())
            bar.update(1)

    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).sort_values("id", ignore_index=True)
    write_tsv(manifest_path, manifest)
    failed = manifest[manifest.status == "failed"]
    if ids and len(failed) / len(ids) > max_failure_rate:
        examples = "; ".join(f"{r.id}: {r.reason}" for r in failed.head(3).itertuples())
        raise ShardFailedError(
            f"{len(failed)} of {len(ids)} clips failed to download "
            f"({len(failed) / len(ids):.1%} > max_failure_rate {max_failure_rate:.1%}); "
            f"see the manifest {manifest_path}. First failures: {examples}"
        )
    return manifest


def shard_clip_ids(ids: Iterable[str], shard: int, n_shards: int) -> list[str]:
    """The ids of shard `shard` of `n_shards` (corpus.sounddescs.n_shards)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} does not exist: corpus.sounddescs.n_shards is {n_shards}")
    return shard_ids(ids, n_shards)[shard]


def check_downloads(manifest_path: str | os.PathLike, raw_dir: str | os.PathLike, shard: int) -> None:
    """FileNotFoundError, saying how to fetch them again, when clips the shard's manifest
    lists as downloaded are gone from raw_dir (missing_downloads)."""
    missing = missing_downloads(manifest_path, raw_dir)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} clip(s) of shard {shard} are listed as downloaded in {manifest_path} but "
            f"missing from {raw_dir} (e.g. {missing[:3]}); fetch them again by adding "
            f"`--forcerun sounddescs_download` to the command (finished clips are not fetched again)")


def missing_downloads(manifest_path: str | os.PathLike, raw_dir: str | os.PathLike) -> list[str]:
    """Ids the manifest lists as downloaded whose `<id>.wav` is no longer in `raw_dir`
    (deleted by hand after the download job ran); preparing without them would silently
    shrink the corpus."""
    manifest = pd.read_csv(manifest_path, sep="\t", dtype=str, keep_default_na=False)
    done = manifest.id[manifest.status != "failed"]
    return [i for i in done if not (Path(raw_dir) / f"{check_clip_id(i, str(manifest_path))}.wav").exists()]
