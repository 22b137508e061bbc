from arseg.model.backbone_specs import training_priority


# Train one backbone with one seed (or one member of a seed's ensemble, model.members);
# resumable state lives beside the model, undeclared.
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
        model=f"{TRAINED}/model.pt",
        history=f"{TRAINED}/history.tsv",
        provenance=f"{TRAINED}/provenance.json",
    params:
        config=get_model_config,
        data=get_data_config(["train", "val"]),
    threads: lookup(within=config, dpath="training/threads")
    priority: lambda wildcards: training_priority(wildcards.backbone)
    resources:
        gpu=1,
    log:
        TRAINED.replace("results/models", "results/logs/train") + ".log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/train.py"


# The same backbone and seed trained again, from the start, on the training mixtures and the
# refit mixtures (made of the validation clips): as many epochs as the first training kept and
# its decoding, no validation of its own (its clips are now trained on); the validation split
# only checks the refit's false alarms against the cap.
rule refit:
    input:
        features=get_features("npy", ["train", "refit", "val"]),
        index=get_features("index.tsv", ["train", "refit", "val"]),
        encoder=get_encoder,
        queries=expand(rules.queries.output.queries, split=["train", "refit", "val"]),
        events=expand(rules.mixtures.output.events, split=["train", "refit", "val"]),
        embeddings=get_refit_embeddings,
        examples=get_examples,
        first=rules.train.output.model,
    output:
        model=f"{TRAINED}/refit/model.pt",
        history=f"{TRAINED}/refit/history.tsv",
        provenance=f"{TRAINED}/refit/provenance.json",
    params:
        config=get_model_config,
        data=get_data_config(["train", "val", "refit"]),
    threads: lookup(within=config, dpath="training/threads")
    priority: lambda wildcards: training_priority(wildcards.backbone)
    resources:
        gpu=1,
    log:
        TRAINED.replace("results/models", "results/logs/refit") + ".log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/train.py"


# With model.members: a seed's members combined into one model (arseg.train.ensemble), its
# decoding chosen on validation as a single model's is; the first trainings' ensemble, then
# (with a refit) the refits', which keeps the first's ranking of the decodings.
if MEMBERS > 1:

    rule ensemble:
        input:
            **ensemble_inputs(rules.train.output.model),
        output:
            model="results/models/{backbone}/seed{seed}/model.pt",
            provenance="results/models/{backbone}/seed{seed}/provenance.json",
        params:
            config=get_ensemble_config,
            data=get_data_config(["train", "val"]),
        threads: lookup(within=config, dpath="training/threads")
        log:
            "results/logs/ensemble/{backbone}/seed{seed}.log",
        conda:
            f"{ENVS}/torch.yaml"
        script:
            "../../scripts/ensemble.py"

    rule ensemble_refit:
        input:
            **ensemble_inputs(rules.refit.output.model),
            first=rules.ensemble.output.model,
        output:
            model="results/models/{backbone}/seed{seed}/refit/model.pt",
            provenance="results/models/{backbone}/seed{seed}/refit/provenance.json",
        params:
            config=get_ensemble_config,
            data=get_data_config(["train", "val", "refit"]),
        threads: lookup(within=config, dpath="training/threads")
        log:
            "results/logs/ensemble_refit/{backbone}/seed{seed}.log",
        conda:
            f"{ENVS}/torch.yaml"
        script:
            "../../scripts/ensemble.py"
