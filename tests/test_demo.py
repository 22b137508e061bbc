"""The demo: choosing the best model on validation, the held-out demo files and their
queries, scoring, and one whole demo step through `arseg segment` with a tiny model."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from arseg.data import long_mixtures
from arseg.data.events import read_events
from arseg.data.mixtures import MixtureConfig
from arseg.data.queries import QUERY_COLUMNS, read_queries
from arseg.eval.scoring import EvalConfig
from arseg.model.query_inputs import supported
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, save_model
from arseg.infer import demo
from arseg.report import showcase

RATE = 16000
CATEGORIES = ["bell", "car", "dog", "siren", "telephone"]
TINY_MODEL = dict(width=0.125, window_seconds=4.0, n_bins=12, query_dim=16, n_mels=32)


@pytest.fixture(autouse=True)
def embedding_cache(tmp_path, monkeypatch):
    """Keep any text-query embedding cache out of the home folder."""
    monkeypatch.setenv("ARSEG_CACHE_DIR", str(tmp_path / "cache"))


# ---------------------------------------------------------------- the best model


def test_validation_event_f1_reads_the_stored_choice():
    assert demo.validation_event_f1({"validation_decoding": {"chosen": {"event_f1": 0.4}}}) == 0.4
    for extra in ({}, {"validation_decoding": {}}, {"validation_decoding": {"chosen": {"event_f1": None}}},
                  {"validation_decoding": {"chosen": {"event_f1": math.nan}}},
                  {"validation_decoding": {"chosen": {"event_f1": True}}}, {"validation_decoding": "x"}):
        assert demo.validation_event_f1(extra) is None, extra


def test_best_model_is_the_highest_validation_f1_first_of_equals():
    rows = [{"path": "a", "validation_event_f1": 0.3}, {"path": "b", "validation_event_f1": 0.5},
            {"path": "c", "validation_event_f1": None}, {"path": "d", "validation_event_f1": 0.5}]
    assert demo.choose_best(rows)["path"] == "b"
    assert demo.choose_best([{"path": "x", "validation_event_f1": 0.0}])["path"] == "x"
    with pytest.raises(ValueError, match="no model file holds a validation event F1.*m1.pt, m2.pt"):
        demo.choose_best([{"path": "m1.pt", "validation_event_f1": None},
                              {"path": "m2.pt", "validation_event_f1": None}])


def test_backbone_and_seed_are_read_from_the_workflow_paths():
    from arseg.results_layout import model_file, seed_file

    assert model_file("results/models/crnn/seed12/model.pt") == ("crnn", 12, False)
    assert model_file("/abs/results/models/efficientnet_attention/seed0/model.pt") == (
        "efficientnet_attention", 0, False)
    assert model_file("results/models/aisfx/seed3/refit/model.pt") == ("aisfx", 3, True)
    with pytest.raises(ValueError, match="models/<backbone>/seed<k>/\\[refit/\\]model.pt"):
        model_file("elsewhere/model.pt")
    with pytest.raises(ValueError, match="models/<backbone>/seed<k>/"):
        model_file("results/models/crnn/seed0_old/model.pt")
    assert seed_file("results/metrics/vgg/seed4.queries.tsv", ".queries.tsv") == ("vgg", 4)
    with pytest.raises(ValueError, match=r"seed4.json: expected a file named seed<k>.queries.tsv"):
        seed_file("results/metrics/vgg/seed4.json", ".queries.tsv")


def save_tiny(path, f1, **cfg):
    torch.manual_seed(0)
    model = ReferringSegmenter(ModelConfig(**{**TINY_MODEL, **cfg}))
    extra = {} if f1 is None else {"validation_decoding": {"chosen": {"threshold": 0.5, "merge_gap": 0.3,
                                                                      "event_f1": f1}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model.eval(), path, extra=extra)
    return path


def test_best_model_read_from_model_files_never_from_test_metrics(tmp_path):
    paths = [save_tiny(tmp_path / "models/yoho/seed0/model.pt", 0.41),
             save_tiny(tmp_path / "models/crnn/seed0/model.pt", 0.47),
             save_tiny(tmp_path / "models/crnn/seed1/model.pt", None)]
    metrics = []
    for backbone, seed, test_f1 in (("yoho", 0, 0.9), ("crnn", 0, 0.2), ("crnn", 1, 0.99)):
        path = tmp_path / f"metrics/{backbone}/seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"overall": {"event_f1": test_f1}, "positives": {"event_f1": test_f1 + 0.01}}))
        metrics.append(path)
    rows = demo.read_candidates(paths)
    assert [(r["backbone"], r["seed"], r["validation_event_f1"]) for r in rows] == [
        ("yoho", 0, 0.41), ("crnn", 0, 0.47), ("crnn", 1, None)]
    best = demo.choose_best(rows)
    assert (best["backbone"], best["seed"]) == ("crnn", 0)  # the test split's best (crnn seed1) plays no part
    test = showcase.chosen_test_scores(metrics, "crnn", 0)
    assert test["event_f1"] == 0.2 and test["positives_event_f1"] == pytest.approx(0.21)
    assert showcase.chosen_test_scores(metrics, "vgg", 0) == {}


# ---------------------------------------------------------------- demo files and queries


def corpus(tmp_path, per_category=2, seconds=2.0):
    """A small corpus: per category a few tonal clips in each split."""
    audio = tmp_path / "corpus" / "audio"
    audio.mkdir(parents=True)
    rows = []
    for c, category in enumerate(CATEGORIES):
        for split in ("train", "val", "test"):
            for k in range(per_category):
                clip_id = f"{category}_{split}_{k}"
                t = np.arange(int(seconds * RATE)) / RATE
                sf.write(audio / f"{clip_id}.wav", 0.5 * np.sin(2 * np.pi * (300 + 150 * c + 20 * k) * t), RATE)
                rows.append([clip_id, category, f"a {category} sounds ({split} {k})", seconds, split])
    return pd.DataFrame(rows, columns=["clip_id", "category", "description", "duration", "split"]), audio


def test_demo_events_spread_over_few_categories_and_keep_some_absent(tmp_path):
    clips, _ = corpus(tmp_path)
    test = clips[clips["split"] == "test"]
    cfg = MixtureConfig(duration=60.0, min_events=1, max_events=3)
    seen_counts = set()
    for index in range(20):
        events = long_mixtures.draw_demo_events(np.random.default_rng([7, index]), test, cfg, n_events=6, absent=2)
        categories = {e.category for e in events}
        seen_counts.add(len(categories))
        assert 1 <= len(categories) <= 3 and len(events) == 6
        assert {e.clip_id for e in events} <= set(test["clip_id"])  # test clips only
        assert all(-0.25 * 2.0 * RATE <= e.start_sample <= 60.0 * RATE for e in events)
        assert all(0 <= e.snr_db <= 20 for e in events)
    assert seen_counts == {1, 2, 3}
    again = long_mixtures.draw_demo_events(np.random.default_rng([7, 3]), test, cfg, n_events=6, absent=2)
    assert again == long_mixtures.draw_demo_events(np.random.default_rng([7, 3]), test, cfg, n_events=6, absent=2)
    # more categories than events: each present category still sounds once
    many = long_mixtures.draw_demo_events(np.random.default_rng(1), test, MixtureConfig(min_events=3, max_events=3),
                                          n_events=1, absent=0)
    assert len(many) == 3 and len({e.category for e in many}) == 3
    # absent categories are kept out of the draw: 5 categories, 3 absent -> at most 2 present
    for index in range(10):
        events = long_mixtures.draw_demo_events(np.random.default_rng(index), test, cfg, n_events=6, absent=3)
        assert len({e.category for e in events}) <= 2
    with pytest.raises(ValueError, match="demo.absent_categories=5 leaves no category"):
        long_mixtures.draw_demo_events(np.random.default_rng(0), test, cfg, n_events=6, absent=5)


def test_back_to_back_demo_fills_the_file_with_the_present_categories(tmp_path):
    clips, _ = corpus(tmp_path)
    test = clips[clips["split"] == "test"]
    cfg = MixtureConfig(duration=20.0, min_events=2, max_events=2, layout="back_to_back")
    events = long_mixtures.draw_demo_events(np.random.default_rng(0), test, cfg, n_events=6, absent=1)
    assert len({e.category for e in events}) == 2
    assert [e.start_sample for e in events] == [int(i * 2.0 * RATE) for i in range(10)]


def test_demo_queries_ask_for_present_and_absent_sounds(tmp_path):
    clips, _ = corpus(tmp_path)
    test = clips[clips["split"] == "test"]
    events = pd.DataFrame([["demo_000.wav", 9.0, 11.0, "dog", "dog_test_1", "a dog sounds (test 1)", 5.0],
                           ["demo_000.wav", 2.0, 4.0, "dog", "dog_test_0", "a dog sounds (test 0)", 5.0],
                           ["demo_000.wav", 5.0, 6.0, "bell", "bell_test_0", "a bell sounds (test 0)", 3.0]],
                          columns=["filename", "onset", "offset", "event_label", "clip_id", "description", "snr_db"])
    rows = pd.DataFrame(long_mixtures.demo_queries("demo_000.wav", events, test, 2, np.random.default_rng(0)),
                        columns=QUERY_COLUMNS)
    present = rows[rows["positive"] == 1]
    assert present[["text", "kind", "target_label"]].values.tolist() == [
        ["bell", "label", "bell"], ["a bell sounds (test 0)", "description", "bell"],
        ["dog", "label", "dog"], ["a dog sounds (test 0)", "description", "dog"]]  # the first dog clip heard
    absent = rows[rows["positive"] == 0]
    assert len(absent) == 4 and set(absent["kind"]) == {"label", "description"}
    assert absent["target_label"].nunique() == 2 and not set(absent["target_label"]) & {"dog", "bell"}
    for row in absent[absent["kind"] == "description"].itertuples():
        assert row.text in set(test.loc[test["category"] == row.target_label, "description"])
    assert rows["query_id"].tolist() == [f"demo_000_q{j:02d}" for j in range(8)]


def test_generate_demo_writes_seeded_long_files_from_test_clips(tmp_path):
    clips, audio = corpus(tmp_path)
    cfg = MixtureConfig(duration=10.0, max_events=2)
    settings = long_mixtures.DemoConfig(count=2, duration=10.0, seed=5, events_per_minute=24, absent_categories=1)

    def make(name, demo_cfg=settings):
        out = tmp_path / name
        events, queries = long_mixtures.generate_demo(clips, audio, out / "audio", out / "events.tsv",
                                                      out / "queries.tsv", demo_cfg, cfg)
        return out, events, queries

    out, events, queries = make("a")
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["demo_000.wav", "demo_001.wav"]
    for wav in (out / "audio").iterdir():
        info = sf.info(wav)
        assert info.samplerate == RATE and info.frames == 10 * RATE
    assert set(events["clip_id"]) <= set(clips.loc[clips["split"] == "test", "clip_id"])
    assert events.groupby("filename")["clip_id"].size().min() >= 4  # 24 per minute: 4 events in 10 s
    pd.testing.assert_frame_equal(read_events(out / "events.tsv"), events.reset_index(drop=True),
                                  check_dtype=False, atol=1e-4)
    assert read_queries(out / "queries.tsv")["query_id"].tolist() == queries["query_id"].tolist()
    for filename, group in queries.groupby("filename"):
        present = set(events.loc[events["filename"] == filename, "event_label"])
        assert set(group.loc[group["positive"] == 1, "target_label"]) == present
        assert group.loc[group["positive"] == 0, "target_label"].nunique() == 1
        assert not set(group.loc[group["positive"] == 0, "target_label"]) & present

    def digest(folder):
        return {p.name: p.read_bytes() for p in sorted((folder / "audio").iterdir())}

    same, _, _ = make("b")
    assert digest(same) == digest(out) and (same / "events.tsv").read_bytes() == (out / "events.tsv").read_bytes()
    other, _, _ = make("c", long_mixtures.DemoConfig(count=2, duration=10.0, seed=6, events_per_minute=24,
                                                     absent_categories=1))
    assert digest(other) != digest(out)


def test_demo_config_reads_the_workflow_config():
    config = {"demo": {"enabled": True, "count": 2, "duration": 30, "seed": 9, "events_per_minute": 5,
                       "absent_categories": 1},
              "mixtures": {"duration": 8.0, "min_events": 1, "max_events": 3, "snr_db": [0, 10], "background_db": -30,
                           "edge_cut": 0.1, "layout": "random"},
              "audio": {"sample_rate": 8000}}
    settings = long_mixtures.demo_config(config)
    assert settings == long_mixtures.DemoConfig(count=2, duration=30.0, seed=9, events_per_minute=5.0,
                                                absent_categories=1)
    assert settings.n_events == 2  # 5 per minute over 30 s, rounded
    cfg = long_mixtures.demo_mixture_config(config)
    assert (cfg.duration, cfg.sample_rate, cfg.snr_db, cfg.max_events, cfg.edge_cut) == (30.0, 8000, (0, 10), 3, 0.1)


# ---------------------------------------------------------------- scoring and the command line


def test_score_per_query_and_overall():
    queries = pd.DataFrame([["f_q00", "f.wav", "dog", "label", "dog", 1],
                            ["f_q01", "f.wav", "bell", "label", "bell", 1],
                            ["f_q02", "f.wav", "siren", "label", "siren", 0],
                            ["f_q03", "f.wav", "car", "label", "car", 0]], columns=QUERY_COLUMNS)
    events = pd.DataFrame([["f.wav", 2.0, 4.0, "dog", "d", "", 5.0], ["f.wav", 10.0, 12.0, "dog", "d", "", 5.0],
                           ["f.wav", 6.0, 7.0, "bell", "b", "", 5.0]],
                          columns=["filename", "onset", "offset", "event_label", "clip_id", "description", "snr_db"])
    predictions = pd.DataFrame([["f_q00", 2.05, 3.95, 0.9], ["f_q00", 10.0, 12.1, 0.8],  # both dog events
                                ["f_q01", 15.0, 16.0, 0.7],                             # bell: wrong place
                                ["f_q03", 1.0, 1.5, 0.6]],                              # car: a false alarm
                               columns=["query_id", "onset", "offset", "score"])
    table, metrics = showcase.score(queries, events, predictions, 20.0, EvalConfig())
    rows = table.set_index("query_id")
    assert rows.loc["f_q00", "event_f1"] == 1.0 and rows.loc["f_q00", "n_reference"] == 2
    assert rows.loc["f_q00", "reference_covered"] == pytest.approx((1.9 + 2.0) / 4)
    assert rows.loc["f_q01", "event_f1"] == 0.0 and rows.loc["f_q01", "reference_covered"] == 0.0
    assert rows.loc["f_q02", "n_segments"] == 0 and pd.isna(rows.loc["f_q02", "event_f1"])
    assert rows.loc["f_q03", "n_segments"] == 1 and rows.loc["f_q03", "segment_seconds"] == 0.5
    assert metrics["positives"]["event_f1"] == pytest.approx(2 * 2 / (3 + 3))
    assert metrics["negatives"]["false_alarm_rate"] == 0.5


def _stub_model(query_encoder, labels):
    """What query_inputs.supported reads of a model: its query encoder and labels."""
    return SimpleNamespace(cfg=SimpleNamespace(query_encoder=query_encoder, labels=labels, example_dim=0))


def test_a_label_model_is_asked_label_queries_of_known_labels():
    queries = pd.DataFrame([["q0", "f.wav", "dog", "label", "dog", 1],
                            ["q1", "f.wav", "-a dog barks", "description", "dog", 1],
                            ["q2", "f.wav", "bell", "label", "bell", 0],
                            ["q3", "f.wav", "owl", "label", "owl", 0]], columns=QUERY_COLUMNS)
    assert supported(_stub_model("text", []), queries).equals(queries)
    label = supported(_stub_model("label", ["dog", "bell"]), queries)
    assert label["query_id"].tolist() == ["q0", "q2"]  # no descriptions, no unknown labels


def test_whole_demo_step_as_arseg_segment(tmp_path, capsys):
    """A label model (no text encoder needed) on two demo files: the outputs of `arseg
    segment` per query, the very segments the command reports, a summary whose numbers are
    those of its own TSV."""
    clips, audio = corpus(tmp_path)
    cfg = MixtureConfig(duration=8.0, max_events=2)
    settings = long_mixtures.DemoConfig(count=2, duration=8.0, seed=1, events_per_minute=20, absent_categories=1)
    mix = tmp_path / "demo" / "mixtures"
    events, queries = long_mixtures.generate_demo(clips, audio, mix / "audio", mix / "events.tsv", mix / "queries.tsv",
                                                  settings, cfg)
    models = [save_tiny(tmp_path / "results/models/yoho/seed0/model.pt", 0.2, query_encoder="label",
                        labels=CATEGORIES, min_duration=0.0, threshold=0.05),
              save_tiny(tmp_path / "results/models/yoho/seed1/model.pt", 0.1, query_encoder="label",
                        labels=CATEGORIES)]
    out = tmp_path / "demo"
    answers = demo.segment_demo(models=[str(p) for p in models], queries_path=mix / "queries.tsv",
                                audio_dir=mix / "audio", embeddings=[], out_segments=out / "segments",
                                out_cuts=out / "cuts", out_answers=out / "answers.json")
    assert json.loads((out / "answers.json").read_text()) == answers
    summary = showcase.summarise_demo(answers_path=out / "answers.json", metrics=[], events_path=mix / "events.tsv",
                                      queries_path=mix / "queries.tsv", out_tsv=out / "summary.tsv",
                                      out_json=out / "summary.json", out_html=out / "summary.html", cfg=EvalConfig())
    assert summary["model"]["path"] == str(models[0]) and summary["model"]["threshold"] == 0.05
    table = pd.read_csv(out / "summary.tsv", sep="\t")
    labels = queries[queries["kind"] == "label"]
    assert sorted(table["query_id"]) == sorted(labels["query_id"])  # a label model: label queries only
    for row in table.itertuples():
        stem = row.filename.removesuffix(".wav")
        assert (out / "segments" / stem / f"{stem}.{row.target_label}.tsv").is_file()
        assert (out / "segments" / stem / f"{stem}.{row.target_label}.png").stat().st_size > 5_000
        segments = pd.read_csv(row.segments_tsv, sep="\t")
        cuts = sorted((out / "cuts" / stem / f"{stem}.{row.target_label}").glob("seg*.wav"))
        assert len(segments) == row.n_segments == row.cut_outs == len(cuts)
    saved = json.loads((out / "summary.json").read_text())
    assert saved["demo"]["absent"]["n_negative_queries"] == 2
    assert saved["demo"]["absent"]["n_segments"] == int(table.loc[table["present"] == 0, "n_segments"].sum())
    assert [c["validation_event_f1"] for c in saved["candidates"]] == [0.2, 0.1]
    markup = (out / "summary.html").read_text()
    assert "demo-scores" in markup and "yoho seed 0" in markup
    from arseg.cli import main

    for filename, rows in table.groupby("filename"):
        capsys.readouterr()
        assert main(["segment", str(mix / "audio" / filename), "--model", str(models[0]), "--out",
                     str(tmp_path / "cli"), "--json", "--quiet", *[f"--label={r}" for r in rows["target_label"]]]) == 0
        reported = {item["query"]: [[s["onset"], s["offset"], s["score"]] for s in item["segments"]]
                    for item in json.loads(capsys.readouterr().out)["files"][0]["results"]}
        for row in rows.itertuples():
            written = pd.read_csv(row.segments_tsv, sep="\t")[["onset", "offset", "score"]].values.tolist()
            assert written == reported[row.target_label], row.query_id
    assert markup.count("<tr>") == (1 + 4) + (1 + len(table)) + (1 + 2)  # scores, queries, candidates


def test_config_check_names_too_many_absent_categories():
    from pathlib import Path

    from snakemake.utils import validate

    from arseg.configs import ConfigError, check_config

    schema = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    config = {"corpus": {"categories": ["dog", "bell"]}, "demo": {"absent_categories": 2}}
    validate(config, str(schema))  # fills in every default
    assert config["demo"]["enabled"] and config["demo"]["duration"] == 60.0
    with pytest.raises(ConfigError, match=r"demo.absent_categories \(2\)"):
        check_config(config)
    config["demo"]["absent_categories"] = 1
    check_config(config)
    config["demo"].update(absent_categories=2, enabled=False)
    check_config(config)
