from pathlib import Path

from arseg.rule_io import logged
from arseg.train.ensemble import combine_members

with logged(snakemake):
    inputs = snakemake.input
    combine_members(inputs.members, features=inputs.features, index=inputs.index, queries=inputs.queries,
                    events=inputs.events, embeddings=inputs.embeddings, examples=inputs.examples,
                    model_path=Path(snakemake.output.model),
                    provenance_configs=[snakemake.params.data, snakemake.params.config],
                    provenance_path=Path(snakemake.output.provenance), first=inputs.get("first"),
                    threads=snakemake.threads)
