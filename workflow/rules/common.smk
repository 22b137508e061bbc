# Helpers shared by the rules: config checks, paths, and the list of final outputs.
import os
import sys
from pathlib import Path

# The rule scripts import the arseg package from src/, installed or not (conda envs too).
SRC = str(Path(workflow.basedir).parent / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [SRC, os.environ.get("PYTHONPATH", "")] if p)
sys.path.insert(0, SRC)

from arseg.configs import check_config

check_config(config)

SPLITS = ["train", "val", "test"]
BACKBONES = config["model"]["backbones"]
SEEDS = config["model"]["seeds"]
ENVS = "../../envs"


wildcard_constraints:
    split="train|val|test",
    backbone="|".join(BACKBONES),
    seed=r"\d+",


def corpus_dir():
    if config["corpus"]["source"] == "demo":
        return "resources/demo"
    return config["corpus"]["path"].rstrip("/")


def get_corpus_clips():
    return f"{corpus_dir()}/clips.tsv"


def get_corpus_audio():
    return f"{corpus_dir()}/audio"


def get_embeddings(wildcards=None):
    """Text models need the cached query embeddings; label models do not."""
    if config["model"]["query_encoder"] == "text":
        return "results/queries/embeddings.npz"
    return []


def get_final_outputs():
    return [
        *expand("results/metrics/{backbone}/seed{seed}.json", backbone=BACKBONES, seed=SEEDS),
        "results/tables/results.tsv",
        "results/tables/results.md",
        "results/figures/dataset.png",
        "results/figures/training.png",
        "results/figures/examples.png",
    ]
