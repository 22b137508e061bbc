"""model.members: a seed's model as the ensemble of several trained with seeds of their own."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from arseg.infer.windows import predict_bins
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, SeedEnsemble, load_model, prepare_for_inference, \
    save_model
from arseg.train.ensemble import member_seed

spec = importlib.util.spec_from_file_location("workflow_runner", Path(__file__).with_name("workflow_runner.py"))
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)


def members(cfg: ModelConfig, n: int) -> list[ReferringSegmenter]:
    models = []
    for seed in range(n):
        torch.manual_seed(seed)
        model = ReferringSegmenter(cfg).eval()
        with torch.no_grad():  # different per-band statistics too: they are a member's own
            model.feature_mean.uniform_(-1, 1)
        models.append(model)
    return models


def test_an_ensemble_answers_with_its_members_mean_probability_and_keeps_it_through_its_file(tmp_path):
    cfg = ModelConfig(backbone="yoho", width=0.125)
    models = members(cfg, 3)
    ensemble = SeedEnsemble.of(models).eval()
    torch.manual_seed(9)
    features, queries = torch.randn(2, cfg.window_frames, cfg.n_mels), torch.randn(2, cfg.text_dim)
    with torch.no_grad():
        expected = torch.stack([torch.sigmoid(m(features, queries)) for m in models]).mean(0)
        assert torch.allclose(torch.sigmoid(ensemble(features, queries)), expected, atol=1e-6)
        assert torch.allclose(torch.sigmoid(prepare_for_inference(ensemble)(features, queries)), expected, atol=1e-5)
        assert not torch.allclose(torch.sigmoid(models[0](features, queries)), expected, atol=1e-3)
    save_model(ensemble, tmp_path / "model.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    assert isinstance(loaded, SeedEnsemble) and len(loaded.members) == 3
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(loaded(features, queries)), expected, atol=1e-6)
    # What every prediction runs: a long recording, cut into windows and stitched
    recording = np.random.default_rng(0).normal(size=(3 * cfg.window_frames, cfg.n_mels)).astype(np.float32)
    stitched = np.mean([predict_bins(prepare_for_inference(m), recording, queries) for m in models], axis=0)
    assert np.allclose(predict_bins(prepare_for_inference(loaded), recording, queries), stitched, atol=1e-5)


def test_the_members_share_one_pretrained_encoder_stored_once(tmp_path):
    cfg = ModelConfig(backbone="yoho", width=0.125, example_dim=512, example_labels=["dog", "door"])
    assert cfg.needs_encoder  # to embed example clips
    models = members(cfg, 2)
    with torch.no_grad():
        next(models[0].encoder.parameters()).add_(1.0)
    ensemble = SeedEnsemble.of(models)
    keys = list(ensemble.state_dict())
    assert any(k.startswith("encoder.") for k in keys) and not any(".encoder." in k for k in keys)
    assert all(m.encoder is None for m in ensemble.members)
    save_model(ensemble, tmp_path / "model.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    for a, b in zip(loaded.encoder.state_dict().values(), models[0].encoder.state_dict().values()):
        assert torch.equal(a, b)


def test_only_models_of_one_config_make_an_ensemble_their_decodings_aside():
    import dataclasses

    from arseg.train.ensemble import check_alike

    first, second = members(ModelConfig(backbone="yoho", width=0.125), 2)
    second.cfg = dataclasses.replace(second.cfg, threshold=0.3, gate=0.8, example_decoding={"threshold": 0.6})
    check_alike([first, second], ["a/model.pt", "b/model.pt"])
    wider = ReferringSegmenter(ModelConfig(backbone="yoho", width=0.25))
    with pytest.raises(ValueError, match=r"b/model.pt: not a member of the ensemble of a/model.pt: its width differ"):
        check_alike([first, wider], ["a/model.pt", "b/model.pt"])


def test_member_zero_trains_with_the_seed_itself_and_the_others_with_seeds_of_their_own():
    assert [member_seed(s, 0) for s in (0, 1, 7)] == [0, 1, 7]
    drawn = {member_seed(s, m) for s in range(5) for m in range(1, 4)}
    assert len(drawn) == 15 and not drawn & set(range(5))
    # the same in every process (no salted hash()): SeedSequence's first word for (seed, member)
    assert member_seed(3, 2) == int(np.random.SeedSequence([3, 2]).generate_state(1)[0])


def test_a_run_with_members_scores_each_seeds_ensemble_of_refits(finished_run, tmp_path, capsys):
    """model.members: 2 with a refit: two members per seed, each trained and refit with its own
    seed; their first trainings' ensemble predicts validation and its decoding is chosen there;
    the refits' ensemble keeps that ranking, predicts the test and is scored; `arseg segment`
    runs it from its file alone."""
    from arseg.cli import main

    workdir = tmp_path / "run"
    shutil.copytree(finished_run, workdir, symlinks=True)
    extra = workdir / "config" / "members.yaml"
    extra.write_text("model: {members: 2}\nmixtures: {count: {refit: 6}}\n")
    configs = [workdir / "config" / "test.yaml", extra]
    runner.snakemake(workdir, "--cores", "2", configfile=configs)

    models = workdir / "results/models/yoho/seed0"
    seeds = [json.loads((models / f"member{m}/provenance.json").read_text())["config"]["training"]["seed"]
             for m in range(2)]
    assert seeds == [0, member_seed(0, 1)]
    first, first_extra = load_model(models / "model.pt")
    scored, extra_info = load_model(models / "refit/model.pt")
    assert isinstance(first, SeedEnsemble) and isinstance(scored, SeedEnsemble)
    assert extra_info["members"] == [f"results/models/yoho/seed0/member{m}/refit/model.pt" for m in range(2)]
    assert extra_info["refit_of"] == "results/models/yoho/seed0/model.pt"
    assert extra_info["validation_decoding"]["grid"] == first_extra["validation_decoding"]["grid"]
    chosen = extra_info["validation_decoding"]["chosen"]
    assert (scored.cfg.threshold, scored.cfg.gate, scored.cfg.merge_gap) == (
        chosen["threshold"], chosen["gate"], chosen["merge_gap"])

    # The scored test predictions are the refit members' mean
    from arseg.features.store import FeatureStore
    from arseg.model.query_inputs import table_inputs
    from arseg.model.text_encoder import load_cache
    results = workdir / "results"
    store = FeatureStore(results / "features/test.npy", results / "features/test.index.tsv")
    queries = pd.read_csv(results / "queries/test.tsv", sep="\t")
    mixture = queries["filename"].iloc[0]
    group = queries[queries["filename"] == mixture]
    inputs = table_inputs(scored, group, load_cache(results / "queries/test_embeddings.npz"))
    refits = [prepare_for_inference(load_model(models / f"member{m}/refit/model.pt")[0]) for m in range(2)]
    expected = np.mean([predict_bins(m, store[mixture], inputs) for m in refits], axis=0)
    with np.load(results / "predictions/yoho/seed0/test.scores.npz") as saved:
        rows = [list(saved["query_id"]).index(q) for q in group["query_id"]]
        assert np.allclose(saved["presence"][rows], expected[..., 0], atol=1e-5)

    metrics = json.loads((results / "metrics/yoho/seed0.json").read_text())
    assert metrics["provenance"]["model"]["config"]["model"]["members"] == 2
    assert (results / "figures/training.png").is_file()

    capsys.readouterr()
    assert main(["models", str(results), "--json"]) == 0
    rows = {row["path"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {str(models / "model.pt"), str(models / "refit/model.pt")}
    assert rows[str(models / "refit/model.pt")]["members"] == 2
    assert rows[str(models / "refit/model.pt")]["event_f1"] == metrics["overall"]["event_f1"]

    audio = sorted((results / "mixtures/test/audio").glob("*.wav"))[0]
    assert main(["segment", str(audio), "--model", str(models / "refit/model.pt"), "-q", "a dog barking", "--json",
                 "--quiet", "--out", str(tmp_path / "segments")]) == 0
    assert json.loads(capsys.readouterr().out)
    result = runner.snakemake(workdir, "-n", "--cores", "1", configfile=configs)
    assert "Nothing to be done" in result.stdout + result.stderr
    runner.snakemake(workdir, "--report", "report.html", configfile=configs)
    assert "Each seed's model is an <em>ensemble</em> of 2" in (workdir / "report.html").read_text()


@pytest.mark.parametrize("members", [1, 3])
def test_the_training_figure_names_each_member(tmp_path, monkeypatch, members):
    import matplotlib.axes

    from arseg.report.figures import training_figure

    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "best": [1, 1]})
    runs = [f"seed{s}/member{m}" if members > 1 else f"seed{s}" for s in range(2) for m in range(members)]
    for run in runs:
        (tmp_path / "yoho" / run).mkdir(parents=True)
        history.to_csv(tmp_path / "yoho" / run / "history.tsv", sep="\t", index=False)
    labels, plot = [], matplotlib.axes.Axes.plot

    def recorded(self, *args, label=None, **kwargs):
        labels.append(label)
        return plot(self, *args, label=label, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", recorded)
    training_figure([tmp_path / "yoho" / run / "history.tsv" for run in runs], tmp_path / "training.png")
    assert [label for label in labels if label and label.endswith(" train")] == [f"{run} train" for run in runs]
