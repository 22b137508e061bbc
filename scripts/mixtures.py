from pathlib import Path

from arseg.data.augment import AugmentConfig
from arseg.data.corpus.table import read_clips
from arseg.data.mixtures import generate_split, mixture_config
from arseg.rule_io import logged

with logged(snakemake):
    config = snakemake.params.config
    generate_split(read_clips(snakemake.input.clips), Path(snakemake.input.audio),
                   Path(snakemake.output.events).parent, snakemake.params.clips_of,
                   snakemake.params.n_mixtures, mixture_config(config), config["mixtures"]["seed"],
                   AugmentConfig(**snakemake.params.augment), first=snakemake.params.first)
