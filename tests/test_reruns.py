"""A config edit reruns exactly the jobs that use the edited value, and nothing else.

Each case edits one key of the tiny config of a finished run (the session's `finished_run`)
and asks Snakemake for its plan (a dry run): the planned jobs per rule must be exactly the
expected ones. Every section of the config has a case; so do the keys documented as
rerunning nothing. Rule scripts get every config value they use through params (or input
files), never from `snakemake.config`, which Snakemake's params trigger cannot see."""
from __future__ import annotations

import copy
import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

_spec = importlib.util.spec_from_file_location("workflow_runner", Path(__file__).with_name("workflow_runner.py"))
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

TINY = Path(__file__).with_name("data") / "tiny.yaml"

# Jobs after a model: what a changed model reruns (the tiny run: yoho, seed 0, demo on).
AFTER_MODEL = {"predict": 2, "evaluate": 1, "results_table": 1, "training_figure": 1, "result_figures": 1,
               "examples_figure": 1, "demo_segments": 1, "demo": 1, "provenance": 1}
MODEL = {"train": 1, **AFTER_MODEL}
# What changed queries of every split rerun (with the query embeddings the models read).
QUERIES = {"queries": 3, "embed_queries": 1, "embed_test_queries": 1, **MODEL}
# What changed mixtures of every split rerun: their queries and features, the demo's files.
MIXTURES = {"mixtures": 3, "features": 3, "dataset_figure": 1, "demo_mixtures": 1, "demo_embeddings": 1,
            **QUERIES}
# What a changed corpus table reruns.
CORPUS = {"check_corpus": 1, **MIXTURES}

CASES = {
    "nothing": ({}, {}),
    "corpus": ({"corpus.demo.seed": 1}, {"demo_corpus": 1, **CORPUS}),
    "corpus categories": ({"corpus.categories": ["alarm", "bell", "dog", "footsteps"]}, CORPUS),
    "audio": ({"audio.n_mels": 40}, {"features": 3, **MODEL}),
    "mixtures": ({"mixtures.snr_db": [5, 25]}, MIXTURES),
    # Only the training split is augmented: its mixtures, features and queries, not the others'.
    "augmentation": ({"mixtures.augment": {"pitch_semitones": 2.0}},
                     {"mixtures": 1, "features": 1, "queries": 1, "embed_queries": 1, "dataset_figure": 1, **MODEL}),
    "queries": ({"queries.negatives_per_mixture": 1}, QUERIES),
    # The test split alone: its mixtures, features, queries and their embeddings, the test
    # predictions and what follows them; no training.
    "test split": ({"mixtures.count.test": 6},
                   {"mixtures": 1, "features": 1, "queries": 1, "embed_test_queries": 1, "dataset_figure": 1,
                    **AFTER_MODEL, "predict": 1, "training_figure": 0, "demo_segments": 0}),
    # A refit: its own mixtures, features, queries and their embeddings, and the second model,
    # which is scored: test predictions and all after them. The first training, its history
    # figure and its validation predictions stay.
    "a refit": ({"mixtures.count.refit": 6},
                {"mixtures": 1, "features": 1, "queries": 1, "embed_refit_queries": 1, "refit": 1,
                 **AFTER_MODEL, "predict": 1, "training_figure": 0}),
    # Example queries: the encoder's checkpoint and every clip's embedding; the demo asks them too.
    "example queries": ({"queries.examples": True},
                        {"fetch_encoder": 1, "embed_examples": 1, "demo_mixtures": 1, "demo_embeddings": 1,
                         **QUERIES}),
    "model": ({"model.width": 0.25}, MODEL),
    "another backbone": ({"model.backbones": ["yoho", "crnn"]}, MODEL),  # crnn's jobs; yoho's stay
    "another seed": ({"model.seeds": [0, 1]}, {**MODEL, "examples_figure": 0}),  # examples: first seed only
    "training": ({"training.learning_rate": 0.002}, MODEL),
    "epoch selection": ({"training.select_on": "loss"}, MODEL),  # the default config keeps epochs by event F1
    "training of this backbone": ({"training.per_backbone": {"yoho": {"epochs": 3}}}, MODEL),
    "training of another backbone": ({"training.per_backbone": {"crnn": {"epochs": 3}}}, {"provenance": 1}),
    "the pretrained backbone": ({"model.backbones": ["yoho", "aisfx"]},
                                {"fetch_encoder": 1, "encoder_features": 3, **MODEL}),
    # its own encoder features (the last block's input); with aisfx too, both kinds, once each
    "the pretrained backbone, last block trained": ({"model.backbones": ["yoho", "aisfx_tuned"]},
                                                    {"fetch_encoder": 1, "encoder_features": 3, **MODEL}),
    "both pretrained backbones": ({"model.backbones": ["yoho", "aisfx", "aisfx_tuned"]},
                                  {"fetch_encoder": 1, "encoder_features": 6, **MODEL, "train": 2, "predict": 4,
                                   "evaluate": 2, "examples_figure": 2}),
    "decoding": ({"decoding.min_duration": 0.2}, MODEL),
    # The demo's answers are rescored, not made again.
    "evaluation": ({"evaluation.t_collar": 0.3},
                   {"evaluate": 1, "results_table": 1, "result_figures": 1, "demo": 1, "provenance": 1}),
    "examples figure": ({"evaluation.example_count": 3}, {"examples_figure": 1, "provenance": 1}),
    "demo": ({"demo.count": 2}, {"demo_mixtures": 1, "demo_embeddings": 1, "demo_segments": 1, "demo": 1,
                                 "provenance": 1}),
    # Documented as rerunning nothing: they change no result.
    "threads": ({"training.threads": 2}, {}),
    "network": ({"corpus.sounddescs.download.timeout": 5, "corpus.sounddescs.metadata.retries": 1}, {}),
    "licence": ({"corpus.sounddescs.accept_licence": True}, {}),
    # The same numbers written as integers, or as YAML 1.1 reads 4e-3 (a string): one setting.
    "numbers written otherwise": ({"mixtures.duration": 4, "mixtures.snr_db": [0, 20], "mixtures.background_db": -35,
                                   "training.learning_rate": "4e-3", "evaluation.segment_seconds": 1,
                                   "demo.duration": 20}, {}),
}


