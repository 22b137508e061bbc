from arseg.io.wheel_fetch import fetch
from arseg.model.aisfx import CHECKPOINT
from arseg.rule_io import logged

with logged(snakemake):
    fetch(CHECKPOINT, snakemake.output[0])
