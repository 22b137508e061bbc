from arseg.io.wheel_fetch import fetch_from_wheel
from arseg.model.aisfx import CHECKPOINT
from arseg.rule_io import logged

with logged(snakemake):
    fetch_from_wheel(CHECKPOINT, snakemake.output[0])
