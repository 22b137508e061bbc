from pathlib import Path

from arseg.infer.encode import compute_split
from arseg.rule_io import logged

with logged(snakemake):
    compute_split(sorted(Path(snakemake.input.audio).glob("*.wav")), Path(snakemake.output.array),
                  Path(snakemake.output.index), Path(snakemake.input.encoder), kind=snakemake.wildcards.kind)
