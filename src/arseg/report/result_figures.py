"""Figures of the results, from the metrics files (same style as `figures.py`): backbones
compared over seeds, per-category heatmap, F1 by SNR and by event duration, PSD-ROC curves."""
from __future__ import annotations


import numpy as np
import pandas as pd

from arseg.report.figures import plt, save, sns  # noqa: F401  (figures sets the style and the Agg backend)
from arseg.report.tables import COLUMNS, condition_rows, per_category_frame, per_seed_frame, read_metrics
from arseg.results_layout import seed_file

OVERVIEW = ["event_f1", "segment_f1", "psds_tag", "psds1", "collar_f1", "false_alarm_rate"]


def backbone_palette(backbones) -> dict:
    colors = sns.color_palette("colorblind", max(len(backbones), 1))
    return {b: colors[i] for i, b in enumerate(backbones)}


def backbones_figure(metric_paths, out_png) -> None:
    """Bars: mean over seeds; whiskers: standard deviation; dots: the seeds."""
    frame = per_seed_frame(metric_paths)
    backbones = list(dict.fromkeys(frame["backbone"]))
    palette = backbone_palette(backbones)
    fig, axes = plt.subplots(2, 3, figsize=(10, 6), sharex=True)
    for ax, key in zip(axes.flat, OVERVIEW):
        column = COLUMNS[key]
        sns.barplot(frame, x="backbone", y=key, hue="backbone", palette=palette, order=backbones, errorbar="sd",
                    capsize=0.15, err_kws={"linewidth": 1.2}, alpha=0.85, legend=False, ax=ax)
        sns.stripplot(frame, x="backbone", y=key, order=backbones, color="black", size=4, jitter=0.12, ax=ax)
        grouped = frame.groupby("backbone")[key]
        means, sds, tops = grouped.mean(), grouped.std(ddof=1).fillna(0.0), grouped.max()
        for i, b in enumerate(backbones):
            if np.isfinite(means.get(b, np.nan)):  # the mean, above the whisker and the seeds
                top = max(means[b] + sds[b], tops[b])
                ax.annotate(f"{means[b]:.3f}", (i, top), xytext=(0, 4), textcoords="offset points",
                            ha="center", va="bottom", fontsize=8)
        arrow = "↑" if column.higher_is_better else "↓"
        ax.set(title=f"{column.header} {arrow}", xlabel="", ylabel="")
        top = np.nanmax(frame[key].to_numpy()) if frame[key].notna().any() else 1.0
        ax.set_ylim(0, max(1.0, top * 1.15) if key != "false_alarm_seconds_per_hour" else top * 1.2)
        ax.tick_params(axis="x", rotation=20)
    seeds = frame.groupby("backbone")["seed"].nunique()
    fig.suptitle("Backbones on the test split (bars: mean over seeds, whiskers: ± SD, dots: seeds; "
                 f"seeds per backbone: {', '.join(f'{b} {seeds[b]}' for b in backbones)})", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)


def categories_figure(metric_paths, out_png) -> None:
    """Heatmaps category x backbone of event F1 and PSDS (TAG), mean over seeds, side by side:
    one row per category, so that many categories grow the figure downwards, where the
    report's viewer scrolls, and not sideways, where it shrinks the figure to fit."""
    frame = per_category_frame(metric_paths)
    backbones = list(dict.fromkeys(frame["backbone"]))
    categories = sorted(frame["category"].unique())
    width = 2.2 + 0.9 * len(backbones)
    fig, axes = plt.subplots(1, 2, figsize=(2 * width, 1.4 + 0.3 * len(categories)))
    for ax, key, title in zip(axes, ("event_f1", "psds_tag"), ("Event F1", "PSDS (TAG)")):
        grid = frame.pivot_table(index="category", columns="backbone", values=key, aggfunc="mean")
        grid = grid.reindex(index=categories, columns=backbones)
        sns.heatmap(grid, ax=ax, vmin=0, vmax=1, cmap="viridis", annot=True, fmt=".2f", annot_kws={"fontsize": 8},
                    linewidths=0.5, linecolor="white", cbar_kws={"label": title, "shrink": 0.6})
        ax.set(title=title, xlabel="", ylabel="")
        ax.tick_params(axis="y", rotation=0, labelsize=8)
        ax.tick_params(axis="x", rotation=0, labelsize=9, labeltop=True, labelbottom=False, top=False, bottom=False)
    fig.suptitle("Per queried category (mean over seeds)", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)


