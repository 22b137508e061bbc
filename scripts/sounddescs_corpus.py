import os
import shutil
from pathlib import Path

import pandas as pd

from arseg.data.sounddescs import write_corpus
from arseg.rule_io import logged

TEXT = {"clip_id": str, "category": str, "description": str, "split": str, "source_id": str}


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # no second copy of the audio where the file system allows it
    except OSError:
        shutil.copyfile(src, dst)


with logged(snakemake):
    audio = Path(snakemake.output.audio)
    audio.mkdir(parents=True, exist_ok=True)
    parts = []
    for excerpts_path, shard_audio in zip(snakemake.input.excerpts, snakemake.input.audio):
        part = pd.read_csv(excerpts_path, sep="\t", dtype=TEXT, keep_default_na=False)
        for clip_id in part.clip_id:
            link_or_copy(Path(shard_audio) / f"{clip_id}.wav", audio / f"{clip_id}.wav")
        parts.append(part)
    excerpts = pd.concat(parts, ignore_index=True)
    skipped = pd.concat([pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in snakemake.input.skipped],
                        ignore_index=True)
    if excerpts.empty:
        raise RuntimeError(f"no SoundDescs clip could be prepared; the reasons are in {snakemake.input.skipped}")
    write_corpus(Path(snakemake.output.clips).parent, excerpts, skipped)  # clips.tsv last
    print(f"{len(excerpts)} clips from {excerpts.source_id.nunique()} sources; {len(skipped)} sources skipped")
    print(pd.crosstab(excerpts.category, excerpts.split, margins=True).to_string())
