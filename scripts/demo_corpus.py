from pathlib import Path

from arseg.data.corpus.synthetic import synthesize_corpus
from arseg.rule_io import logged

with logged(snakemake):
    synthesize_corpus(Path(snakemake.output.clips).parent, sample_rate=snakemake.params.sample_rate,
                      clips_per_category=snakemake.params.clips_per_category, seed=snakemake.params.seed)
