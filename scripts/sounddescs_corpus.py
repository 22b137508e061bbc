from pathlib import Path

import pandas as pd

from arseg.data.sounddescs import gather_corpus
from arseg.rule_io import logged

with logged(snakemake):
    excerpts, skipped = gather_corpus(snakemake.input.excerpts, snakemake.input.audio, snakemake.input.skipped,
                                      Path(snakemake.output.clips).parent)
    print(f"{len(excerpts)} clips from {excerpts.source_id.nunique()} sources; {len(skipped)} sources skipped")
    print(pd.crosstab(excerpts.category, excerpts.split, margins=True).to_string())
