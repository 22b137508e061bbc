"""What the figures and tables show equals the files they are drawn from: the results table's
numbers are the metrics files' means over seeds, the dataset figure's bars count the clip
table, the examples figure draws the predicted segments, the references and the scores."""
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from arseg.data.events import EVENT_COLUMNS
from arseg.data.queries import QUERY_COLUMNS
from arseg.report import figures, tables

SPLITS = ["train", "val", "test"]


def test_results_table_numbers_are_the_metrics_files_means_over_seeds(tmp_path):
    rng = np.random.default_rng(0)
    paths, values = [], {}
    for backbone, seeds in (("yoho", 3), ("crnn", 2), ("vgg", 1)):
        for seed in range(seeds):
            overall = {c.key: float(rng.uniform(0, 1)) for c in tables.MAIN_COLUMNS}
            metrics = {"overall": overall, "negatives": {k: overall.pop(k) for k in
                                                         ("false_alarm_rate", "false_alarm_seconds_per_hour")}}
            path = tmp_path / backbone / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(metrics))
            paths.append(path)
            values.setdefault(backbone, []).append(metrics)
    tables.write_table(tables.results_table(paths), tsv=tmp_path / "results.tsv", markdown=tmp_path / "results.md")
    written = pd.read_csv(tmp_path / "results.tsv", sep="\t").set_index("backbone")
    markdown = (tmp_path / "results.md").read_text()
    for backbone, runs in values.items():
        assert written.loc[backbone, "seeds"] == len(runs)
        for column in tables.MAIN_COLUMNS:
            per_seed = np.array([column.read(m) for m in runs])
            # the TSV keeps 6 significant digits
            assert written.loc[backbone, column.key] == float(f"{per_seed.mean():.6g}"), column.key
            if len(runs) > 1:
                assert written.loc[backbone, f"{column.key}_std"] == float(f"{per_seed.std(ddof=1):.6g}")
                shown = f"{per_seed.mean():.{column.digits}f} ± {per_seed.std(ddof=1):.{column.digits}f}"
            else:
                shown = f"{per_seed.mean():.{column.digits}f}"
            assert shown in markdown, (backbone, column.key, shown)


def captured(monkeypatch) -> list:
    """The figures the module saves, kept open for inspection."""
    kept = []
    monkeypatch.setattr(figures, "save", lambda fig, path: kept.append(fig))
    return kept


