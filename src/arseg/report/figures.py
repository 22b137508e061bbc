"""The paper's figures, one consistent style (matplotlib + seaborn), written atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from arseg.data.corpus.table import read_clips  # noqa: E402
from arseg.data.events import read_events  # noqa: E402
from arseg.data.queries import read_queries  # noqa: E402
from arseg.eval.scoring import Scores, coverage, read_scores  # noqa: E402
from arseg.io import atomic  # noqa: E402

sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
REFERENCE_COLOR, PREDICTED_COLOR = "#1b9e77", "#d95f02"


def save(fig, path) -> None:
    with atomic.atomic_path(path, suffix=".tmp" + Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(fig)


SPLIT_ORDER = ["train", "val", "test"]


def dataset_figure(clips_path, events_paths, out_png) -> None:
    """Clips per category and split, clip durations, events per mixture, event SNRs; one colour per split."""
    clips = read_clips(clips_path)
    events = pd.concat([read_events(p).assign(split=Path(p).parent.name) for p in events_paths])
    splits = [s for s in SPLIT_ORDER if s in set(clips["split"]) | set(events["split"])]
    palette = dict(zip(SPLIT_ORDER, sns.color_palette("colorblind", 3)))
    counts = clips.groupby(["category", "split"]).size().unstack(fill_value=0)
    top = max(3.3, 0.17 * len(counts))  # room for every category's name
    fig, axes = plt.subplots(2, 2, figsize=(11, top + 4.2), height_ratios=[top, 3.3])
    present = [s for s in splits if s in counts]
    counts[present].plot.barh(stacked=True, ax=axes[0, 0], color=[palette[s] for s in present], legend=False,
                              width=0.75)
    axes[0, 0].set(title="Corpus clips per category and split", xlabel="clips", ylabel="")
    axes[0, 0].invert_yaxis()  # A at the top
    axes[0, 0].tick_params(axis="y", labelsize=8)
    sns.histplot(clips, x="duration", hue="split", hue_order=splits, palette=palette, multiple="stack", bins=20,
                 ax=axes[0, 1], legend=False)
    axes[0, 1].set(title="Clip durations", xlabel="seconds", ylabel="clips")
    per_mixture = events.groupby(["split", "filename"]).size().rename("events").reset_index()
    sns.countplot(per_mixture, x="events", hue="split", hue_order=splits, palette=palette, ax=axes[1, 0], legend=False)
    axes[1, 0].set(title="Foreground events per mixture", xlabel="events", ylabel="mixtures")
    sns.histplot(events, x="snr_db", hue="split", hue_order=splits, palette=palette, multiple="stack", bins=20,
                 ax=axes[1, 1], legend=False)
    axes[1, 1].set(title="Event SNR over the background", xlabel="SNR (dB)", ylabel="events")
    handles = [matplotlib.patches.Patch(color=palette[s], label=f"{s} split") for s in splits]
    fig.legend(handles=handles, loc="upper center", ncol=len(splits), frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save(fig, out_png)


def training_figure(history_paths, out_png) -> None:
    """A panel per backbone, at most two side by side: training (solid) and validation
    (dashed) loss per seed (per member of a seed's ensemble:
    .../{backbone}/seed{k}/member{m}/history.tsv) and, where the epoch was kept by
    validation event F1 (training.select_on), that F1 below it; the dot marks the epoch kept
    on the curve that chose it."""
    runs: dict[str, list] = {}
    for path in history_paths:
        path = Path(path)
        run = path.parent
        while run.parent.name.startswith("seed"):
            run = run.parent
        name = "/".join(path.parent.relative_to(run.parent).parts)
        runs.setdefault(run.parent.name, []).append((name, pd.read_csv(path, sep="\t")))
    by_f1 = any("val_event_f1" in h for histories in runs.values() for _, h in histories)
    per_backbone = 2 if by_f1 else 1  # rows of panels
    cols = min(max(len(runs), 1), 2)
    heights = [1.0, 0.7][:per_backbone] * int(np.ceil(max(len(runs), 1) / cols))
    fig, grid = plt.subplots(len(heights), cols, figsize=(5.2 * cols, 3.4 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    colors = sns.color_palette("colorblind", max(len(r) for r in runs.values()) if runs else 1)
    used = set()
    for k, (backbone, histories) in enumerate(runs.items()):
        top = per_backbone * (k // cols)
        loss_ax, *f1_ax = grid[top:top + per_backbone, k % cols]  # this backbone's panels
        for color, (seed, history) in zip(colors, histories):
            kept = history.index[history["best"] == 1][-1]
            loss_ax.plot(history["epoch"], history["train_loss"], color=color, label=f"{seed} train")
            loss_ax.plot(history["epoch"], history["val_loss"], "--", color=color, label=f"{seed} validation")
            if "val_event_f1" in history:
                f1_ax[0].plot(history["epoch"], history["val_event_f1"], "--", color=color)
                f1_ax[0].plot(history["epoch"][kept], history["val_event_f1"][kept], "o", color=color)
            else:
                loss_ax.plot(history["epoch"][kept], history["val_loss"][kept], "o", color=color)
        loss_ax.set(title=backbone, ylabel="loss per query (log scale)", yscale="log")
        loss_ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        loss_ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        loss_ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        loss_ax.legend(fontsize=8, ncol=2)
        if f1_ax and not any("val_event_f1" in h for _, h in histories):  # this one kept epochs by loss
            f1_ax = []
        for ax in f1_ax:
            ax.sharex(loss_ax)
            ax.set(ylabel="validation event F1", ylim=(0, 1))
        used.update([loss_ax, *f1_ax])
        bottom = (f1_ax or [loss_ax])[-1]
        bottom.set_xlabel("epoch")
        bottom.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # whole epochs only
    for ax in set(grid.flat) - used:
        ax.set_visible(False)
    fig.suptitle("Training curves (dot: the epoch whose weights were kept, on the curve that chose it)", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)


def pick_examples(queries: pd.DataFrame, segments: pd.DataFrame, events: pd.DataFrame,
                  count: int) -> list[tuple[str, str]]:
    """(query_id, role) of `count` queries on different mixtures: a positive label query, a
    positive description query, a negative query (one with a false alarm if there is one),
    further positives, and last the positive query the model covers worst (a failure case)."""
    spans = events.groupby(["filename", "event_label"])
    found = {q: g for q, g in segments.groupby("query_id")}
    positives = queries[queries["positive"] == 1].copy()
    if positives.empty or count < 1:
        return []
    def spans_of(frame: pd.DataFrame | None) -> list[tuple[float, float]]:
        return [] if frame is None else list(zip(frame["onset"], frame["offset"]))

    positives["overlap"] = [coverage(spans_of(spans.get_group((q.filename, q.target_label))),
                                     spans_of(found.get(q.query_id))) or 0.0 for q in positives.itertuples()]
    worst = positives.sort_values("overlap", kind="stable").iloc[0]
    chosen: list[tuple[str, str]] = []
    used = {worst["filename"]}

    def take(frame: pd.DataFrame, role: str) -> None:
        frame = frame[~frame["filename"].isin(used)]
        if len(chosen) < count - 1 and not frame.empty:
            row = frame.iloc[0]
            chosen.append((row["query_id"], role))
            used.add(row["filename"])

    take(positives[positives["kind"] == "label"], "sound present")
    take(positives[positives["kind"] == "description"], "sound present")
    negatives = queries[queries["positive"] == 0]
    fired = negatives[negatives["query_id"].isin(found)]
    take(fired if not fired.empty else negatives, "sound absent (false alarm)" if not fired.empty else "sound absent")
    while len(chosen) < count - 1 and not positives[~positives["filename"].isin(used)].empty:
        take(positives, "sound present")
    chosen.append((worst["query_id"], f"failure case (worst coverage of the reference: {worst['overlap']:.0%})"))
    return chosen


def examples_figure(features, index, events, queries, segments, scores, count: int, hop_seconds: float,
                    model_name: str, out_png) -> list[dict]:
    """Per example: log-mel spectrogram, reference and predicted segments, presence score.
    Returns what each example shows (query_id, role, reference and predicted (onset,
    offset) spans, the presence curve, the levels drawn)."""
    from arseg.features.store import FeatureStore

    store = FeatureStore(features, index)
    events, queries = read_events(events), read_queries(queries)
    segments = pd.read_csv(segments, sep="\t", dtype={"query_id": str})
    scores = read_scores(scores)
    chosen = pick_examples(queries[queries["query_id"].isin(scores.row)], segments, events, count)
    by_id = queries.set_index("query_id")
    cols = 2 if len(chosen) > 1 else 1  # two side by side: the figure stays about as tall as it is wide
    rows = max(int(np.ceil(len(chosen) / cols)), 1)
    fig = plt.figure(figsize=(8 * cols, 3.9 * rows))
    outer = fig.add_gridspec(rows, cols, hspace=0.32, wspace=0.18)
    shown = [draw_example(fig, outer[k // cols, k % cols], query_id, role, by_id.loc[query_id], store, events,
                          segments, scores, hop_seconds, last=k + cols >= len(chosen))
             for k, (query_id, role) in enumerate(chosen)]
    handles = example_legend(model_name, scores)
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.subplots_adjust(top=1 - 0.75 / fig.get_figheight(), bottom=0.5 / fig.get_figheight(), left=0.07, right=0.98)
    save(fig, out_png)
    return shown


def draw_example(fig, cell, query_id: str, role: str, q, store, events: pd.DataFrame, segments: pd.DataFrame,
                 scores: Scores, hop_seconds: float, last: bool) -> dict:
    """One example in its grid cell: spectrogram, reference and predicted lanes, presence."""
    from arseg.infer import drawing

    spec = store[q["filename"]]
    inner = cell.subgridspec(3, 1, height_ratios=[3, 0.9, 1.5], hspace=0.08)
    ax_spec, ax_lane, ax_score = (fig.add_subplot(inner[i]) for i in range(3))
    duration = drawing.spectrogram(ax_spec, spec, hop_seconds)
    ax_spec.grid(False)
    ax_spec.tick_params(labelbottom=False)
    text = q["text"] if len(q["text"]) <= 70 else q["text"][:67] + "..."
    others = sorted(set(events.loc[events["filename"] == q["filename"], "event_label"]) - {q["target_label"]})
    ax_spec.set_title(f"{role}: {q['filename']}, {q['kind']} query \"{text}\"\n"
                      f"queried: {q['target_label']} ({'present' if q['positive'] else 'absent'}); "
                      f"also sounding: {', '.join(others) or 'nothing'}", fontsize=9, loc="left")
    ref = events[(events["filename"] == q["filename"]) & (events["event_label"] == q["target_label"])]
    est = segments[segments["query_id"] == query_id]
    reference = list(zip(ref["onset"], ref["offset"])) if q["positive"] else []
    predicted = list(zip(est["onset"], est["offset"]))
    ref_bars = drawing.spans(ax_lane, reference, (1.1, 0.8), color=REFERENCE_COLOR)
    drawing.spans(ax_lane, predicted, (0.1, 0.8), color=PREDICTED_COLOR)
    ax_lane.set(ylim=(0, 2), xlim=(0, duration))
    ax_lane.set_yticks([0.5, 1.5], ["predicted", "reference"], fontsize=8)
    ax_lane.tick_params(labelbottom=False)
    ax_lane.grid(False)
    row = scores.row[query_id]
    curve = scores.presence[row]
    for on, width in ref_bars:
        ax_score.axvspan(on, on + width, color=REFERENCE_COLOR, alpha=0.2, lw=0)
    levels = drawing.presence(ax_score, curve, scores.bin_width, scores.threshold[row], scores.gate[row],
                              duration,
                              color="black", line_color="0.4", linewidth=1, lw=1.5, baseline=None)
    ticks = [0, *levels, 1]
    ax_score.set(xlim=(0, duration), ylim=(-0.04, 1.05), ylabel="presence")  # a score of 0 clear of the axis
    ax_score.set_yticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
    ax_score.set_xlabel("time (s)" if last else "")
    return {"query_id": query_id, "role": role, "reference": reference, "predicted": predicted,
            "presence": curve, "levels": levels}


def example_legend(model_name: str, scores: Scores) -> list:
    thresholds, gates = np.unique(scores.threshold), scores.gate
    if len(thresholds) == 1:
        level = f"decoding threshold {thresholds[0]:g}"
    else:  # text and example queries decoded each their own way
        level = "decoding threshold (of the query's kind)"
    handles = [matplotlib.patches.Patch(color=REFERENCE_COLOR, label="reference (queried sound)"),
               matplotlib.patches.Patch(color=PREDICTED_COLOR, label=f"predicted segments ({model_name})"),
               matplotlib.lines.Line2D([], [], color="black", label="presence score per bin"),
               matplotlib.lines.Line2D([], [], color="0.4", ls="--", label=level)]
    gated = gates[gates > scores.threshold]
    if len(gated):
        value = f" {gated[0]:g}" if len(np.unique(gated)) == 1 else ""
        handles.append(matplotlib.lines.Line2D([], [], color="0.4", ls=":",
                                               label=f"gate{value}: a segment must reach it somewhere"))
    return handles
