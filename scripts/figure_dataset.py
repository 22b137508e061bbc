from arseg.report.figures import dataset_figure
from arseg.rule_io import logged

with logged(snakemake):
    dataset_figure(snakemake.input.clips, snakemake.input.events, snakemake.output.figure)
