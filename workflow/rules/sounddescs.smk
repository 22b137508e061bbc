# BBC SoundDescs as the corpus (corpus.source: sounddescs): metadata -> clip table ->
# n_shards download jobs -> per-shard preparation -> resources/sounddescs/corpus/.
#
# Planning never reads downloaded data: the shard count is fixed in config, each shard's
# ids are computed inside its job (crc32(id) % n_shards), so the DAG has a constant
# 2 * n_shards + 3 jobs whatever the corpus size.
#
# The downloaded WAVs live in resources/sounddescs/raw/ and are NOT declared outputs:
# Snakemake deletes the declared outputs of a failed or re-run job, which must never cost
# hours of finished downloads. A shard job skips every clip already there, and a clip only
# appears there once complete and verified (see src/arseg/data/sounddescs/download.py).
#
# params hold what decides the content of the outputs. The licence gate and the network
# settings (timeouts, retries, politeness, the audio host or a mirror of it) reach the
# scripts as Untracked params: changing them must not re-run the downloads and, through
# them, every mixture and model after.

SOUNDDESCS = "resources/sounddescs"
SOUNDDESCS_SHARDS = list(range(config["corpus"]["sounddescs"]["n_shards"]))

if config["corpus"]["source"] == "sounddescs" and config["corpus"]["sounddescs"]["accept_licence"] is not True:
    from snakemake.logging import logger

    logger.warning(
        "corpus.sounddescs.accept_licence is not true: the SoundDescs jobs will refuse to download "
        "(BBC RemArc licence, non-commercial use only; set `corpus.sounddescs.accept_licence: true` to accept it)"
    )


wildcard_constraints:
    shard=r"\d+",


# Downloads are polite across jobs too: at most this many shard jobs at once (each opens
# `download.parallel` connections). Raise it for a mirror with --resources downloads=N.
if "downloads" not in workflow.global_resources:
    workflow.register_resource("downloads", 1)


# Compute nodes of a cluster often cannot reach the internet: fetch on the submitting host.
localrules:
    sounddescs_metadata,
    sounddescs_download,


# Fetch the SoundDescs metadata (categories, descriptions, download links, official split).
rule sounddescs_metadata:
    output:
        categories=f"{SOUNDDESCS}/metadata/categories.pkl",
        descriptions=f"{SOUNDDESCS}/metadata/descriptions.pkl",
        links=f"{SOUNDDESCS}/metadata/download_links.txt",
        train=f"{SOUNDDESCS}/metadata/train_list.txt",
        val=f"{SOUNDDESCS}/metadata/val_list.txt",
        test=f"{SOUNDDESCS}/metadata/test_list.txt",
    params:
        data_base_url=lookup(within=config, dpath="corpus/sounddescs/metadata/data_base_url"),
        splits_base_url=lookup(within=config, dpath="corpus/sounddescs/metadata/splits_base_url"),
        sha256=get_sorted_config("corpus/sounddescs/metadata/sha256"),
        accept_licence=Untracked(lookup(within=config, dpath="corpus/sounddescs/accept_licence")),
        network=Untracked({key: config["corpus"]["sounddescs"]["metadata"][key]
                           for key in ("timeout", "retries", "backoff")}),
    log:
        "results/logs/sounddescs/metadata.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/sounddescs_metadata.py"


# One row per SoundDescs clip of an output class of the chosen protocol (the category map).
rule sounddescs_clip_table:
    input:
        categories=rules.sounddescs_metadata.output.categories,
        descriptions=rules.sounddescs_metadata.output.descriptions,
        links=rules.sounddescs_metadata.output.links,
        train=rules.sounddescs_metadata.output.train,
        val=rules.sounddescs_metadata.output.val,
        test=rules.sounddescs_metadata.output.test,
    output:
        table=f"{SOUNDDESCS}/clip_table.tsv",
    params:
        protocol=lookup(within=config, dpath="corpus/sounddescs/clip_table/protocol"),
        category_map=get_sounddescs_category_map,
        on_conflict=lookup(within=config, dpath="corpus/sounddescs/clip_table/on_conflict"),
    log:
        "results/logs/sounddescs/clip_table.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/sounddescs_clip_table.py"


# Download the audio of one shard into raw/ (resumable); the manifest says what happened per clip.
# The manifest is written as a log first (kept when the job fails) and copied to the output.
rule sounddescs_download:
    input:
        table=rules.sounddescs_clip_table.output.table,
    output:
        manifest=f"{SOUNDDESCS}/manifests/shard{{shard}}.tsv",
    params:
        n_shards=lookup(within=config, dpath="corpus/sounddescs/n_shards"),
        raw_dir=f"{SOUNDDESCS}/raw",
        accept_licence=Untracked(lookup(within=config, dpath="corpus/sounddescs/accept_licence")),
        download=Untracked(lookup(within=config, dpath="corpus/sounddescs/download")),
    threads: 1
    resources:
        downloads=1,
    log:
        log="results/logs/sounddescs/download/shard{shard}.log",
        manifest="results/logs/sounddescs/download/shard{shard}.manifest.tsv",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/sounddescs_download.py"


# Cut each downloaded clip of one shard into mono excerpts at the corpus sample rate.
rule sounddescs_prepare:
    input:
        table=rules.sounddescs_clip_table.output.table,
        manifest=rules.sounddescs_download.output.manifest,
    output:
        excerpts=f"{SOUNDDESCS}/prepared/shard{{shard}}/excerpts.tsv",
        skipped=f"{SOUNDDESCS}/prepared/shard{{shard}}/skipped.tsv",
        audio=directory(f"{SOUNDDESCS}/prepared/shard{{shard}}/audio"),
    params:
        n_shards=lookup(within=config, dpath="corpus/sounddescs/n_shards"),
        sample_rate=lookup(within=config, dpath="audio/sample_rate"),
        excerpt=get_sorted_config("corpus/sounddescs/excerpt"),
        raw_dir=f"{SOUNDDESCS}/raw",
    log:
        "results/logs/sounddescs/prepare/shard{shard}.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/sounddescs_prepare.py"


# Gather the prepared shards into the corpus contract: clips.tsv + audio/<clip_id>.wav.
rule sounddescs_corpus:
    input:
        excerpts=expand(rules.sounddescs_prepare.output.excerpts, shard=SOUNDDESCS_SHARDS),
        skipped=expand(rules.sounddescs_prepare.output.skipped, shard=SOUNDDESCS_SHARDS),
        audio=expand(rules.sounddescs_prepare.output.audio, shard=SOUNDDESCS_SHARDS),
    output:
        clips=f"{SOUNDDESCS}/corpus/clips.tsv",
        audio=directory(f"{SOUNDDESCS}/corpus/audio"),
        excerpts=f"{SOUNDDESCS}/corpus/excerpts.tsv",
        skipped=f"{SOUNDDESCS}/corpus/skipped.tsv",
    log:
        "results/logs/sounddescs/corpus.log",
    conda:
        f"{ENVS}/data.yaml"
    script:
        "../../scripts/sounddescs_corpus.py"
