"""Example queries through the real workflow: queries name clips of their own split that are
not in the mixture, every clip is embedded once, the model takes them, they are scored as a
query kind of their own, and the demo asks them as `arseg segment --example` does."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arseg.data.corpus.table import read_clips
from arseg.model.examples import EXAMPLE_DIM, ExampleBank
from arseg.model.segmenter import load_model

TINY_EXAMPLES = Path(__file__).with_name("data") / "tiny_examples.yaml"


def _helper(name: str):
    """tests/ has no __init__.py (importlib mode): load a helper module by path."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _helper("workflow_runner")


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("example_run")
    runner.prepare_workdir(workdir, TINY_EXAMPLES)
    runner.place_encoder(workdir)
    runner.snakemake(workdir, "--cores", "2", "results/metrics/crnn/seed0.json", "results/demo/summary.json")
    return workdir


def test_example_queries_name_other_clips_of_their_own_split(example_run):
    results = example_run / "results"
    clips = read_clips(results / "corpus" / "clips.tsv").set_index("clip_id")
    for split in ["train", "val", "test"]:
        queries = pd.read_csv(results / "queries" / f"{split}.tsv", sep="\t", keep_default_na=False)
        events = pd.read_csv(results / "mixtures" / split / "events.tsv", sep="\t", keep_default_na=False)
        examples = queries[queries["kind"] == "example"]
        assert examples["positive"].sum() > 0 and (examples["positive"] == 0).sum() > 0
        assert (clips.loc[examples["text"], "split"] == split).all()
        assert (clips.loc[examples["text"], "category"].to_numpy() == examples["target_label"].to_numpy()).all()
        in_mixture = events.groupby("filename")["clip_id"].apply(set)
        assert not any(q.text in in_mixture[q.filename] for q in examples.itertuples())
    bank = ExampleBank.load(results / "queries" / "examples.npz")
    assert sorted(bank.clip_ids) == sorted(clips.index) and bank.vectors.shape[1] == EXAMPLE_DIM
    assert np.isfinite(bank.vectors).all() and bank.vectors.std() > 0


def test_the_model_takes_examples_and_they_are_scored_as_a_kind(example_run):
    results = example_run / "results"
    model, _ = load_model(results / "models" / "crnn" / "seed0" / "model.pt")
    assert model.cfg.example_dim == EXAMPLE_DIM and model.encoder is not None
    metrics = json.loads((results / "metrics" / "crnn" / "seed0.json").read_text())
    assert set(metrics["by_kind"]) == {"label", "description", "example"}
    assert metrics["by_kind"]["example"]["n_queries"] > 0
    assert "example" in metrics["negatives_by_kind"]
    predictions = pd.read_csv(results / "predictions" / "crnn" / "seed0" / "test.tsv", sep="\t")
    queries = pd.read_csv(results / "queries" / "test.tsv", sep="\t", keep_default_na=False)
    scored = np.load(results / "predictions" / "crnn" / "seed0" / "test.scores.npz")["query_id"]
    assert set(scored) == set(queries["query_id"])  # every kind answered
    assert set(predictions["query_id"]) <= set(queries["query_id"])
    # Example queries have a decoding of their own, chosen on their validation queries
    _, extra = load_model(results / "models" / "crnn" / "seed0" / "model.pt")
    example_choice = extra["validation_decoding"]["example"]["chosen"]
    assert model.cfg.example_decoding == {k: example_choice[k] for k in ("threshold", "gate", "merge_gap")}
    with np.load(results / "predictions" / "crnn" / "seed0" / "test.scores.npz") as data:
        used = dict(zip(data["query_id"], zip(data["threshold"], data["gate"])))
    kinds = dict(zip(queries["query_id"], queries["kind"]))
    for query_id, (threshold, gate) in used.items():
        own = model.cfg.example_decoding if kinds[query_id] == "example" else \
            {"threshold": model.cfg.threshold, "gate": model.cfg.gate}
        assert (threshold, gate) == (own["threshold"], own["gate"])


def test_the_demo_asks_by_example_as_arseg_segment_does(example_run):
    results = example_run / "results"
    summary = json.loads((results / "demo" / "summary.json").read_text())
    asked = [q for q in summary["queries"] if q["kind"] == "example"]
    assert asked, "the demo asked no example query"
    events = pd.read_csv(results / "demo" / "mixtures" / "events.tsv", sep="\t")
    clips = read_clips(results / "corpus" / "clips.tsv").set_index("clip_id")
    for query in asked:
        assert query["text"] not in set(events.loc[events["filename"] == query["filename"], "clip_id"])
        assert clips.loc[query["text"], "split"] == "test"
        tsv = Path(query["segments_tsv"])
        assert tsv.name == f"{Path(query['filename']).stem}.example-{query['text']}.tsv"
        assert (example_run / tsv).exists() and (example_run / query["picture"]).exists()
        clip = results / "demo" / "cuts" / Path(query["filename"]).stem / "examples" / f"{query['text']}.wav"
        assert clip.exists()  # the report offers the example clip beside the cut-outs
    assert "example" in summary["demo"]["by_kind"]
