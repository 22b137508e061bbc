# Helpers shared by the rules: config checks, paths, and the list of final outputs.
import copy
import functools
import os
import sys
from pathlib import Path

# The rule scripts import the arseg package from src/, installed or not. Snakemake appends
# this process's sys.path to every script's own (its preamble), in `--sdm conda` envs too,
# where it drops PYTHONPATH; PYTHONPATH serves other subprocesses (e.g. `python -m arseg`).
SRC = str(Path(workflow.basedir).parent / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH", "")] if p)
sys.path.insert(0, SRC)
# Idle OpenMP threads sleep instead of spinning: spinning threads slow torch jobs down on
# shared CPUs (docs/experiments.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


envvars:
    "PYTHONPATH",


import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from arseg.config_schema import normalise_numbers, schema_errors
from arseg.configs import check_config
from arseg.data.corpus.table import audio_files, has_split_column
from arseg.model.backbone_specs import ENCODER
from arseg.provenance import merge_configs
from arseg.rule_io import Untracked

SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
# Numbers as floats wherever the schema says number, before validation (text such as 4e-3)
# and after it (the defaults it fills in): `8` and `8.0` are one setting and rerun nothing.
_schema = yaml.safe_load(SCHEMA.read_text())
normalise_numbers(config, _schema)
try:
    validate(config, str(SCHEMA))
except WorkflowError:
    raise WorkflowError(schema_errors(config, _schema)) from None
normalise_numbers(config, _schema)
if config["corpus"]["path"]:  # data/x, data/x/ and ./data/x are one folder
    config["corpus"]["path"] = os.path.normpath(config["corpus"]["path"])
check_config(config)

SPLITS = ["train", "val", "test"]
# With mixtures.count.refit, every model is trained a second time, on its training mixtures
# and that many more made of the validation clips (the refit rule), and the second is the one scored.
REFIT = config["mixtures"]["count"]["refit"] > 0
BACKBONES = config["model"]["backbones"]
SEEDS = config["model"]["seeds"]
# With model.members above 1, each seed's model is an ensemble (the ensemble rules) of that many
# trained with member seeds of their own, each under results/models/{backbone}/seed{seed}/member{member}/.
MEMBERS = config["model"]["members"]
TRAINED = os.path.join("results/models/{backbone}/seed{seed}", *(["member{member}"] if MEMBERS > 1 else []))
ENVS = "../../envs"


wildcard_constraints:
    split="train|val|test|refit",
    backbone="|".join(BACKBONES),
    seed=r"\d+",
    member=r"\d+",


def corpus_dir():
    if config["corpus"]["source"] == "demo":
        return "resources/demo"
    if config["corpus"]["source"] == "sounddescs":
        return "resources/sounddescs/corpus"  # written by rule sounddescs_corpus
    return config["corpus"]["path"]


def get_sounddescs_category_map(wildcards=None):
    """The category map of the configured SoundDescs protocol (checked by check_config)."""
    clip_table = config["corpus"]["sounddescs"]["clip_table"]
    return clip_table["category_maps"][clip_table["protocol"]]


# Config values that change no result, so that editing them reruns nothing: they reach their
# rules as Untracked params (or as `threads`), never in the config a rule's params carry.
UNTRACKED = [
    "training/threads",
    "corpus/sounddescs/accept_licence",
    "corpus/sounddescs/metadata/timeout",
    "corpus/sounddescs/metadata/retries",
    "corpus/sounddescs/metadata/backoff",
    "corpus/sounddescs/download",
]


def get_sorted_config(dpath):
    """A config mapping with its keys sorted, for params: reordering keys in a config file (or
    spelling out a default) must not count as a changed param and re-run the job and all after it."""
    return merge_configs(lookup(within=config, dpath=dpath))


def get_config_subset(*dpaths, drop=()):
    """The config restricted to the keys at dpaths ("section/key"), less those at `drop`, keys
    sorted at every level. A rule's params carry exactly the config values its script uses, in
    the config's own shape, so an edit reruns the jobs that use the edited value and no other."""
    subset = {}
    for dpath in dpaths:
        *parents, key = dpath.split("/")
        source, target = config, subset
        for part in parents:
            source, target = source[part], target.setdefault(part, {})
        target[key] = copy.deepcopy(source[key])
    for dpath in drop:
        *parents, key = dpath.split("/")
        target = subset
        for part in parents:
            target = target.get(part, {})
        target.pop(key, None)
    return merge_configs(subset)  # sorted at every level


def get_corpus_config():
    """The corpus keys of the configured source (the other sources' keys change nothing, nor
    does the split seed for a table with its own splits)."""
    source = config["corpus"]["source"]
    own = {"demo": ["corpus/demo"], "folder": ["corpus/path"], "sounddescs": ["corpus/sounddescs"]}[source]
    return ["corpus/source", "corpus/categories", *(["corpus/split_seed"] if get_split_seed() is not None else []),
            *own]


@functools.cache
def get_split_seed():
    """corpus.split_seed, which splits a table without a split column; None for a user's
    table that has one (only a user's table is there to read before any job has run). Read
    once: the params of several rules ask for it while the workflow is parsed."""
    if config["corpus"]["source"] == "folder" and has_split_column(get_corpus_clips()):
        return None
    return config["corpus"]["split_seed"]


def get_data_config(splits):
    """The config values the data of these splits is made from (corpus, mixtures at the audio's
    rate, queries), for the provenance record of a model trained or scored on it. The log-mel
    settings are the model's (get_model_config), so that a backbone that reads no log-mel is
    not retrained when they change."""
    others = [f"mixtures/count/{split}" for split in [*SPLITS, "refit"] if split not in splits]
    return get_config_subset(*get_corpus_config(), "mixtures", "queries", "audio/sample_rate",
                             drop=[*UNTRACKED, *others])


def get_model_config(wildcards):
    """What arseg.configs.model_config and train_config read, for one backbone; a backbone that
    reads a pretrained encoder's features uses no log-mel setting and no log-mel augmentation."""
    log_mel_only = ["audio/n_mels", "audio/win_seconds", "audio/hop_seconds", "training/mix_probability",
                    "training/mix_gain_db", "training/spec_augment"] if wildcards.backbone in ENCODER else []
    subset = get_config_subset("model", "training", "decoding", "audio", "mixtures/duration",
                               drop=["model/backbones", "model/seeds", "model/members", "training/per_backbone",
                                     *UNTRACKED, *log_mel_only])
    subset["model"]["backbone"] = wildcards.backbone
    subset["training"].update(config["training"]["per_backbone"].get(wildcards.backbone, {}))
    return merge_configs(subset)


def get_ensemble_config(wildcards):
    """What an ensemble is made from: its members' model config, their number and the seed."""
    return merge_configs(get_model_config(wildcards), {"model": {"members": MEMBERS},
                                                       "training": {"seed": int(wildcards.seed)}})


def ensemble_inputs(trained):
    """The ensemble rules' inputs: the members (`trained`: their model files' pattern) and the
    validation split their decoding is chosen on."""
    return dict(
        members=lambda wildcards: expand(trained, backbone=wildcards.backbone, seed=wildcards.seed,
                                          member=range(MEMBERS)),
        features=get_features("npy", "val"),
        index=get_features("index.tsv", "val"),
        queries=rules.queries.output.queries.format(split="val"),
        events=rules.mixtures.output.events.format(split="val"),
        embeddings=get_embeddings,
        examples=get_examples,
    )


def mixture_set(split):
    """A mixture set's corpus split, and the index of its first mixture: the refit mixtures
    continue the validation clips' stream after the validation mixtures."""
    if split == "refit":
        return "val", config["mixtures"]["count"]["val"]
    return split, 0


def first_model(output, backbone="{backbone}", seed="{seed}"):
    """A file (model or provenance) of a seed's first training: its ensemble with model.members."""
    made_by = rules.ensemble if MEMBERS > 1 else rules.train
    return getattr(made_by.output, output).format(backbone=backbone, seed=seed)


def scored_model(output, backbone="{backbone}", seed="{seed}"):
    """A file (model or provenance) of a seed's model that is scored and shown: the refit's
    where there is one, else the first training's (ensembles with model.members); a pattern by default."""
    if not REFIT:
        return first_model(output, backbone, seed)
    made_by = rules.ensemble_refit if MEMBERS > 1 else rules.refit
    return getattr(made_by.output, output).format(backbone=backbone, seed=seed)


def get_predicting_model(wildcards):
    """The scored model predicts the test split; the validation split is predicted by the first
    training, for which validation chooses (a refit trains on the validation clips)."""
    if wildcards.split == "val":
        return first_model("model", wildcards.backbone, wildcards.seed)
    return scored_model("model", wildcards.backbone, wildcards.seed)


def feature_dir(backbone):
    """Where the features a backbone reads live: the log-mel's, or its encoder's."""
    return f"results/features/{ENCODER[backbone]}" if backbone in ENCODER else "results/features"


def get_features(suffix, splits=None):
    """Input function: the feature files (.npy or .index.tsv) the job's backbone reads, of
    `splits` (a list), or of one split (a name; by default the job's own): one path."""
    def paths(wildcards):
        if splits is None or isinstance(splits, str):
            return f"{feature_dir(wildcards.backbone)}/{splits or wildcards.split}.{suffix}"
        return [f"{feature_dir(wildcards.backbone)}/{split}.{suffix}" for split in splits]
    return paths


def asks_examples():
    """Whether the run asks example queries (a text model's third query kind)."""
    return config["queries"]["examples"] and config["model"]["query_encoder"] == "text"


def get_encoder(wildcards):
    """The pretrained encoder's checkpoint, for a backbone that reads its features, and for
    every model when example queries are asked (the model file carries it to embed clips)."""
    return "resources/encoders/aisfx.pth" if wildcards.backbone in ENCODER or asks_examples() else []


def get_examples(wildcards=None):
    """The example clips' embeddings, when example queries are asked."""
    return "results/queries/examples.npz" if asks_examples() else []


def get_report_config():
    """The whole config less what changes no result (and the keys of the corpus sources the
    run does not use): the report's record of the run."""
    used = get_corpus_config()
    unused = [key for key in ("corpus/demo", "corpus/path", "corpus/sounddescs", "corpus/split_seed") if key not in used]
    return get_config_subset(*config, drop=[*UNTRACKED, *unused])


def get_corpus_clips():
    return f"{corpus_dir()}/clips.tsv"


def get_corpus_audio(wildcards=None):
    """The corpus's audio, for check_corpus: the demo and SoundDescs rules write an audio/ folder;
    of a user's folder, each file its table reads for the categories used
    (arseg.data.corpus.table.audio_files; an input function, so that only a run that plans
    check_corpus lists the folder)."""
    if config["corpus"]["source"] == "folder":
        return audio_files(get_corpus_clips(), config["corpus"]["categories"])
    return f"{corpus_dir()}/audio"


def get_embeddings(wildcards=None):
    """Text models need the cached embeddings of the training and validation queries; label
    models do not."""
    if config["model"]["query_encoder"] == "text":
        return "results/queries/embeddings.npz"
    return []


def get_split_embeddings(wildcards):
    """Text models, predicting one split: the test queries' own embeddings, or (validation)
    the ones training read."""
    if config["model"]["query_encoder"] != "text":
        return []
    return rules.embed_test_queries.output.embeddings if wildcards.split == "test" else get_embeddings()


def get_refit_embeddings(wildcards=None):
    """Text models: the first trainings' query embeddings and the refit mixtures' own."""
    first = get_embeddings()
    return [first, rules.embed_refit_queries.output.embeddings] if first else []


def get_demo_embeddings(wildcards=None):
    """Text models: the demo's query texts, embedded ahead (not inside the demo_segments job)."""
    if config["model"]["query_encoder"] == "text":
        return "results/demo/mixtures/embeddings.npz"
    return []


def get_final_outputs():
    return [
        *expand("results/metrics/{backbone}/seed{seed}.json", backbone=BACKBONES, seed=SEEDS),
        *expand("results/tables/{table}.{ext}", table=["results", "per_category", "conditions", "comparison"],
                ext=["tsv", "md", "tex", "html"]),
        "results/tables/results.rst",
        "results/provenance/provenance.html",
        *expand("results/figures/{name}.png",
                name=["dataset", "training", "backbones", "psd_roc", "categories", "conditions"]),
        *expand("results/figures/examples/{backbone}.png", backbone=BACKBONES),
        *(["results/demo/summary.html", "results/demo/summary.tsv", "results/demo/summary.json"]
          if config["demo"]["enabled"] else []),
    ]
