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
