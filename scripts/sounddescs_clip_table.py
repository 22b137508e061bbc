from pathlib import Path

import pandas as pd

from arseg.data.sounddescs import MetadataError, build_clip_table, load_metadata, write_clip_table
from arseg.rule_io import logged

with logged(snakemake):
    protocol = snakemake.params.protocol
    table = build_clip_table(**load_metadata(Path(snakemake.input.categories).parent),
                             category_map=snakemake.params.category_map, on_conflict=snakemake.params.on_conflict)
    if table.empty:
        raise MetadataError(f"protocol {protocol!r}: no SoundDescs clip matches any class of "
                            f"corpus.sounddescs.clip_table.category_maps.{protocol}")
    write_clip_table(snakemake.output.table, table)
    print(f"protocol {protocol}: {len(table)} clips")
    print(pd.crosstab(table.category, table.split, margins=True).to_string())
    print("dropped:", table.attrs["dropped"])
    missing = sorted(set(snakemake.params.category_map) - set(table.category))
    if missing:
        print(f"WARNING: no clip for class(es) {missing}")
