from arseg.figures import examples_figure
from arseg.rule_io import logged

with logged(snakemake):
    examples_figure(features=snakemake.input.features, index=snakemake.input.index, events=snakemake.input.events,
                    queries=snakemake.input.queries, segments=snakemake.input.segments, scores=snakemake.input.scores,
                    count=snakemake.params.n_examples, hop_seconds=snakemake.params.hop_seconds,
                    model_name=snakemake.params.model, out_png=snakemake.output.figure)
