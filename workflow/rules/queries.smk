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
    log:
        "results/logs/queries/{split}.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/queries.py"


# Encode every distinct query text once with the frozen sentence encoder.
rule embed_queries:
    input:
        queries=expand(rules.queries.output.queries, split=SPLITS),
    output:
        embeddings="results/queries/embeddings.npz",
    log:
        "results/logs/embed_queries.log",
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
