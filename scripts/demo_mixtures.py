from pathlib import Path

from arseg.data.corpus.table import read_clips
from arseg.data.long_mixtures import demo_config, demo_mixture_config, generate_demo
from arseg.rule_io import logged

with logged(snakemake):
    config = snakemake.params.config
    generate_demo(read_clips(snakemake.input.clips), Path(snakemake.input.audio), Path(snakemake.output.audio),
                  Path(snakemake.output.events), Path(snakemake.output.queries),
                  demo_config(config), demo_mixture_config(config))
