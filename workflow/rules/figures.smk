# Dataset overview: clips per category and split, durations, events per mixture, SNRs.
rule dataset_figure:
    input:
        clips=rules.check_corpus.output.clips,
        events=expand(rules.mixtures.output.events, split=SPLITS),
    output:
        figure=report("results/figures/dataset.png", caption="../../report/dataset.rst",
                      category="1. Data", subcategory="Corpus and mixtures",
                      labels={"item": "Figure 1. Dataset overview"}),
    log:
        "results/logs/figures/dataset.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_dataset.py"


# Training and validation loss per epoch, one panel per backbone, every seed.
rule training_figure:
    input:
        histories=expand(rules.train.output.history, backbone=BACKBONES, seed=SEEDS, member=range(MEMBERS)),
    output:
        figure=report("results/figures/training.png", caption="../../report/training.rst",
                      category="2. Training", subcategory="All backbones",
                      labels={"item": "Figure 2. Training curves"}),
    log:
        "results/logs/figures/training.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_training.py"


# Figures of the results: backbones over seeds, categories, SNR and duration, PSD-ROC.
rule result_figures:
    input:
        metrics=expand(rules.evaluate.output.metrics, backbone=BACKBONES, seed=SEEDS),
        roc=expand(rules.evaluate.output.roc, backbone=BACKBONES, seed=SEEDS),
    output:
        backbones=report("results/figures/backbones.png", caption="../../report/backbones.rst",
                         category="3. Results", subcategory="Overall",
                         labels={"item": "Figure 3. Backbones compared over seeds"}),
        psd_roc=report("results/figures/psd_roc.png", caption="../../report/psd_roc.rst",
                       category="3. Results", subcategory="Overall",
                       labels={"item": "Figure 4. PSD-ROC curves"}),
        categories=report("results/figures/categories.png", caption="../../report/categories.rst",
                          category="4. Breakdowns", subcategory="Per category",
                          labels={"item": "Figure 5. Per-category heatmap"}),
        conditions=report("results/figures/conditions.png", caption="../../report/conditions.rst",
                          category="4. Breakdowns", subcategory="By query kind, SNR and duration",
                          labels={"item": "Figure 6. F1 by SNR and by event duration"}),
    log:
        "results/logs/figures/results.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_results.py"


# Example test mixtures of one backbone (its first seed): spectrogram, reference and
# predicted segments, presence score; the last one is its worst positive query.
rule examples_figure:
    input:
        features=expand(rules.features.output.array, split="test"),
        index=expand(rules.features.output.index, split="test"),
        events=expand(rules.mixtures.output.events, split="test"),
        queries=expand(rules.queries.output.queries, split="test"),
        segments=expand(rules.predict.output.segments, split="test", seed=SEEDS[0], allow_missing=True),
        scores=expand(rules.predict.output.scores, split="test", seed=SEEDS[0], allow_missing=True),
    output:
        figure=report("results/figures/examples/{backbone}.png", caption="../../report/examples.rst",
                      category="5. Examples", subcategory="{backbone}",
                      labels={"item": "Figure 7. Example mixtures ({backbone})"}),
    params:
        n_examples=lookup(within=config, dpath="evaluation/example_count"),
        hop_seconds=lookup(within=config, dpath="audio/hop_seconds"),
        seed=SEEDS[0],
    log:
        "results/logs/figures/examples/{backbone}.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_examples.py"
