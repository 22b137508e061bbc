# Positive and negative queries of one split, by label and by description (and by example).
rule queries:
    input:
        events=rules.mixtures.output.events,
        clips=rules.check_corpus.output.clips,
    output:
        queries="results/queries/{split}.tsv",
    params:
        negatives=lookup(within=config, dpath="queries/negatives_per_mixture"),
        seed=lookup(within=config, dpath="queries/seed"),
        examples=lookup(within=config, dpath="queries/examples"),
        clips_of=lambda wc: mixture_set(wc.split)[0],
        first=lambda wc: mixture_set(wc.split)[1],
    log:
        "results/logs/queries/{split}.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/queries.py"


# Encode every distinct query text of the training and validation queries once with the
# frozen sentence encoder (what training reads).
rule embed_queries:
    input:
        queries=expand(rules.queries.output.queries, split=["train", "val"]),
    output:
        embeddings="results/queries/embeddings.npz",
    log:
        "results/logs/embed_queries.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/embed_queries.py"


# The test queries' texts, in a file of their own: a change to the test split reruns the
# test predictions and what follows them, not the trainings.
rule embed_test_queries:
    input:
        queries=expand(rules.queries.output.queries, split="test"),
    output:
        embeddings="results/queries/test_embeddings.npz",
    log:
        "results/logs/embed_test_queries.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/embed_queries.py"


# The refit mixtures' query texts, in a file of their own, so that asking for a refit does not
# change the embeddings the first trainings read (and rerun them).
rule embed_refit_queries:
    input:
        queries=expand(rules.queries.output.queries, split="refit"),
    output:
        embeddings="results/queries/refit_embeddings.npz",
    log:
        "results/logs/embed_refit_queries.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/embed_queries.py"


# Embed every corpus clip once with the frozen pretrained encoder: the clips example queries
# name, and those training draws in their stead (train.example_draws).
rule embed_examples:
    input:
        clips=rules.check_corpus.output.clips,
        audio=rules.check_corpus.output.audio,
        encoder="resources/encoders/aisfx.pth",
    output:
        examples="results/queries/examples.npz",
    params:
        window=lookup(within=config, dpath="mixtures/duration"),
        sample_rate=lookup(within=config, dpath="audio/sample_rate"),
    log:
        "results/logs/embed_examples.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/embed_examples.py"
