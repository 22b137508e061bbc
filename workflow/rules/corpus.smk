# Synthesise the embedded demo corpus: deterministic, offline, in the corpus contract.
rule demo_corpus:
    output:
        clips="resources/demo/clips.tsv",
        audio=directory("resources/demo/audio"),
    params:
        sample_rate=lookup(within=config, dpath="audio/sample_rate"),
        clips_per_category=lookup(within=config, dpath="corpus/demo/clips_per_category"),
        seed=lookup(within=config, dpath="corpus/demo/seed"),
    log:
        "results/logs/demo_corpus.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/demo_corpus.py"