def edited(edit: dict) -> dict:
    config = copy.deepcopy(yaml.safe_load(TINY.read_text()))
    for dotted, value in edit.items():
        *parents, key = dotted.split(".")
        section = config
        for part in parents:
            section = section.setdefault(part, {})
        section[key] = value
    return config


def planned_jobs(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's "Job stats" table (empty when nothing is to be done)."""
    if "Nothing to be done" in output:
        return {}
    table = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", output, re.S)
    assert table, output[-3000:]
    jobs = {line.split()[0]: int(line.split()[1]) for line in table.group(1).splitlines()}
    jobs.pop("all", None)
    return jobs


@pytest.fixture(scope="module")
def plans(finished_run: Path) -> dict[str, dict[str, int]]:
    """Every case's plan, two dry runs at a time (each only reads the finished run)."""

    def plan(name: str) -> dict[str, int]:
        configfile = finished_run / "config" / f"edit_{name.replace(' ', '_')}.yaml"
        configfile.write_text(yaml.safe_dump(edited(CASES[name][0])))
        result = runner.snakemake(finished_run, "-n", "--cores", "1", "--nolock", configfile=configfile)
        return planned_jobs(result.stdout + result.stderr)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(CASES, pool.map(plan, CASES)))


@pytest.mark.parametrize("name", CASES)
def test_an_edit_plans_exactly_the_jobs_that_use_it(plans, name):
    expected = {rule: count for rule, count in CASES[name][1].items() if count}
    assert plans[name] == expected


def test_cases_cover_every_config_section():
    schema = yaml.safe_load((runner.ROOT / "workflow/schemas/config.schema.yaml").read_text())
    edited_sections = {key.split(".")[0] for edit, _ in CASES.values() for key in edit}
    assert edited_sections == set(schema["properties"])


def test_no_rule_script_reads_the_config():
    scripts = sorted((runner.ROOT / "scripts").glob("*.py"))
    assert scripts
    readers = [path.name for path in scripts if re.search(r"snakemake\s*\.\s*config\b", path.read_text())]
    assert readers == [], f"{readers} read snakemake.config: pass the values as params instead"