def test_dataset_figure_bars_count_the_clip_table_and_the_events(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    clips = pd.DataFrame([[f"c{i}", f"cat{i % 4}", "a sound", float(rng.uniform(1, 9)), SPLITS[i % 3 if i % 7 else 0]]
                          for i in range(40)], columns=["clip_id", "category", "description", "duration", "split"])
    clips.to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    events_paths = []
    for split in SPLITS:
        rows = [[f"{split}_m{m}.wav", 0.0, 1.0, f"cat{e}", "c0", "a sound", float(rng.uniform(0, 20))]
                for m in range(5) for e in range(1 + m % 3)]
        path = tmp_path / split / "events.tsv"
        path.parent.mkdir()
        pd.DataFrame(rows, columns=EVENT_COLUMNS).to_csv(path, sep="\t", index=False)
        events_paths.append(path)
    kept = captured(monkeypatch)
    figures.dataset_figure(tmp_path / "clips.tsv", events_paths, tmp_path / "dataset.png")
    clips_axes, _, events_axes, _ = kept[0].axes[:4]
    categories = [t.get_text() for t in clips_axes.get_yticklabels()]
    expected = clips.groupby(["category", "split"]).size()
    for container in clips_axes.containers:  # one stacked bar series per split
        split = container.get_label()
        drawn = dict(zip(categories, (bar.get_width() for bar in container.patches)))
        assert drawn == {c: expected.get((c, split), 0) for c in categories}, split
    heights = sum(bar.get_height() for container in events_axes.containers for bar in container.patches)
    assert heights == 15  # every mixture of every split counted once


def write_split(tmp_path, rng):
    """Features, events, queries, predictions and scores of a small test split."""
    hop, frames, bin_width = 0.01, 401, 0.32
    filenames = [f"m{i}.wav" for i in range(4)]
    np.save(tmp_path / "features.npy", rng.normal(-50, 5, (len(filenames), frames, 16)).astype(np.float32))
    pd.DataFrame({"filename": filenames, "row": range(len(filenames))}).to_csv(tmp_path / "index.tsv", sep="\t",
                                                                                index=False)
    events, queries, segments = [], [], []
    for i, filename in enumerate(filenames):
        events += [[filename, 0.5, 1.5, "dog", "c1", "a dog", 10.0], [filename, 2.0, 3.2, "dog", "c2", "a dog", 5.0],
                   [filename, 1.0, 2.0, "bell", "c3", "a bell", 3.0]]
        queries += [[f"q{i}a", filename, "dog", "label", "dog", 1], [f"q{i}b", filename, "a dog barks", "description",
                                                                     "dog", 1],
                    [f"q{i}c", filename, "car", "label", "car", 0]]
        segments += [[f"q{i}a", 0.4 + 0.1 * i, 1.6, 0.9], [f"q{i}b", 2.1, 3.0, 0.7], [f"q{i}c", 0.2, 0.3 + 0.2 * i, 0.6]]
    pd.DataFrame(events, columns=EVENT_COLUMNS).to_csv(tmp_path / "events.tsv", sep="\t", index=False)
    pd.DataFrame(queries, columns=QUERY_COLUMNS).to_csv(tmp_path / "queries.tsv", sep="\t", index=False)
    pd.DataFrame(segments, columns=["query_id", "onset", "offset", "score"]).to_csv(tmp_path / "segments.tsv",
                                                                                    sep="\t", index=False)
    ids = [q[0] for q in queries]
    np.savez(tmp_path / "scores.npz", query_id=np.array(ids), presence=rng.random((len(ids), 13)).astype(np.float32),
             bin_width=np.float64(bin_width), threshold=np.full(len(ids), 0.4), gate=np.full(len(ids), 0.7))
    return hop


def test_examples_figure_draws_the_predictions_references_and_scores(tmp_path, monkeypatch):
    hop = write_split(tmp_path, np.random.default_rng(2))
    kept = captured(monkeypatch)
    shown = figures.examples_figure(tmp_path / "features.npy", tmp_path / "index.tsv", tmp_path / "events.tsv",
                                    tmp_path / "queries.tsv", tmp_path / "segments.tsv", tmp_path / "scores.npz",
                                    count=4, hop_seconds=hop, model_name="yoho seed 0", out_png=tmp_path / "x.png")
    segments = pd.read_csv(tmp_path / "segments.tsv", sep="\t")
    events = pd.read_csv(tmp_path / "events.tsv", sep="\t")
    queries = pd.read_csv(tmp_path / "queries.tsv", sep="\t").set_index("query_id")
    with np.load(tmp_path / "scores.npz") as data:
        presence = dict(zip(data["query_id"].tolist(), data["presence"]))
    assert len(shown) == 4 and len({queries.loc[s["query_id"], "filename"] for s in shown}) == 4
    assert any(not queries.loc[s["query_id"], "positive"] for s in shown)  # a negative query among them
    for example in shown:
        q = queries.loc[example["query_id"]]
        mine = segments[segments["query_id"] == example["query_id"]]
        assert example["predicted"] == list(zip(mine["onset"], mine["offset"]))
        target = events[(events["filename"] == q["filename"]) & (events["event_label"] == q["target_label"])]
        assert example["reference"] == (list(zip(target["onset"], target["offset"])) if q["positive"] else [])
        np.testing.assert_array_equal(example["presence"], presence[example["query_id"]])
        assert example["levels"] == [pytest.approx(0.4), pytest.approx(0.7)]  # the model's threshold and gate
    # The drawn artists: per example a lane axes with the reference and predicted bars
    lanes = [ax for ax in kept[0].axes if [t.get_text() for t in ax.get_yticklabels()] == ["predicted", "reference"]]
    assert len(lanes) == 4
    for ax, example in zip(lanes, shown):
        reference_bars, predicted_bars = ax.collections
        drawn = [tuple(p.vertices[0:3:2, 0]) for p in predicted_bars.get_paths()]
        assert drawn == pytest.approx([(on, off) for on, off in example["predicted"]])
        assert len(reference_bars.get_paths()) == len(example["reference"])
    matplotlib.pyplot.close("all")


def test_examples_figure_draws_each_querys_own_threshold_and_gate(tmp_path, monkeypatch):
    """Predictions record the threshold and gate that decoded each query (text queries and
    example clips each have theirs): each example draws its own, the legend names none."""
    hop = write_split(tmp_path, np.random.default_rng(2))
    with np.load(tmp_path / "scores.npz") as data:
        stored = dict(data)
    n = len(stored["query_id"])
    own = {q: (0.3 + 0.1 * (i % 2), 0.8) for i, q in enumerate(stored["query_id"].tolist())}
    np.savez(tmp_path / "scores.npz", **{**stored, "threshold": np.array([t for t, _ in own.values()]),
                                         "gate": np.full(n, 0.8)})
    kept = captured(monkeypatch)
    shown = figures.examples_figure(tmp_path / "features.npy", tmp_path / "index.tsv", tmp_path / "events.tsv",
                                    tmp_path / "queries.tsv", tmp_path / "segments.tsv", tmp_path / "scores.npz",
                                    count=4, hop_seconds=hop, model_name="yoho seed 0", out_png=tmp_path / "x.png")
    assert {own[s["query_id"]][0] for s in shown} == {0.3, 0.4}  # both kinds of threshold among them
    for example in shown:
        assert example["levels"] == [pytest.approx(own[example["query_id"]][0]), pytest.approx(0.8)]
    labels = [t.get_text() for t in kept[0].legends[0].get_texts()]
    assert "decoding threshold (of the query's kind)" in labels and "gate 0.8: a segment must reach it somewhere" in labels
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("by_f1", [(True, True, True), (False, False, False), (True, False, True)])
def test_the_training_figure_marks_the_kept_epoch_on_the_curve_that_chose_it(tmp_path, monkeypatch, by_f1):
    """With training.select_on: event_f1 (for a backbone: training.per_backbone) the history
    has the validation event F1, which chose the epoch: it gets a panel of its own and the
    dot; otherwise the dot is on the validation loss, and no F1 panel stands empty."""
    paths = []
    for backbone, f1 in zip(("yoho", "crnn", "vgg"), by_f1):
        history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.0], "val_loss": [2.0, 2.5, 2.2],
                                "best": [1, 1, 0]})  # epoch 2 kept: not the lowest validation loss
        if f1:
            history["val_event_f1"] = [0.1, 0.4, 0.3]
        path = tmp_path / backbone / "seed0" / "history.tsv"
        path.parent.mkdir(parents=True)
        history.to_csv(path, sep="\t", index=False)
        paths.append(path)
    kept = captured(monkeypatch)
    figures.training_figure(paths, tmp_path / "training.png")
    shown = [ax for ax in kept[0].axes if ax.get_visible()]
    f1_axes = [ax for ax in shown if ax.get_ylabel() == "validation event F1"]
    loss_axes = [ax for ax in shown if ax.get_ylabel().startswith("loss")]
    assert [ax.get_title() for ax in loss_axes] == ["yoho", "crnn", "vgg"]
    assert len(f1_axes) == sum(by_f1) and len(shown) == len(loss_axes) + len(f1_axes)
    f1_of = iter(f1_axes)
    for loss_ax, f1 in zip(loss_axes, by_f1):
        ax = next(f1_of) if f1 else loss_ax
        dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in dots] == [
            pytest.approx((2, 0.4) if f1 else (2, 2.5))]
        if f1:
            assert not [line for line in loss_ax.get_lines() if line.get_marker() == "o"]
    matplotlib.pyplot.close("all")


