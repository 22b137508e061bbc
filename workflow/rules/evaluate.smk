# Segments and bin scores of one model for every query of a split.
rule predict:
    input:
        model=rules.train.output.model,
        features=rules.features.output.array,
        index=rules.features.output.index,
        queries=rules.queries.output.queries,
        embeddings=get_embeddings,
    output:
        segments="results/predictions/{backbone}/seed{seed}/{split}.tsv",
        scores="results/predictions/{backbone}/seed{seed}/{split}.scores.npz",
    log:
        "results/logs/predict/{backbone}/seed{seed}/{split}.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/predict.py"


# sed_eval metrics of one model on the test split, each query scored as its own file.
rule evaluate:
    input:
        segments=expand(rules.predict.output.segments, split="test", allow_missing=True),
        scores=expand(rules.predict.output.scores, split="test", allow_missing=True),
        queries="results/queries/test.tsv",
        events="results/mixtures/test/events.tsv",
    output:
        metrics="results/metrics/{backbone}/seed{seed}.json",
    log:
        "results/logs/evaluate/{backbone}/seed{seed}.log",
    conda:
        f"{ENVS}/eval.yaml"
    script:
        "../../scripts/evaluate.py"


# The main results table: one row per backbone, mean and spread over seeds.
rule results_table:
    input:
        metrics=expand(rules.evaluate.output.metrics, backbone=BACKBONES, seed=SEEDS),
    output:
        tsv=report("results/tables/results.tsv", caption="../../report/results_table.rst",
                   category="Results", labels={"table": "main results (TSV)"}),
        markdown="results/tables/results.md",
    log:
        "results/logs/results_table.log",
    conda:
        f"{ENVS}/eval.yaml"
    script:
        "../../scripts/results_table.py"
