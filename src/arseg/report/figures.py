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
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    counts = clips.groupby(["category", "split"]).size().unstack(fill_value=0)
    present = [s for s in splits if s in counts]
    counts[present].plot.barh(stacked=True, ax=axes[0, 0], color=[palette[s] for s in present], legend=False)
    axes[0, 0].set(title="Corpus clips per category and split", xlabel="clips", ylabel="")
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
    """One panel per backbone: training (solid) and validation (dashed) loss per seed (per
    member of a seed's ensemble: .../{backbone}/seed{k}/member{m}/history.tsv)."""
    runs: dict[str, list] = {}
    for path in history_paths:
        path = Path(path)
        run = path.parent
        while run.parent.name.startswith("seed"):
            run = run.parent
        name = "/".join(path.parent.relative_to(run.parent).parts)
        runs.setdefault(run.parent.name, []).append((name, pd.read_csv(path, sep="\t")))
    n = max(len(runs), 1)
    cols = min(n, 2)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False, sharey=True)
    colors = sns.color_palette("colorblind", max(len(r) for r in runs.values()) if runs else 1)
    for ax, (backbone, histories) in zip(axes.flat, runs.items()):
        for color, (seed, history) in zip(colors, histories):
            ax.plot(history["epoch"], history["train_loss"], color=color, label=f"{seed} train")
            ax.plot(history["epoch"], history["val_loss"], "--", color=color, label=f"{seed} validation")
            best = history.index[history["best"] == 1][-1]  # the epoch kept
            ax.plot(history["epoch"][best], history["val_loss"][best], "o", color=color)
        ax.set(title=backbone, xlabel="epoch", ylabel="loss per query (log scale)", yscale="log")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # whole epochs only
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.legend(fontsize=8, ncol=2)
    for ax in list(axes.flat)[len(runs):]:
        ax.set_visible(False)
    fig.suptitle("Training curves (dot: the epoch whose weights were kept)", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)


def _overlap_ratio(ref: pd.DataFrame, est: pd.DataFrame | None) -> float:
    """Share of the reference time covered by predicted segments."""
    ref_time = float((ref["offset"] - ref["onset"]).sum())
    if est is None or est.empty:
        return 0.0
    hit = sum(max(0.0, min(b, d) - max(a, c)) for a, b in zip(ref["onset"], ref["offset"])
              for c, d in zip(est["onset"], est["offset"]))
    return hit / max(ref_time, 1e-9)


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
    positives["overlap"] = [_overlap_ratio(spans.get_group((q.filename, q.target_label)), found.get(q.query_id))
                            for q in positives.itertuples()]
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
    chosen = pick_examples(queries[queries["query_id"].isin(scores["row"])], segments, events, count)
    by_id = queries.set_index("query_id")
    fig = plt.figure(figsize=(10, 3.9 * max(len(chosen), 1)))
    outer = fig.add_gridspec(max(len(chosen), 1), 1, hspace=0.32)
    shown = [draw_example(fig, outer[k], query_id, role, by_id.loc[query_id], store, events, segments, scores,
                          hop_seconds, last=k == len(chosen) - 1)
             for k, (query_id, role) in enumerate(chosen)]
    handles = example_legend(model_name, scores)
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.subplots_adjust(top=1 - 0.75 / fig.get_figheight(), bottom=0.5 / fig.get_figheight(), left=0.1, right=0.98)
    save(fig, out_png)
    return shown


def read_scores(path) -> dict:
    """The per-bin presence scores of a split's predictions, with the decoding threshold and
    gate that decoded each query (one value for all in files written before each query kind
    had its own)."""
    with np.load(path) as data:
        n = len(data["query_id"])

        def per_query(name: str) -> np.ndarray:
            values = np.asarray(data[name], np.float64)
            return np.broadcast_to(values, (n,)) if values.ndim == 0 else values

        return {"row": {q: i for i, q in enumerate(data["query_id"].tolist())}, "presence": data["presence"],
                "bin_width": float(data["bin_width"]), "threshold": per_query("threshold"),
                "gate": per_query("gate")}


def draw_example(fig, cell, query_id: str, role: str, q, store, events: pd.DataFrame, segments: pd.DataFrame,
                 scores: dict, hop_seconds: float, last: bool) -> dict:
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
    row = scores["row"][query_id]
    curve = scores["presence"][row]
    for on, width in ref_bars:
        ax_score.axvspan(on, on + width, color=REFERENCE_COLOR, alpha=0.2, lw=0)
    levels = drawing.presence(ax_score, curve, scores["bin_width"], scores["threshold"][row], scores["gate"][row],
                              duration,
                              color="black", line_color="0.4", linewidth=1, lw=1.5, baseline=None)
    ticks = [0, *levels, 1]
    ax_score.set(xlim=(0, duration), ylim=(0, 1.05), ylabel="presence")
    ax_score.set_yticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
    ax_score.set_xlabel("time (s)" if last else "")
    return {"query_id": query_id, "role": role, "reference": reference, "predicted": predicted,
            "presence": curve, "levels": levels}


def example_legend(model_name: str, scores: dict) -> list:
    thresholds, gates = np.unique(scores["threshold"]), scores["gate"]
    if len(thresholds) == 1:
        level = f"decoding threshold {thresholds[0]:g}"
    else:  # text and example queries decoded each their own way
        level = "decoding threshold (of the query's kind)"
    handles = [matplotlib.patches.Patch(color=REFERENCE_COLOR, label="reference (queried sound)"),
               matplotlib.patches.Patch(color=PREDICTED_COLOR, label=f"predicted segments ({model_name})"),
               matplotlib.lines.Line2D([], [], color="black", label="presence score per bin"),
               matplotlib.lines.Line2D([], [], color="0.4", ls="--", label=level)]
    gated = gates[gates > scores["threshold"]]
    if len(gated):
        value = f" {gated[0]:g}" if len(np.unique(gated)) == 1 else ""
        handles.append(matplotlib.lines.Line2D([], [], color="0.4", ls=":",
                                               label=f"gate{value}: a segment must reach it somewhere"))
    return handles
