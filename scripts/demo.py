from arseg.eval.scoring import EvalConfig
from arseg.report.showcase import run_demo
from arseg.rule_io import logged

with logged(snakemake):
    params, output = snakemake.params, snakemake.output
    run_demo(models=snakemake.input.models, metrics=snakemake.input.metrics, events_path=snakemake.input.events,
             queries_path=snakemake.input.queries, audio_dir=snakemake.input.audio,
             embeddings=snakemake.input.embeddings, out_segments=output.segments, out_cuts=output.cuts,
             out_tsv=output.tsv, out_json=output.json, out_html=output.summary,
             cfg=EvalConfig(t_collar=params.t_collar, percentage_of_length=params.percentage_of_length,
                            segment_seconds=params.segment_seconds),
             threads=snakemake.threads, clips_dir=snakemake.input.clips)
