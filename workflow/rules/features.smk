# Log-mel features of one split, computed once and shared by every backbone.
rule features:
    input:
        audio=rules.mixtures.output.audio,
    output:
        array="results/features/{split}.npy",
        index="results/features/{split}.index.tsv",
    params:
        config=get_config_subset("audio"),
    log:
        "results/logs/features/{split}.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/features.py"


# The pretrained encoder's checkpoint (arseg.model.aisfx.CHECKPOINT), out of the wheel that
# `pip download` fetches through pip's own configured index, its digests checked. On the
# machine that runs Snakemake: a cluster's compute nodes are often offline.
localrules:
    fetch_encoder,


rule fetch_encoder:
    output:
        "resources/encoders/aisfx.pth",
    log:
        "results/logs/fetch_encoder.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/fetch_encoder.py"


# What the frozen pretrained encoder makes of one split (model/backbone_specs.py: ENCODER; its
# features for aisfx, its last block's input for aisfx_tuned), computed once and read by every
# backbone that reads it, as the log-mel is by the others.
rule encoder_features:
    input:
        audio=rules.mixtures.output.audio,
        encoder=rules.fetch_encoder.output[0],
    output:
        array="results/features/{kind}/{split}.npy",
        index="results/features/{kind}/{split}.index.tsv",
    wildcard_constraints:
        kind="|".join(sorted(set(ENCODER.values()))),
    log:
        "results/logs/encoder_features/{kind}/{split}.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/encoder_features.py"
