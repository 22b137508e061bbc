"""The real workflow, end to end, through Snakemake on a tiny config."""
import hashlib
import importlib.util
import json
import re
from pathlib import Path

spec = importlib.util.spec_from_file_location("workflow_runner", Path(__file__).with_name("workflow_runner.py"))
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)

TINY = Path(__file__).with_name("data") / "tiny.yaml"


# finished_run and report_html: session fixtures in tests/conftest.py (shared with the browser test).


def test_metrics_tables_and_figures_exist(finished_run):
    metrics = json.loads((finished_run / "results/metrics/yoho/seed0.json").read_text())
    for key in ("event_f1", "event_error_rate", "segment_f1", "segment_error_rate"):
        assert key in metrics["overall"]
    assert metrics["overall"]["n_queries"] > 0
    assert set(metrics["by_kind"]) == {"label", "description"}
    for key in ("psds_tag", "psds1", "psds2", "collar_f1", "intersection_f1"):
        assert key in metrics["overall"]
    assert metrics["by_snr"] and metrics["by_duration"] and "val_thresholds" in metrics
    for table in ("results", "per_category", "conditions", "comparison"):
        for ext in ("tsv", "md", "tex", "html"):
            assert (finished_run / f"results/tables/{table}.{ext}").stat().st_size > 100, (table, ext)
    assert "yoho" in (finished_run / "results/tables/results.md").read_text()
    for name in ("dataset", "training", "backbones", "psd_roc", "categories", "conditions", "examples/yoho"):
        assert (finished_run / f"results/figures/{name}.png").stat().st_size > 10_000, name


def test_demo_runs_the_best_model_on_held_out_audio(finished_run):
    import pandas as pd
    import soundfile as sf

    from arseg.model.segmenter import load_model
    from arseg.infer.demo import validation_event_f1

    demo = finished_run / "results/demo"
    summary = json.loads((demo / "summary.json").read_text())
    _, extra = load_model(finished_run / "results/models/yoho/seed0/model.pt")
    assert (summary["model"]["backbone"], summary["model"]["seed"]) == ("yoho", 0)
    assert summary["model"]["validation_event_f1"] == validation_event_f1(extra) is not None
    test = json.loads((finished_run / "results/metrics/yoho/seed0.json").read_text())
    assert summary["model"]["test"]["positives_event_f1"] == test["positives"]["event_f1"]
    # held out: 20 s files (tiny.yaml) from test clips only, none of them a test mixture
    assert sf.info(demo / "mixtures/audio/demo_000.wav").duration == 20.0
    events = pd.read_csv(demo / "mixtures/events.tsv", sep="\t")
    clips = pd.read_csv(finished_run / "results/corpus/clips.tsv", sep="\t")
    assert set(events["clip_id"]) <= set(clips.loc[clips["split"] == "test", "clip_id"])
    assert set(events["filename"]) == {"demo_000.wav"}
    table = pd.read_csv(demo / "summary.tsv", sep="\t")
    present, absent = table[table["present"] == 1], table[table["present"] == 0]
    assert set(present["target_label"]) == set(events["event_label"])
    assert set(present["kind"]) == {"label", "description"} and absent["target_label"].nunique() == 2
    assert not set(absent["target_label"]) & set(events["event_label"])
    for row in table.itertuples():  # the outputs of `arseg segment` for every query
        assert Path(finished_run / row.picture).stat().st_size > 5_000
        assert len(pd.read_csv(finished_run / row.segments_tsv, sep="\t")) == row.n_segments == row.cut_outs
    assert summary["demo"]["absent"]["n_segments"] == int(absent["n_segments"].sum())
    print(f"\ndemo (tiny run): {table[['kind', 'present', 'target_label', 'n_segments', 'event_f1']].to_string()}")


def test_second_run_has_nothing_to_do(finished_run):
    result = runner.snakemake(finished_run, "-n", "--cores", "1")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_report_builds(report_html):
    html = report_html.read_text(errors="replace")
    assert len(html) > 50_000 and "results.html" in html
    assert "7. Demo" in html and "summary.html" in html
    # The method text: Snakemake's Jinja drops the newline after a block tag, which once
    # merged the Training field into the Model field. Each must stay a field of its own.
    for field in ("Mixtures", "Model", "Training"):
        assert re.search(rf'field-name\\?">{field}', html), field
    assert "own output step (model.bin_seconds)" in html
    assert "System Message" not in html  # docutils found nothing to complain about
    for heading in ("task-and-data", "evaluation", "configuration-of-this-run"):  # headings, not paragraph text
        assert re.search(rf'id=\\?"{heading}\\?">\\n<h1>', html), heading
    assert "Every model scored here is a" not in html  # no refit in this run


