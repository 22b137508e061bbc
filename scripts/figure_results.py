from arseg.report import result_figures as rf
from arseg.rule_io import logged

with logged(snakemake):
    metrics, out = snakemake.input.metrics, snakemake.output
    rf.backbones_figure(metrics, out.backbones)
    rf.psd_roc_figure(snakemake.input.roc, metrics, out.psd_roc)
    rf.categories_figure(metrics, out.categories)
    rf.conditions_figure(metrics, out.conditions)
