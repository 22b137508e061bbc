from arseg.report.figures import examples_figure
from arseg.rule_io import logged

with logged(snakemake):
    examples_figure(features=snakemake.input.features[0], index=snakemake.input.index[0],
                    events=snakemake.input.events[0], queries=snakemake.input.queries[0],
                    segments=snakemake.input.segments[0], scores=snakemake.input.scores[0],
                    count=snakemake.params.n_examples, hop_seconds=snakemake.params.hop_seconds,
                    model_name=f"{snakemake.wildcards.backbone} seed {snakemake.params.seed}",
                    out_png=snakemake.output.figure)
