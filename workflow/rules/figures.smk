# Dataset overview: clips per category, durations, events per mixture, SNRs.
rule dataset_figure:
    input:
        clips=get_corpus_clips(),
        events=expand(rules.mixtures.output.events, split=SPLITS),
    output:
        figure=report("results/figures/dataset.png", caption="../../report/dataset.rst",
                      category="Data", labels={"figure": "dataset overview"}),
    log:
        "results/logs/figures/dataset.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_dataset.py"


# Training and validation loss per epoch, every backbone and seed.
rule training_figure:
    input:
        histories=expand(rules.train.output.history, backbone=BACKBONES, seed=SEEDS),
    output:
        figure=report("results/figures/training.png", caption="../../report/training.rst",
                      category="Models", labels={"figure": "training curves"}),
    log:
        "results/logs/figures/training.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_training.py"


# Example test mixtures: spectrogram, reference and predicted segments, score curve.
rule examples_figure:
    input:
        features="results/features/test.npy",
        index="results/features/test.index.tsv",
        events="results/mixtures/test/events.tsv",
        queries="results/queries/test.tsv",
        segments=f"results/predictions/{BACKBONES[0]}/seed{SEEDS[0]}/test.tsv",
        scores=f"results/predictions/{BACKBONES[0]}/seed{SEEDS[0]}/test.scores.npz",
    output:
        figure=report("results/figures/examples.png", caption="../../report/examples.rst",
                      category="Results", labels={"figure": "example mixtures"}),
    params:
        n_examples=lookup(within=config, dpath="evaluation/example_count"),
        hop_seconds=lookup(within=config, dpath="audio/hop_seconds"),
        model=f"{BACKBONES[0]} seed {SEEDS[0]}",
    log:
        "results/logs/figures/examples.log",
    conda:
        f"{ENVS}/plots.yaml"
    script:
        "../../scripts/figure_examples.py"
