# Positive and negative queries of one split, by label and by description.
rule queries:
    input:
        events=rules.mixtures.output.events,
        clips=rules.check_corpus.output.clips,
    output:
        queries="results/queries/{split}.tsv",
    params:
        negatives=lookup(within=config, dpath="queries/negatives_per_mixture"),
        seed=lookup(within=config, dpath="queries/seed"),
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