def test_the_conditions_figure_draws_the_buckets_with_queries_in_order_at_their_mean_over_seeds(tmp_path, monkeypatch):
    from arseg.report import result_figures

    monkeypatch.setattr(result_figures, "save", lambda fig, path: kept.append(fig))
    kept, paths = [], []
    snr = [("-5 dB", 3), ("0 dB", 0), ("5 dB", 2)]  # no test query's target at 0 dB
    for seed, f1 in enumerate((0.2, 0.4)):
        metrics = {"by_kind": {"label": {"n_queries": 5, "event_f1": 0.9, "segment_f1": 0.9}},
                   "by_snr": [{"bucket": b, "n_queries": n, "event_f1": f1 + i / 10 if n else None,
                               "segment_f1": 0.5} for i, (b, n) in enumerate(snr)],
                   "by_duration": [{"bucket": "1-2 s", "n_queries": 5, "event_f1": f1, "segment_f1": 0.5}]}
        paths.append(tmp_path / f"seed{seed}.json")
        paths[-1].write_text(json.dumps(metrics))
    result_figures.conditions_figure(paths, tmp_path / "conditions.png")
    snr_event, duration_event = kept[0].axes[0], kept[0].axes[1]
    assert [t.get_text() for t in kept[0].axes[2].get_xticklabels()] == ["-5 dB\n(n=3)", "5 dB\n(n=2)"]
    assert [round(y, 6) for y in snr_event.lines[0].get_ydata()] == [0.3, 0.5]  # means over the two seeds
    assert [round(y, 6) for y in duration_event.lines[0].get_ydata()] == [0.3]
