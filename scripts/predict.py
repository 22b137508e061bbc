from pathlib import Path

from arseg.infer.predict import predict_one
from arseg.rule_io import logged

with logged(snakemake):
    predict_one(model=snakemake.input.model, features=snakemake.input.features, index=snakemake.input.index,
                queries=snakemake.input.queries, embeddings=snakemake.input.embeddings,
                duration=snakemake.params.duration,
                out_tsv=Path(snakemake.output.segments), out_scores=Path(snakemake.output.scores),
                examples=snakemake.input.examples)
