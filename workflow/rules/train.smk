from arseg.model.backbone_specs import training_priority


# Train one backbone with one seed; resumable state lives beside the model, undeclared.
# Longer trainings start first (and before any prediction), so side by side they end together.
rule train:
    input:
        features=get_features("npy", ["train", "val"]),
        index=get_features("index.tsv", ["train", "val"]),
        encoder=get_encoder,
        queries=expand(rules.queries.output.queries, split=["train", "val"]),
        events=expand(rules.mixtures.output.events, split=["train", "val"]),
        embeddings=get_embeddings,
        examples=get_examples,
    output:
        model="results/models/{backbone}/seed{seed}/model.pt",
        history="results/models/{backbone}/seed{seed}/history.tsv",
        provenance="results/models/{backbone}/seed{seed}/provenance.json",
    params:
        config=get_model_config,
        data=get_data_config(["train", "val"]),
    threads: lookup(within=config, dpath="training/threads")
    priority: lambda wildcards: training_priority(wildcards.backbone)
    resources:
        gpu=1,
    log:
        "results/logs/train/{backbone}/seed{seed}.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/train.py"
