import json
from pathlib import Path

from arseg import provenance
from arseg.eval.evaluate import evaluate_files
from arseg.eval.scoring import buckets_config, eval_config
from arseg.rule_io import logged

with logged(snakemake):
    config, data = snakemake.params.config, snakemake.params.data
    made_by = {**provenance.record(data, config),
               "model": json.loads(Path(snakemake.input.model_provenance).read_text())}
    evaluate_files(segments=snakemake.input.segments[0], test_scores=snakemake.input.scores[0],
                   test_queries=snakemake.input.queries[0], test_events=snakemake.input.events[0],
                   val_scores=snakemake.input.val_scores[0], val_queries=snakemake.input.val_queries[0],
                   val_events=snakemake.input.val_events[0], duration=data["mixtures"]["duration"],
                   cfg=eval_config(config), buckets=buckets_config(config),
                   out_json=snakemake.output.metrics, out_queries=snakemake.output.queries,
                   out_roc=snakemake.output.roc, provenance=made_by)
