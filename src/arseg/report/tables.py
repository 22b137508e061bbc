"""The paper's tables from the metrics files: main results, per category, by condition, and
the paired comparison of backbones. Each is written as TSV (tidy, full precision, for
machines) and as Markdown, LaTeX (booktabs), HTML and reStructuredText (for people and the
report), with the best value per column in bold. Displayed numbers are the TSV's numbers
rounded (3 decimals; 1 for seconds per hour); mean ± standard deviation over seeds where
there is more than one seed.
"""
from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from arseg import provenance
from arseg.io import atomic
from arseg.results_layout import seed_file


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    header: str
    higher_is_better: bool
    read: Callable[[dict], float | None]
    digits: int = 3


def _get(*path):
    def read(metrics):
        node = metrics
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node
    return read


MAIN_COLUMNS = [
    Column("event_f1", "Event F1", True, _get("overall", "event_f1")),
    Column("event_error_rate", "Event ER", False, _get("overall", "event_error_rate")),
    Column("segment_f1", "Segment F1", True, _get("overall", "segment_f1")),
    Column("segment_error_rate", "Segment ER", False, _get("overall", "segment_error_rate")),
    Column("psds_tag", "PSDS (TAG)", True, _get("overall", "psds_tag")),
    Column("psds1", "PSDS1", True, _get("overall", "psds1")),
    Column("psds2", "PSDS2", True, _get("overall", "psds2")),
    Column("collar_f1", "Collar F1 (val thr.)", True, _get("overall", "collar_f1")),
    Column("intersection_f1", "Inters. F1 (val thr.)", True, _get("overall", "intersection_f1")),
    Column("false_alarm_rate", "False-alarm rate", False, _get("negatives", "false_alarm_rate")),
    Column("false_alarm_seconds_per_hour", "False alarms (s/h)", False,
           _get("negatives", "false_alarm_seconds_per_hour"), digits=1),
]
COLUMNS = {c.key: c for c in MAIN_COLUMNS}
CATEGORY_METRICS = [
    Column("event_f1", "Event F1", True, _get("event_f1")),
    Column("psds_tag", "PSDS (TAG)", True, _get("psds_tag")),
    Column("segment_f1", "Segment F1", True, _get("segment_f1")),
]
CONDITION_METRICS = [
    Column("event_f1", "Event F1", True, _get("event_f1")),
    Column("segment_f1", "Segment F1", True, _get("segment_f1")),
    Column("false_alarm_rate", "False-alarm rate", False, _get("false_alarm_rate")),
]


# --------------------------------------------------------------------------- reading

def read_metrics(paths) -> list[tuple[str, int, dict]]:
    """(backbone, seed, metrics) of each results/metrics/<backbone>/seed<k>.json."""
    return [(*seed_file(p, ".json"), json.loads(Path(p).read_text())) for p in paths]


def _mean_std(frame: pd.DataFrame, keys: list[str], by: list[str]) -> pd.DataFrame:
    """Mean and sample standard deviation (0 for one seed) over seeds, first-seen group order."""
    grouped = frame.groupby(by, sort=False)
    table = grouped[keys].mean()
    spread = grouped[keys].std(ddof=1).fillna(0.0).add_suffix("_std")
    table = table.join(spread)
    table.insert(0, "seeds", grouped["seed"].nunique())
    return table.reset_index()


def per_seed_frame(paths) -> pd.DataFrame:
    """One row per metrics file (a backbone's seed): every main column's value."""
    records = [{"backbone": b, "seed": s, **{c.key: c.read(m) for c in MAIN_COLUMNS}} for b, s, m in read_metrics(paths)]
    return pd.DataFrame(records).astype({c.key: float for c in MAIN_COLUMNS})


