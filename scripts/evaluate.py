from arseg.evaluate import Buckets, EvalConfig
from arseg.metrics import evaluate_files
from arseg.rule_io import logged

with logged(snakemake):
    params = snakemake.params
    evaluate_files(segments=snakemake.input.segments[0], test_scores=snakemake.input.scores[0],
                   test_queries=snakemake.input.queries[0], test_events=snakemake.input.events[0],
                   val_scores=snakemake.input.val_scores[0], val_queries=snakemake.input.val_queries[0],
                   val_events=snakemake.input.val_events[0], duration=params.duration,
                   cfg=EvalConfig(t_collar=params.t_collar, percentage_of_length=params.percentage_of_length,
                                  segment_seconds=params.segment_seconds),
                   buckets=Buckets(snr_edges_db=tuple(params.snr_edges_db),
                                   duration_edges_seconds=tuple(params.duration_edges_seconds)),
                   out_json=snakemake.output.metrics, out_queries=snakemake.output.queries,
                   out_roc=snakemake.output.roc)
