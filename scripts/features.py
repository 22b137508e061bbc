from pathlib import Path

from arseg.features.logmel import compute_split, feature_config
from arseg.rule_io import logged

with logged(snakemake):
    paths = sorted(Path(snakemake.input.audio).glob("*.wav"))
    compute_split(paths, Path(snakemake.output.array), Path(snakemake.output.index),
                  feature_config(snakemake.params.config["audio"]))
