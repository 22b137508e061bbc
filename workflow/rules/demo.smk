# The demo: the best model (chosen on validation) on held-out long audio made from test clips.


# Demo files from the test split's clips only, with their own seed and duration, their
# events and the queries asked of them (present categories, and absent ones).
rule demo_mixtures:
    input:
        clips=rules.check_corpus.output.clips,
        audio=rules.check_corpus.output.audio,
    output:
        events="results/demo/mixtures/events.tsv",
        queries="results/demo/mixtures/queries.tsv",
        audio=directory("results/demo/mixtures/audio"),
    params:
        config=get_config_subset("demo", "mixtures", "audio/sample_rate", "queries/examples",
                                 drop=["demo/enabled", "mixtures/count", "mixtures/seed", "mixtures/augment",
                                       "mixtures/duration"]),
    # First among the jobs ready with it: a corpus the demo cannot use stops the run before
    # any training, not after it.
    priority: 100
    log:
        "results/logs/demo/mixtures.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/demo_mixtures.py"


# The demo's query texts through the sentence encoder, as every other query: demo_segments
# then finds them all cached and need not load the encoder itself.
rule demo_embeddings:
    input:
        queries=[rules.demo_mixtures.output.queries],
    output:
        embeddings="results/demo/mixtures/embeddings.npz",
    log:
        "results/logs/demo/embeddings.log",
    conda:
        f"{ENVS}/torch.yaml"
    script:
        "../../scripts/embed_queries.py"


# The best model on validation segments every demo file through `arseg segment` (segment
# tables, pictures, cut-out audio) and keeps what it answered; the evaluation settings play
# no part here, so an edit of them only rescores (the demo rule).
rule demo_segments:
    input:
        models=expand(scored_model("model"), backbone=BACKBONES, seed=SEEDS),
        queries=rules.demo_mixtures.output.queries,
        audio=rules.demo_mixtures.output.audio,
        embeddings=get_demo_embeddings,
        clips=rules.check_corpus.output.audio,
    # One label per item, unique to it: the report turns a label with exactly two values, each
    # on half of the items, into a toggle, and then crashes on every item that has no twin.
    output:
        segments=report(directory("results/demo/segments"), patterns=["{file}/{picture}.png"],
                        caption="../../report/demo.rst", category="7. Demo", subcategory="Segments found",
                        labels={"picture": "{picture}"}),
        cuts=report(directory("results/demo/cuts"), patterns=["{file}/{query}/{segment}.wav"],
                    caption="../../report/demo_cuts.rst", category="7. Demo", subcategory="Cut-out audio",
                    labels={"cut-out": "{query}/{segment}"}),
        answers="results/demo/answers.json",
    threads: 2
    log:
        "results/logs/demo/segments.log",
    conda:
        f"{ENVS}/segment.yaml"
    script:
        "../../scripts/demo_segments.py"


# The demo's answers scored against the files' reference, beside the chosen model's test scores.
rule demo:
    input:
        answers=rules.demo_segments.output.answers,
        metrics=expand(rules.evaluate.output.metrics, backbone=BACKBONES, seed=SEEDS),
        events=rules.demo_mixtures.output.events,
        queries=rules.demo_mixtures.output.queries,
    output:
        summary=report("results/demo/summary.html", caption="../../report/demo_summary.rst",
                       category="7. Demo", subcategory="Summary",
                       labels={"item": "Table 5. Demo on held-out audio"}),
        tsv="results/demo/summary.tsv",
        json="results/demo/summary.json",
    params:
        config=get_config_subset("evaluation/t_collar", "evaluation/percentage_of_length",
                                 "evaluation/segment_seconds"),
    log:
        "results/logs/demo/demo.log",
    conda:
        f"{ENVS}/eval.yaml"
    script:
        "../../scripts/demo.py"
