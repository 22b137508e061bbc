from pathlib import Path

from arseg.rule_io import logged
from arseg.train.run import predict_one

with logged(snakemake):
    predict_one(model=snakemake.input.model, features=snakemake.input.features, index=snakemake.input.index,
                queries=snakemake.input.queries, embeddings=snakemake.input.embeddings,
                duration=snakemake.params.duration,
                out_tsv=Path(snakemake.output.segments), out_scores=Path(snakemake.output.scores))
