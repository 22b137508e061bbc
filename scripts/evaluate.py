from arseg.configs import eval_config
from arseg.rule_io import logged
from arseg.workflow_steps import evaluate_one

with logged(snakemake):
    evaluate_one(segments=snakemake.input.segments[0], scores=snakemake.input.scores[0],
                 queries=snakemake.input.queries, events=snakemake.input.events,
                 duration=snakemake.config["mixtures"]["duration"], cfg=eval_config(snakemake.config),
                 out_json=snakemake.output.metrics)
