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


# Check and decode every clip of the corpus (any format, rate, channels) into mono WAV at
# audio.sample_rate; bad clips are skipped and listed, the rest goes on. Every later rule
# reads results/corpus/audio, never the corpus's own files.
rule check_corpus:
    input:
        clips=get_corpus_clips(),
        audio=get_corpus_audio,
    output:
        clips="results/corpus/clips.tsv",
        audio=directory("results/corpus/audio"),
        rejected=report("results/corpus/rejected.tsv", caption="../../report/rejected.rst",
                        category="1. Data", subcategory="Corpus and mixtures",
                        labels={"item": "Rejected clips (TSV)"}),
    params:
        sample_rate=lookup(within=config, dpath="audio/sample_rate"),
        categories=lookup(within=config, dpath="corpus/categories"),
        split_seed=get_split_seed(),
    log:
        "results/logs/check_corpus.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/check_corpus.py"