def test_unknown_config_key_fails_before_any_job(tmp_path):
    runner.prepare_workdir(tmp_path, TINY)
    bad = tmp_path / "config" / "test.yaml"
    bad.write_text(TINY.read_text() + "trainng:\n  epochs: 3\n")
    result = runner.snakemake(tmp_path, "--cores", "1", check=False)
    assert result.returncode != 0
    assert "trainng" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_wrong_type_fails_naming_the_key(tmp_path):
    runner.prepare_workdir(tmp_path, TINY)
    bad = tmp_path / "config" / "test.yaml"
    bad.write_text(TINY.read_text().replace("epochs: 2", "epochs: two"))
    result = runner.snakemake(tmp_path, "-n", "--cores", "1", check=False)
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "training.epochs: 'two' is not of type 'integer'" in output
    assert "$schema" not in output  # the key and the problem, not the whole schema


def test_two_runs_give_byte_identical_mixtures(finished_run, tmp_path):
    runner.prepare_workdir(tmp_path, TINY)
    runner.snakemake(tmp_path, "--cores", "2", "results/mixtures/test/events.tsv")

    def digest(root):
        folder = root / "results/mixtures/test"
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    assert digest(tmp_path) == digest(finished_run)


def test_results_carry_what_made_them(finished_run, capsys):
    """model.pt, its provenance.json, the metrics and the report's page name the same config,
    package versions and code version; `arseg models` prints them."""
    import subprocess

    import pandas as pd
    import yaml

    from arseg.cli import main
    from arseg.model.segmenter import load_model

    model, _ = load_model(finished_run / "results/models/yoho/seed0/model.pt")
    sidecar = json.loads((finished_run / "results/models/yoho/seed0/provenance.json").read_text())
    assert model.provenance == sidecar
    tiny = yaml.safe_load(TINY.read_text())
    config = sidecar["config"]
    assert config["training"]["epochs"] == tiny["training"]["epochs"] and config["training"]["seed"] == 0
    assert config["model"]["width"] == tiny["model"]["width"] and config["model"]["backbone"] == "yoho"
    assert config["mixtures"]["count"] == {"train": 24, "val": 8}  # the test split made no part of it
    assert "threads" not in config["training"] and "evaluation" not in config
    commit = subprocess.run(["git", "-C", str(runner.ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    assert sidecar["code"]["commit"] == (commit or None)
    assert set(sidecar["versions"]) == {"torch", "numpy", "snakemake", "sed_eval", "sed_scores_eval"}
    assert sidecar["versions"]["torch"].split("+")[0] == __import__("torch").__version__.split("+")[0]

    scored = json.loads((finished_run / "results/metrics/yoho/seed0.json").read_text())["provenance"]
    assert scored["model"] == sidecar
    assert scored["config"]["evaluation"]["t_collar"] == 0.2 and scored["config"]["mixtures"]["count"]["test"] == 8

    run_config = json.loads((finished_run / "results/provenance/config.json").read_text())
    assert run_config["model"]["backbones"] == ["yoho"] and "threads" not in run_config["training"]
    assert set(run_config["corpus"]) == {"source", "categories", "split_seed", "demo"}  # no other source's keys
    table = pd.read_csv(finished_run / "results/provenance/models.tsv", sep="\t")
    assert table.loc[0, "trained_by"].startswith(f"commit {commit[:12]}")
    page = (finished_run / "results/provenance/provenance.html").read_text()
    assert "What made each result" in page and "training.learning_rate" in page

    capsys.readouterr()
    assert main(["models", str(finished_run / "results")]) == 0
    printed = capsys.readouterr().out
    assert "trained with (yoho seed 0):" in printed
    assert f"code = commit {commit[:12]}" in printed
    assert f"version torch = {sidecar['versions']['torch']}" in printed
    assert "training.epochs = 2" in printed and "model.width = 0.125" in printed


def test_a_refit_trains_again_on_the_validation_clips_and_is_the_model_scored(finished_run, tmp_path, capsys):
    """mixtures.count.refit: the tiny run's model trained again on its training mixtures and
    more of the validation clips, for the epochs it kept and with its decoding; that second
    model predicts the test and is scored, the first still predicts validation."""
    import shutil

    import numpy as np
    import pandas as pd

    from arseg.cli import main
    from arseg.model.segmenter import load_model

    workdir = tmp_path / "run"
    shutil.copytree(finished_run, workdir, symlinks=True)
    refit = workdir / "config" / "refit.yaml"
    refit.write_text("mixtures: {count: {refit: 6}}\n")
    runner.snakemake(workdir, "--cores", "2", configfile=[workdir / "config" / "test.yaml", refit])

    results = workdir / "results"
    events = pd.read_csv(results / "mixtures/refit/events.tsv", sep="\t")
    assert sorted(events["filename"].unique()) == [f"val_{i:05d}.wav" for i in range(8, 14)]  # after the 8 val ones
    clips = pd.read_csv(results / "corpus/clips.tsv", sep="\t")
    assert set(events["clip_id"]) <= set(clips.loc[clips["split"] == "val", "clip_id"])
    first, first_extra = load_model(results / "models/yoho/seed0/model.pt")
    second, extra = load_model(results / "models/yoho/seed0/refit/model.pt")
    assert extra["refit_of"] == "results/models/yoho/seed0/model.pt"
    assert extra["epochs_run"] == first_extra["epoch_kept"]
    # The first training's ranking of the decodings, checked against the refit's own false alarms
    decoding = extra["validation_decoding"]
    assert decoding["grid"] == first_extra["validation_decoding"]["grid"]
    chosen = decoding["chosen"]
    assert chosen["event_f1"] <= first_extra["validation_decoding"]["chosen"]["event_f1"]
    assert "refit_false_alarm_rate" in chosen and len(decoding["refit_grids"]["text"]) == len(decoding["grid"])
    assert (second.cfg.threshold, second.cfg.gate, second.cfg.merge_gap) == (chosen["threshold"], chosen["gate"],
                                                                             chosen["merge_gap"])
    history = pd.read_csv(results / "models/yoho/seed0/refit/history.tsv", sep="\t")
    assert "val_loss" not in history and len(history) == extra["epochs_run"]

    def scores(run, split):
        with np.load(run / f"results/predictions/yoho/seed0/{split}.scores.npz") as data:
            return data["presence"]

    assert np.array_equal(scores(workdir, "val"), scores(finished_run, "val"))  # the first model's
    assert not np.array_equal(scores(workdir, "test"), scores(finished_run, "test"))
    metrics = json.loads((results / "metrics/yoho/seed0.json").read_text())
    assert metrics["provenance"]["model"]["config"]["mixtures"]["count"]["refit"] == 6

    runner.snakemake(workdir, "--report", "report.html", configfile=[workdir / "config" / "test.yaml", refit])
    assert "Every model scored here is a <em>refit</em>" in (workdir / "report.html").read_text()

    capsys.readouterr()
    assert main(["models", str(results), "--json"]) == 0
    rows = {row["path"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[str(results / "models/yoho/seed0/refit/model.pt")]["event_f1"] == metrics["overall"]["event_f1"]
    assert rows[str(results / "models/yoho/seed0/model.pt")]["event_f1"] is None


def test_a_corpus_the_demo_cannot_use_stops_before_any_training(finished_run, tmp_path):
    """Three categories, one of them in the training split only: the demo's test split has two,
    and two absent ones (the default) leave none to play. The demo's files are made first, so
    the run stops there, saying which key to change, before a model is trained."""
    import pandas as pd

    clips = pd.read_csv(finished_run / "resources/demo/clips.tsv", sep="\t")
    categories = sorted(clips["category"].unique())[:3]
    clips = clips[clips["category"].isin(categories)].copy()
    clips.loc[clips["category"] == categories[2], "split"] = "train"
    folder = tmp_path / "corpus"
    (folder / "audio").mkdir(parents=True)
    for clip_id in clips["clip_id"]:
        (folder / "audio" / f"{clip_id}.wav").symlink_to(finished_run / f"resources/demo/audio/{clip_id}.wav")
    clips.to_csv(folder / "clips.tsv", sep="\t", index=False)
    workdir = tmp_path / "run"
    config = runner.prepare_workdir(workdir, TINY)
    config.write_text(config.read_text().replace("  source: demo\n", f"  source: folder\n  path: {folder}\n"))
    result = runner.snakemake(workdir, "--cores", "2", check=False)
    log = result.stdout + result.stderr
    assert result.returncode != 0 and "Error in rule demo_mixtures" in log, log[-3000:]
    assert "set demo.absent_categories to at most 1, or demo.enabled: false" in log
    assert "rule train:" not in log and not (workdir / "results" / "models").exists()
