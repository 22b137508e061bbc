from arseg.report.figures import training_figure
from arseg.rule_io import logged

with logged(snakemake):
    training_figure(snakemake.input.histories, snakemake.output.figure)
