"""BBC SoundDescs as an arseg corpus: metadata -> clip table, sharded download, prepare.

Workflow order:
  1. fetch_metadata(meta_dir, ...); table = build_clip_table(**load_metadata(meta_dir),
     category_map=...); write_clip_table(path, table)
  2. per shard: download_shard(shard_ids(table.clip_id, n)[k], raw_dir, manifest, accept_licence=...)
  3. prepare_clips(read_clip_table(path), raw_dir, corpus_dir / "audio", sample_rate=..., excerpt=...)
     per shard (after check_downloads), then gather_corpus(the shards' excerpts, audio and skipped
     tables, corpus_dir), which links the audio into one folder and calls write_corpus
The audio is under the BBC RemArc licence (non-commercial use only).
"""
from .download import (ShardFailedError, audio_url, check_downloads, download_shard, missing_downloads, shard_clip_ids,
                       shard_ids, shard_of)
from .licence import LICENCE_KEY, LicenceNotAcceptedError, require_licence
from .metadata import (
    MetadataError,
    build_clip_table,
    fetch_metadata,
    load_metadata,
    parse_category_map,
    read_clip_table,
    write_clip_table,
)
from .prepare import excerpt_spans, gather_corpus, prepare_clips, write_corpus
from .safe_pickle import UnsafePickleError, load_pickle

__all__ = [
    "LICENCE_KEY", "LicenceNotAcceptedError", "MetadataError", "ShardFailedError",
    "UnsafePickleError", "audio_url", "build_clip_table", "download_shard", "excerpt_spans",
    "fetch_metadata", "load_metadata", "load_pickle", "missing_downloads", "parse_category_map",
    "prepare_clips", "gather_corpus", "read_clip_table", "require_licence", "shard_ids", "shard_of",
    "shard_clip_ids", "check_downloads",
    "write_clip_table", "write_corpus",
]