def per_category_frame(paths) -> pd.DataFrame:
    """One row per category and metrics file: its query counts and CATEGORY_METRICS."""
    records = []
    for backbone, seed, metrics in read_metrics(paths):
        for category, entry in metrics["by_category"].items():
            records.append({"category": category, "backbone": backbone, "seed": seed,
                            "n_queries": entry["n_queries"], "n_reference_events": entry["n_reference_events"],
                            **{c.key: c.read(entry) for c in CATEGORY_METRICS}})
    return pd.DataFrame(records).astype({c.key: float for c in CATEGORY_METRICS})


def results_table(paths) -> pd.DataFrame:
    """One row per backbone: each main column's mean over seeds, and its spread (`_std`)."""
    return _mean_std(per_seed_frame(paths), list(COLUMNS), ["backbone"])


def category_table(paths) -> pd.DataFrame:
    """Tidy: one row per category and backbone."""
    frame = per_category_frame(paths)
    table = _mean_std(frame, [c.key for c in CATEGORY_METRICS], ["category", "backbone"])
    counts = frame.groupby(["category", "backbone"], sort=False)[["n_queries", "n_reference_events"]].first()
    table = table.merge(counts.reset_index(), on=["category", "backbone"])
    return table.sort_values("category", kind="stable").reset_index(drop=True)


def condition_rows(metrics: dict) -> list[dict]:
    """(group, condition) rows of one metrics file: query kind, target SNR, target duration
    (the SNR and duration groups that no test query falls in left out: they have no scores)."""
    rows = []
    for kind, entry in metrics["by_kind"].items():
        fa = metrics.get("negatives_by_kind", {}).get(kind, {})
        rows.append({"group": "query kind", "condition": kind, **entry,
                     "false_alarm_rate": fa.get("false_alarm_rate")})
    for group, key in (("target SNR", "by_snr"), ("target duration", "by_duration")):
        for entry in (e for e in metrics.get(key, []) if e["n_queries"]):
            rows.append({"group": group, "condition": entry["bucket"], **entry, "false_alarm_rate": None})
    return rows


def condition_table(paths) -> pd.DataFrame:
    """Tidy: one row per (group, condition) and backbone; mean and spread over seeds."""
    records = []
    for backbone, seed, metrics in read_metrics(paths):
        for row in condition_rows(metrics):
            records.append({"group": row["group"], "condition": row["condition"], "backbone": backbone, "seed": seed,
                            "n_queries": row["n_queries"], **{c.key: c.read(row) for c in CONDITION_METRICS}})
    frame = pd.DataFrame(records).astype({c.key: float for c in CONDITION_METRICS})
    table = _mean_std(frame, [c.key for c in CONDITION_METRICS], ["group", "condition", "backbone"])
    counts = frame.groupby(["group", "condition", "backbone"], sort=False)["n_queries"].first()
    return table.merge(counts.reset_index(), on=["group", "condition", "backbone"])


# --------------------------------------------------------------------------- display

@dataclasses.dataclass
class Display:
    """A table for people: header cells, rows of (text, bold) cells, and notes under it."""
    name: str
    title: str
    headers: list[str]
    rows: list[list[tuple[str, bool]]]
    notes: str = ""