def conditions_figure(metric_paths, out_png) -> None:
    """Event and segment F1 by target SNR and by target event duration, per backbone."""
    rows = [{"backbone": backbone, "seed": seed, "order": i, **row}
            for backbone, seed, metrics in read_metrics(metric_paths)
            for i, row in enumerate(condition_rows(metrics)) if row["group"] != "query kind"]
    frame = pd.DataFrame(rows, columns=["backbone", "seed", "order", "group", "condition", "n_queries",
                                        "event_f1", "segment_f1"]).astype({"event_f1": float, "segment_f1": float})
    backbones = list(dict.fromkeys(frame["backbone"]))
    palette = backbone_palette(backbones)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharey="row")
    for col, (group, xlabel) in enumerate((("target SNR", "SNR of the target event"),
                                           ("target duration", "duration of the target event"))):
        sub = frame[frame["group"] == group].sort_values("order", kind="stable")
        order = list(dict.fromkeys(sub["condition"]))
        counts = sub[sub["backbone"] == backbones[0]].groupby("condition", sort=False)["n_queries"].first()
        labels = [f"{c}\n(n={int(counts.get(c, 0))})" for c in order]
        if not order:  # no positive test query
            for row in range(2):
                axes[row, col].text(0.5, 0.5, "no positive test queries", ha="center", va="center",
                                    transform=axes[row, col].transAxes)
            continue
        for row, (key, title) in enumerate((("event_f1", "Event F1"), ("segment_f1", "Segment F1"))):
            ax = axes[row, col]
            sns.pointplot(sub, x="condition", y=key, hue="backbone", order=order, hue_order=backbones,
                          palette=palette, errorbar="sd", dodge=0.25 if len(backbones) > 1 else False,
                          markers="o", capsize=0.08, ax=ax, legend=(row == 0 and col == 0))
            ax.set(title=f"{title} by {xlabel}", xlabel="", ylabel=title, ylim=(0, 1.02))
            ax.set_xticks(range(len(order)), labels if row == 1 else [""] * len(order))
    if axes[0, 0].get_legend() is not None:
        axes[0, 0].legend(title="backbone", fontsize=8, title_fontsize=8, loc="lower right")
    fig.suptitle("Positive test queries grouped by their target event (points: mean over seeds, whiskers: ± SD; "
                 "n: queries per group)", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)


def psd_roc_figure(roc_paths, metric_paths, out_png) -> None:
    """PSD-ROC curves of every backbone and seed, one panel per PSDS setting (as recorded in the metrics)."""
    metrics = {(b, s): m for b, s, m in read_metrics(metric_paths)}
    backbones = list(dict.fromkeys(b for b, _ in metrics))
    palette = backbone_palette(backbones)
    settings = next(iter(metrics.values()))["settings"]["psds"] if metrics else {}
    order = ["psds_tag", "psds1", "psds2"]  # TAG first, then DCASE
    settings = dict(sorted(settings.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    fig, axes = plt.subplots(1, max(len(settings), 1), figsize=(4.2 * max(len(settings), 1), 4.2), sharey=True,
                             squeeze=False)
    for ax, (name, setting) in zip(axes[0], settings.items()):
        seen = set()
        for path in roc_paths:
            backbone, seed = seed_file(path, ".psd_roc.tsv")
            curve = pd.read_csv(path, sep="\t")
            curve = curve[curve["setting"] == name]
            if curve.empty:
                continue
            values = [m["overall"].get(name) for (b, _), m in metrics.items() if b == backbone]
            values = [v for v in values if v is not None]
            label = None
            if backbone not in seen:
                label = f"{backbone} ({np.mean(values):.3f})" if values else backbone
                seen.add(backbone)
            first_seed = min(s for b, s in metrics if b == backbone)
            ax.step(curve["efpr"], curve["etpr"], where="post", color=palette[backbone], lw=1.6,
                    alpha=1.0 if seed == first_seed else 0.45, label=label)
        ax.set(title=setting.get("label") or name, xlabel="eFPR (false positives per hour)",
               xlim=(0, setting["max_efpr"]), ylim=(0, 1.02))
        if seen:
            ax.legend(title="backbone (PSDS, mean)", fontsize=8, title_fontsize=8, loc="upper left")
    axes[0, 0].set_ylabel("eTPR")
    fig.suptitle("PSD-ROC on the test split (one line per seed; faint: further seeds)", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)
