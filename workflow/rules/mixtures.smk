# Mix corpus clips of one split into seeded mixtures with DCASE-style annotations (the refit
# set: more mixtures of the validation clips, common.smk: mixture_set).
rule mixtures:
    input:
        clips=rules.check_corpus.output.clips,
        audio=rules.check_corpus.output.audio,
    output:
        events="results/mixtures/{split}/events.tsv",
        audio=directory("results/mixtures/{split}/audio"),
    params:
        n_mixtures=lambda wc: config["mixtures"]["count"][wc.split],
        clips_of=lambda wc: mixture_set(wc.split)[0],
        first=lambda wc: mixture_set(wc.split)[1],
        config=get_config_subset("mixtures", "audio/sample_rate", drop=["mixtures/count", "mixtures/augment"]),
        # Only training mixtures are augmented, so the setting reruns only them.
        augment=lambda wc: get_sorted_config("mixtures/augment") if wc.split == "train" else {},
    log:
        "results/logs/mixtures/{split}.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/mixtures.py"