def fmt(mean, std=None, seeds: int = 1, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "–"
    text = f"{mean:.{digits}f}"
    if seeds > 1 and std is not None and np.isfinite(std):
        text += f" ± {std:.{digits}f}"
    return text


def _best(values, higher: bool, digits: int = 3) -> set[int]:
    """Indices of the best values as displayed (ties all count); none with fewer than two values."""
    values = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    if len(values) < 2 or not np.isfinite(values).any():
        return set()
    shown = np.round(values, digits)
    target = np.nanmax(shown) if higher else np.nanmin(shown)
    return set(np.flatnonzero(shown == target).tolist())


def best_rows(table: pd.DataFrame) -> dict[str, set[int]]:
    """column -> indices of the best rows (by mean as displayed); only with two or more rows."""
    return {c.key: _best(table[c.key].tolist(), c.higher_is_better, c.digits) for c in MAIN_COLUMNS}


def main_display(table: pd.DataFrame) -> Display:
    best = best_rows(table)
    rows = []
    for i, row in table.iterrows():
        cells = [(str(row["backbone"]), False), (str(int(row["seeds"])), False)]
        for c in MAIN_COLUMNS:
            cells.append((fmt(row[c.key], row[c.key + "_std"], int(row["seeds"]), c.digits), i in best[c.key]))
        rows.append(cells)
    return Display("results", "Main results on the test split", ["Backbone", "Seeds"] + [c.header for c in MAIN_COLUMNS],
                   rows, "Mean (± standard deviation) over seeds; best per column in bold. ER: error rate (lower is "
                         "better); PSDS: polyphonic sound detection score; val thr.: presence threshold chosen on the "
                         "validation split; false alarms: on queries whose sound is absent.")


def _grouped_display(name: str, title: str, table: pd.DataFrame, keys: list[str], key_headers: list[str],
                     metrics: list[Column], count_column: str, count_header: str, notes: str) -> Display:
    backbones = list(dict.fromkeys(table["backbone"]))
    several = len(backbones) > 1
    headers = key_headers + [count_header] + [f"{m.header} ({b})" if several else m.header
                                              for m in metrics for b in backbones]
    rows = []
    for key, group in table.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        by_backbone = group.set_index("backbone")
        cells = [(str(k), False) for k in key] + [(str(int(group[count_column].iloc[0])), False)]
        for m in metrics:
            values = [by_backbone[m.key].get(b) for b in backbones]
            best = _best(values, m.higher_is_better, m.digits)
            for j, b in enumerate(backbones):
                if b not in by_backbone.index:
                    cells.append(("–", False))
                    continue
                r = by_backbone.loc[b]
                cells.append((fmt(r[m.key], r[m.key + "_std"], int(r["seeds"]), m.digits), j in best))
        rows.append(cells)
    return Display(name, title, headers, rows, notes)


def category_display(table: pd.DataFrame) -> Display:
    return _grouped_display(
        "per_category", "Results per queried category (test split)", table, ["category"], ["Category"],
        CATEGORY_METRICS, "n_queries", "Queries",
        "Queries: every query of the category (each kind), positive and negative. Mean (± standard "
        "deviation) over seeds; with several backbones, the best backbone per row and metric in bold.")


def condition_display(table: pd.DataFrame) -> Display:
    return _grouped_display(
        "conditions", "Results by query kind, target SNR and target event duration (test split)", table,
        ["group", "condition"], ["Group", "Condition"], CONDITION_METRICS, "n_queries", "Queries",
        "Query kind: all queries of that kind (false-alarm rate on its negatives). Target SNR and duration: positive "
        "queries grouped by the mean SNR and duration of their target events (false alarms do not apply: –). "
        "With several backbones, the best backbone per row and metric in bold.")


def comparison_display(table: pd.DataFrame) -> Display:
    headers = ["Metric", "A", "B", "F1 (A)", "F1 (B)", "Δ (B − A)", "95 % CI", "Wilcoxon p", "Mixtures"]
    rows = []
    for _, r in table.iterrows():
        significant = r["ci_low"] > 0 or r["ci_high"] < 0
        rows.append([(r["metric"], False), (r["backbone_a"], False), (r["backbone_b"], False),
                     (fmt(r["f1_a"]), False), (fmt(r["f1_b"]), False), (f"{r['delta']:+.3f}", significant),
                     (f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]", False), (f"{r['wilcoxon_p']:.3g}", False),
                     (str(int(r["n_mixtures"])), False)])
    if not rows:
        rows.append([("only one backbone configured: nothing to compare", False)] + [("", False)] * (len(headers) - 1))
    return Display("comparison", "Paired comparison of backbones (test split)", headers, rows,
                   "F1 pooled over each backbone's seeds on the queries both backbones answered. CI: paired bootstrap "
                   "over mixtures (percentile); Wilcoxon: signed-rank test on per-mixture F1 differences. Bold: the "
                   "95 % CI excludes 0.")


# --------------------------------------------------------------------------- provenance

def provenance_table(paths) -> pd.DataFrame:
    """Per model: the code and package versions that trained it and that scored it (from the
    provenance record of each metrics file)."""
    rows = []
    for backbone, seed, metrics in read_metrics(paths):
        scored = metrics.get("provenance") or {}
        trained = scored.get("model") or {}
        row = {"backbone": backbone, "seed": seed, "trained_by": provenance.describe_code(trained.get("code")),
               "scored_by": provenance.describe_code(scored.get("code"))}
        for name in provenance.PACKAGES:
            row[f"{name}_train"] = (trained.get("versions") or {}).get(name, "unknown")
            row[f"{name}_score"] = (scored.get("versions") or {}).get(name, "unknown")
        rows.append(row)
    return pd.DataFrame(rows)


def provenance_display(table: pd.DataFrame) -> Display:
    versions = [f"{name}_{step}" for name in provenance.PACKAGES for step in ("train", "score")]
    rows = [[(str(r["backbone"]), False), (str(r["seed"]), False), (r["trained_by"], False), (r["scored_by"], False),
             *[(str(r[v]), False) for v in versions]] for _, r in table.iterrows()]
    headers = ["Backbone", "Seed", "Trained by", "Scored by",
               *[f"{name} ({'training' if step == 'train' else 'scoring'})" for name in provenance.PACKAGES
                 for step in ("train", "score")]]
    return Display("provenance", "What made each result", headers, rows,
                   "The code (git commit) and package versions that trained each model and scored it, from the "
                   "provenance record in every model file and metrics file; `arseg models` prints the same.")


def config_display(config: dict) -> Display:
    rows = [[(key, False), (json.dumps(value), False)] for key, value in provenance.flatten(config).items()]
    return Display("config", "The run's configuration", ["Key", "Value"], rows,
                   "Every config value that decides a result (config/README.md explains each key); settings that "
                   "change no result (thread counts, network settings, licence acceptance) are left out.")


def write_provenance(metrics_paths, config: dict, tsv, config_json, html_path) -> None:
    """The report's provenance page: per model what made it, then the run's config (also as
    JSON, which `snakemake --configfile` reads as it reads YAML)."""
    table = provenance_table(metrics_paths)
    atomic.write_tsv(tsv, table)
    atomic.write_json(config_json, config)
    atomic.write_text(html_path, to_html(provenance_display(table), config_display(config)))


# --------------------------------------------------------------------------- renderers

def to_markdown(display: Display) -> str:
    def cell(text, bold):
        text = text.replace("|", "\\|")
        return f"**{text}**" if bold and text else text
    lines = ["| " + " | ".join(display.headers) + " |", "|" + "|".join("---" for _ in display.headers) + "|"]
    lines += ["| " + " | ".join(cell(*c) for c in row) + " |" for row in display.rows]
    return "\n".join(lines) + "\n"


LATEX_REPLACEMENTS = [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"),
                      ("{", r"\{"), ("}", r"\}"), ("±", r"$\pm$"), ("≥", r"$\geq$"), ("<", r"$<$"), ("–", "--"),
                      ("−", "$-$"), ("Δ", r"$\Delta$"), ("α", r"$\alpha$")]


def latex_escape(text: str) -> str:
    out = []
    for ch in text:
        for old, new in LATEX_REPLACEMENTS:
            if ch == old:
                ch = new
                break
        out.append(ch)
    return "".join(out)


def to_latex(display: Display) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    def cell(text, bold):
        text = latex_escape(text)
        return rf"\textbf{{{text}}}" if bold and text else text
    keys = _key_columns(display)
    spec = "l" * keys + "r" * (len(display.headers) - keys)
    env = "table*" if len(display.headers) > 8 else "table"  # wide tables span both columns
    lines = [f"% {display.title}; generated by arseg.report.tables (requires \\usepackage{{booktabs}})",
             rf"\begin{{{env}}}[t]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
             rf"\caption{{{latex_escape(display.title)}. {latex_escape(display.notes)}}}",
             rf"\label{{tab:{display.name.replace('_', '-')}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in display.headers) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(*c) for c in row) + r" \\" for row in display.rows]
    lines += [r"\bottomrule", r"\end{tabular}", rf"\end{{{env}}}"]
    return "\n".join(lines) + "\n"


HTML_STYLE = """
body { font-family: "DejaVu Serif", Georgia, serif; margin: 1.2em; color: #111; }
table { border-collapse: collapse; font-size: 14px; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 0.5em; font-size: 15px; }
thead th { border-top: 2px solid #000; border-bottom: 1px solid #000; }
tbody tr:last-child td { border-bottom: 2px solid #000; }
th, td { padding: 4px 10px; text-align: right; white-space: nowrap; }
th { white-space: normal; }
th.key, td.key { text-align: left; }
#config-table td:last-child { text-align: left; white-space: normal; overflow-wrap: anywhere; }
tbody tr:nth-child(even) { background: #f4f4f4; }
p.notes { font-size: 13px; max-width: 62em; color: #333; }
"""


def to_html(display: Display, *more: Display) -> str:
    """One page: the display's table, then each of `more` below it."""
    tables = "\n".join(_html_table(d) for d in (display, *more))
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(display.title)}</title>'
            f"<style>{HTML_STYLE}</style></head><body>\n{tables}</body></html>\n")


