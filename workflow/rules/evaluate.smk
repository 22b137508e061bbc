# Segments and bin scores of one model for every query of a split.
rule predict:
    input:
        model=get_predicting_model,
        features=get_features("npy"),
        index=get_features("index.tsv"),
        queries=rules.queries.output.queries,
        embeddings=get_split_embeddings,
        examples=get_examples,
    output:
        segments="results/predictions/{backbone}/seed{seed}/{split}.tsv",
        scores="results/predictions/{backbone}/seed{seed}/{split}.scores.npz",
    params:
        duration=lookup(within=config, dpath="mixtures/duration"),
    log:
        "results/logs/predict/{backbone}/seed{seed}/{split}.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/predict.py"


# Every metric of one model: sed_eval on its test segments; sed_scores_eval (PSDS, F1) on its
# test bin scores, with the F1 thresholds chosen on its validation bin scores (a refit's: on
# those of its first training, get_predicting_model).
rule evaluate:
    input:
        segments=expand(rules.predict.output.segments, split="test", allow_missing=True),
        scores=expand(rules.predict.output.scores, split="test", allow_missing=True),
        val_scores=expand(rules.predict.output.scores, split="val", allow_missing=True),
        queries=expand(rules.queries.output.queries, split="test"),
        val_queries=expand(rules.queries.output.queries, split="val"),
        events=expand(rules.mixtures.output.events, split="test"),
        val_events=expand(rules.mixtures.output.events, split="val"),
        model_provenance=scored_model("provenance"),
    output:
        metrics=report("results/metrics/{backbone}/seed{seed}.json", caption="../../report/metrics.rst",
                       category="6. Raw metrics", subcategory="{backbone}",
                       labels={"seed": "{seed}", "file": "all metrics of {backbone} (JSON)"}),
        queries="results/metrics/{backbone}/seed{seed}.queries.tsv",
        roc="results/metrics/{backbone}/seed{seed}.psd_roc.tsv",
    params:
        config=get_config_subset("evaluation", drop=["evaluation/example_count", "evaluation/bootstrap_samples"]),
        data=get_data_config(SPLITS),
    log:
        "results/logs/evaluate/{backbone}/seed{seed}.log",
    conda:
        f"{ENVS}/eval.yaml"
    script:
        "../../scripts/evaluate.py"


# The paper's tables: main results, per category, by condition, paired backbone comparison.
rule results_table:
    input:
        metrics=expand(rules.evaluate.output.metrics, backbone=BACKBONES, seed=SEEDS),
        queries=expand(rules.evaluate.output.queries, backbone=BACKBONES, seed=SEEDS),
    output:
        tsv="results/tables/results.tsv",
        markdown="results/tables/results.md",
        latex="results/tables/results.tex",
        rst="results/tables/results.rst",
        html=report("results/tables/results.html", caption="../../report/results_table.rst",
                    category="3. Results", subcategory="Overall",
                    labels={"item": "Table 1. Main results"}),
        category_tsv="results/tables/per_category.tsv",
        category_markdown="results/tables/per_category.md",
        category_latex="results/tables/per_category.tex",
        category_html=report("results/tables/per_category.html", caption="../../report/per_category_table.rst",
                             category="4. Breakdowns", subcategory="Per category",
                             labels={"item": "Table 2. Results per category"}),
        conditions_tsv="results/tables/conditions.tsv",
        conditions_markdown="results/tables/conditions.md",
        conditions_latex="results/tables/conditions.tex",
        conditions_html=report("results/tables/conditions.html", caption="../../report/conditions_table.rst",
                               category="4. Breakdowns", subcategory="By query kind, SNR and duration",
                               labels={"item": "Table 3. Results by query kind, SNR and duration"}),
        comparison_tsv="results/tables/comparison.tsv",
        comparison_markdown="results/tables/comparison.md",
        comparison_latex="results/tables/comparison.tex",
        comparison_html=report("results/tables/comparison.html", caption="../../report/comparison_table.rst",
                               category="3. Results", subcategory="Overall",
                               labels={"item": "Table 4. Paired comparison of backbones"}),
    params:
        backbones=BACKBONES,
        bootstrap_samples=lookup(within=config, dpath="evaluation/bootstrap_samples"),
    log:
        "results/logs/results_table.log",
    conda:
        f"{ENVS}/eval.yaml"
    script:
        "../../scripts/results_table.py"


# What made the results: per model the code and package versions, and the run's config.
rule provenance:
    input:
        metrics=expand(rules.evaluate.output.metrics, backbone=BACKBONES, seed=SEEDS),
    output:
        models="results/provenance/models.tsv",
        config="results/provenance/config.json",
        html=report("results/provenance/provenance.html", caption="../../report/provenance.rst",
                    category="8. Provenance", subcategory="Code, packages and config",
                    labels={"item": "What made each result"}),
    params:
        config=get_report_config(),
    log:
        "results/logs/provenance.log",
    conda:
        f"{ENVS}/eval.yaml"
    script:
        "../../scripts/provenance.py"
