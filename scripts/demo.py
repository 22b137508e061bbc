from arseg.eval.scoring import EvalConfig
from arseg.report.showcase import summarise_demo
from arseg.rule_io import logged

with logged(snakemake):
    params, output = snakemake.params, snakemake.output
    summarise_demo(answers_path=snakemake.input.answers, metrics=snakemake.input.metrics,
                   events_path=snakemake.input.events, queries_path=snakemake.input.queries, out_tsv=output.tsv,
                   out_json=output.json, out_html=output.summary,
                   cfg=EvalConfig(t_collar=params.t_collar, percentage_of_length=params.percentage_of_length,
                                  segment_seconds=params.segment_seconds))
