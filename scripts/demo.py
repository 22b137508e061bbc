from arseg.eval.scoring import eval_config
from arseg.report.showcase import summarise_demo
from arseg.rule_io import logged

with logged(snakemake):
    params, output = snakemake.params, snakemake.output
    summarise_demo(answers_path=snakemake.input.answers, metrics=snakemake.input.metrics,
                   events_path=snakemake.input.events, queries_path=snakemake.input.queries, out_tsv=output.tsv,
                   out_json=output.json, out_html=output.summary,
                   cfg=eval_config(params.config))
