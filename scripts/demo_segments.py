from arseg.infer.demo import segment_demo
from arseg.rule_io import logged

with logged(snakemake):
    segment_demo(models=snakemake.input.models, queries_path=snakemake.input.queries, audio_dir=snakemake.input.audio,
                 embeddings=snakemake.input.embeddings, out_segments=snakemake.output.segments,
                 out_cuts=snakemake.output.cuts, out_answers=snakemake.output.answers, threads=snakemake.threads,
                 clips_dir=snakemake.input.clips)
