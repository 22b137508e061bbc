from pathlib import Path

from arseg.configs import model_config, train_config
from arseg.rule_io import logged
from arseg.train.ensemble import member_seed
from arseg.train.run import train_one

with logged(snakemake):
    model_path, config = Path(snakemake.output.model), snakemake.params.config
    train_one(features=snakemake.input.features, index=snakemake.input.index, queries=snakemake.input.queries,
              events=snakemake.input.events, embeddings=snakemake.input.embeddings,
              model_cfg=model_config(config, snakemake.wildcards.backbone, labels=[]),
              train_cfg=train_config(config, member_seed(int(snakemake.wildcards.seed),
                                                         int(snakemake.wildcards.get("member", 0)))),
              model_path=model_path, history_path=Path(snakemake.output.history),
              state_path=model_path.with_name("train_state.pt"), threads=snakemake.threads,
              provenance_configs=[snakemake.params.data, config],
              provenance_path=Path(snakemake.output.provenance),
              encoder=Path(snakemake.input.encoder) if snakemake.input.encoder else None,
              examples=snakemake.input.examples, refit_of=snakemake.input.get("first"))