def _html_table(display: Display) -> str:
    def row_html(cells, tag):
        parts = []
        for j, (text, bold) in enumerate(cells):
            body = html.escape(text)
            body = f"<strong>{body}</strong>" if bold and text else body
            cls = ' class="key"' if j < _key_columns(display) else ""
            parts.append(f"<{tag}{cls}>{body}</{tag}>")
        return "<tr>" + "".join(parts) + "</tr>"
    head = row_html([(h, False) for h in display.headers], "th")
    body = "\n".join(row_html(r, "td") for r in display.rows)
    return (f'<table id="{display.name}-table"><caption>{html.escape(display.title)}</caption>\n'
            f"<thead>{head}</thead>\n<tbody>\n{body}\n</tbody></table>\n"
            f'<p class="notes">{html.escape(display.notes)}</p>\n')


def _key_columns(display: Display) -> int:
    return {"results": 1, "per_category": 1, "conditions": 2, "comparison": 3, "provenance": 2}.get(display.name, 1)


def to_rst(display: Display) -> str:
    """A list-table (used by the report's front page)."""
    def cell(text, bold):
        text = text.replace("*", "\\*") if not bold else text
        return f"**{text}**" if bold and text else (text or "\\ ")
    lines = [f".. list-table:: {display.title}", "   :header-rows: 1", "   :class: arseg-table", ""]
    for row in [[(h, False) for h in display.headers]] + display.rows:
        for j, c in enumerate(row):
            lines.append(("   * - " if j == 0 else "     - ") + cell(*c))
    return "\n".join(lines) + "\n"


def write_display(display: Display, tidy: pd.DataFrame, tsv, markdown=None, latex=None, html_path=None,
                  rst=None) -> None:
    atomic.write_tsv(tsv, tidy)
    for path, render in ((markdown, to_markdown), (latex, to_latex), (html_path, to_html), (rst, to_rst)):
        if path:
            atomic.write_text(path, render(display))


def write_table(table: pd.DataFrame, tsv, markdown, latex=None, html_path=None, rst=None) -> None:
    """The main results table in every format."""
    write_display(main_display(table), table, tsv, markdown, latex, html_path, rst)
