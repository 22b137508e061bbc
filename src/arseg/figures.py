"""The paper's figures, one consistent style (matplotlib + seaborn), written atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import atomic  # noqa: E402
from .corpus.table import read_clips  # noqa: E402
from .mixtures import read_events  # noqa: E402
from .queries import read_queries  # noqa: E402

sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
REFERENCE_COLOR, PREDICTED_COLOR = "#1b9e77", "#d95f02"


def save(fig, path) -> None:
    with atomic.atomic_path(path, suffix=".tmp" + Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
    plt.close(fig)


def dataset_figure(clips_path, events_paths, out_png) -> None:
    clips = read_clips(clips_path)
    events = pd.concat([read_events(p).assign(split=Path(p).parent.name) for p in events_paths])
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    counts = clips.groupby(["category", "split"]).size().unstack(fill_value=0)
    counts[[s for s in ("train", "val", "test") if s in counts]].plot.barh(stacked=True, ax=axes[0, 0])
    axes[0, 0].set(title="Corpus clips per category and split", xlabel="clips", ylabel="")
    sns.histplot(clips, x="duration", hue="split", multiple="stack", bins=20, ax=axes[0, 1])
    axes[0, 1].set(title="Clip durations", xlabel="seconds")
    per_mixture = events.groupby(["split", "filename"]).size().rename("events").reset_index()
    sns.countplot(per_mixture, x="events", hue="split", ax=axes[1, 0])
    axes[1, 0].set(title="Events per mixture", xlabel="foreground events", ylabel="mixtures")
    sns.histplot(events, x="snr_db", hue="split", multiple="stack", bins=20, ax=axes[1, 1])
    axes[1, 1].set(title="Event SNR over the background", xlabel="SNR (dB)")
    fig.tight_layout()
    save(fig, out_png)


def training_figure(history_paths, out_png) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for path in history_paths:
        history = pd.read_csv(path, sep="\t")
        name = f"{Path(path).parent.parent.name} {Path(path).parent.name}"
        line, = ax.plot(history["epoch"], history["train_loss"], label=f"{name} train")
        ax.plot(history["epoch"], history["val_loss"], "--", color=line.get_color(), label=f"{name} val")
        best = history["val_loss"].idxmin()
        ax.plot(history["epoch"][best], history["val_loss"][best], "o", color=line.get_color())
    ax.set(xlabel="epoch", ylabel="loss per query", yscale="log", title="Training curves (dot: selected epoch)")
    ax.legend(fontsize=8, ncol=2)
    save(fig, out_png)


def pick_examples(queries: pd.DataFrame, segments: pd.DataFrame, events: pd.DataFrame, count: int) -> list[str]:
    """Positive queries of different mixtures: the first ones, plus the worst (a failure case)."""
    positives = queries[queries["positive"] == 1].drop_duplicates("filename")
    if positives.empty:
        return []
    spans = events.groupby(["filename", "event_label"])
    found = segments.groupby("query_id")

    def overlap(q) -> float:
        ref = spans.get_group((q.filename, q.target_label))
        ref_time = float((ref["offset"] - ref["onset"]).sum())
        if q.query_id not in found.groups:
            return 0.0
        est = found.get_group(q.query_id)
        hit = sum(max(0.0, min(b, d) - max(a, c)) for a, b in zip(ref["onset"], ref["offset"])
                  for c, d in zip(est["onset"], est["offset"]))
        return hit / max(ref_time, 1e-9)

    scored = positives.assign(overlap=[overlap(q) for q in positives.itertuples()])
    chosen = list(scored["query_id"][: max(count - 1, 1)])
    worst = scored.sort_values("overlap", kind="stable")["query_id"].iloc[0]
    if worst not in chosen:
        chosen.append(worst)
    return chosen


def examples_figure(features, index, events, queries, segments, scores, count: int, hop_seconds: float,
                    model_name: str, out_png) -> None:
    from .features import FeatureStore

    store = FeatureStore(features, index)
    events, queries = read_events(events), read_queries(queries)
    segments = pd.read_csv(segments, sep="\t", dtype={"query_id": str})
    with np.load(scores) as data:
        row = {q: i for i, q in enumerate(data["query_id"].tolist())}
        presence, bin_width = data["presence"], float(data["bin_width"])
    chosen = pick_examples(queries[queries["query_id"].isin(row)], segments, events, count)
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10, 2.6 * len(chosen)), squeeze=False)
    for ax, query_id in zip(axes[:, 0], chosen):
        q = queries.set_index("query_id").loc[query_id]
        spec = store[q["filename"]]
        duration = len(spec) * hop_seconds
        ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma", extent=[0, duration, 0, spec.shape[1]])
        height = spec.shape[1]
        ref = events[(events["filename"] == q["filename"]) & (events["event_label"] == q["target_label"])]
        for on, off in zip(ref["onset"], ref["offset"]):
            ax.axvspan(on, off, ymin=0.92, ymax=1.0, color=REFERENCE_COLOR)
        for on, off in zip(*[segments.loc[segments["query_id"] == query_id, c] for c in ("onset", "offset")]):
            ax.axvspan(on, off, ymin=0.84, ymax=0.92, color=PREDICTED_COLOR)
        curve = presence[row[query_id]]
        times = (np.arange(len(curve)) + 0.5) * bin_width
        ax.plot(times, curve * height * 0.8, color="white", lw=1.8)
        ax.plot(times, np.full_like(times, 0.5 * height * 0.8), color="white", lw=0.8, ls=":")
        others = ", ".join(sorted(set(events.loc[events["filename"] == q["filename"], "event_label"]) - {q["target_label"]}))
        ax.set_title(f"{q['filename']}: query ({q['kind']}) \"{q['text']}\"   [also present: {others or 'nothing'}]",
                     fontsize=9, loc="left")
        ax.set_ylabel("mel band")
        ax.grid(False)
    axes[-1, 0].set_xlabel("time (s)")
    handles = [matplotlib.patches.Patch(color=REFERENCE_COLOR, label="reference"),
               matplotlib.patches.Patch(color=PREDICTED_COLOR, label=f"predicted ({model_name})"),
               matplotlib.lines.Line2D([], [], color="white", label="presence score (dotted: 0.5)")]
    fig.legend(handles=handles, loc="upper right", ncol=3, fontsize=8, facecolor="#444444", labelcolor="white")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    save(fig, out_png)
