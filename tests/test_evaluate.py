"""Metrics on hand-made cases equal sed_eval's and sed_scores_eval's own results; tables,
breakdowns and the paired comparison behave as documented."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import sed_eval
    from sed_scores_eval import collar_based, intersection_based
    from sed_scores_eval.base_modules.scores import create_score_dataframe

from arseg.eval import compare, psds
from arseg.eval.evaluate import evaluate_model
from arseg.eval.scoring import EvalConfig, Scores, f1_from_counts, merge_spans, reference_events
from arseg.eval.sed_metrics import Buckets, bucket_labels, bucket_of, evaluate, per_query_counts, sed_eval_scores
from arseg.report import tables

CFG = EvalConfig()
DURATION = 5.0

# Five query-files: q1 hit; q2 one hit, one miss, one false positive; q3 negative with a
# false alarm; q4 negative, silent; q5 positive, nothing predicted.
REFERENCE = {"q1": [(1.0, 3.0)], "q2": [(0.5, 1.5), (4.0, 5.0)], "q3": [], "q4": [], "q5": [(2.0, 4.0)]}
ESTIMATED = {"q1": [(1.1, 2.9)], "q2": [(0.5, 1.5), (2.0, 3.0)], "q3": [(1.0, 2.0)]}


def sed_eval_directly(reference, estimated, cfg=CFG, duration=DURATION):
    """sed_eval used as its documentation shows, file by file, on the same case."""
    event = sed_eval.sound_event.EventBasedMetrics(event_label_list=["target"], t_collar=cfg.t_collar,
                                                   percentage_of_length=cfg.percentage_of_length,
                                                   empty_system_output_handling="zero_score")
    segment = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=["target"], time_resolution=cfg.segment_seconds)
    for name, ref in reference.items():
        ref_list = [{"filename": name, "event_label": "target", "onset": a, "offset": b} for a, b in ref]
        est_list = [{"filename": name, "event_label": "target", "onset": a, "offset": b}
                    for a, b in estimated.get(name, [])]
        event.evaluate(ref_list, est_list)
        segment.evaluate(ref_list, est_list, evaluated_length_seconds=duration)
    return event.results_overall_metrics(), segment.results_overall_metrics()


def test_sed_eval_scores_equal_sed_eval_and_hand_counts():
    ours = sed_eval_scores(REFERENCE, ESTIMATED, DURATION, CFG)
    event, segment = sed_eval_directly(REFERENCE, ESTIMATED)
    # By hand: TP = 2 (q1 within the collars, q2's first event), Nref = 4, Nsys = 4.
    assert ours["event_f1"] == pytest.approx(2 * 2 / (4 + 4))
    assert ours["event_f1"] == pytest.approx(event["f_measure"]["f_measure"])
    assert ours["event_precision"] == pytest.approx(event["f_measure"]["precision"])
    assert ours["event_recall"] == pytest.approx(event["f_measure"]["recall"])
    assert ours["event_error_rate"] == pytest.approx(event["error_rate"]["error_rate"])
    assert ours["segment_f1"] == pytest.approx(segment["f_measure"]["f_measure"])
    assert ours["segment_error_rate"] == pytest.approx(segment["error_rate"]["error_rate"])
    assert ours["n_queries"] == 5 and ours["n_reference_events"] == 4


def test_per_query_counts_sum_to_sed_eval_f1_on_any_subset():
    counts = per_query_counts(REFERENCE, ESTIMATED, DURATION, CFG).set_index("query_id")
    assert counts.loc["q2", ["event_ntp", "event_nref", "event_nsys"]].tolist() == [1, 2, 2]
    assert counts.loc["q3", ["event_ntp", "event_nref", "event_nsys"]].tolist() == [0, 0, 1]
    for subset in (["q1", "q2", "q3", "q4", "q5"], ["q2", "q3"], ["q1", "q5"]):
        c = counts.loc[subset].sum()
        for prefix in ("event", "segment"):
            expected = sed_eval_scores({q: REFERENCE[q] for q in subset}, ESTIMATED, DURATION, CFG)[f"{prefix}_f1"]
            assert f1_from_counts(c[f"{prefix}_ntp"], c[f"{prefix}_nref"], c[f"{prefix}_nsys"]) == \
                pytest.approx(expected, abs=1e-15)


def test_merge_spans_joins_overlapping_and_touching_events():
    assert merge_spans([(3.0, 4.0), (0.0, 1.0), (0.5, 2.0), (2.0, 2.5), (5.0, 6.0)]) == [(0.0, 2.5), (3.0, 4.0),
                                                                                           (5.0, 6.0)]


def test_reference_of_a_query_is_its_category_in_its_mixture_and_empty_for_negatives():
    events = pd.DataFrame({"filename": ["m1", "m1", "m1", "m2"], "onset": [0.0, 1.0, 2.0, 0.0],
                           "offset": [1.5, 3.0, 4.0, 1.0], "event_label": ["dog", "dog", "car", "dog"]})
    queries = pd.DataFrame({"query_id": ["a", "b", "c"], "filename": ["m1", "m1", "m2"],
                            "target_label": ["dog", "bell", "car"], "positive": [1, 0, 0]})
    assert reference_events(queries, events) == {"a": [(0.0, 3.0)], "b": [], "c": []}


# ------------------------------------------------------------------ sed_scores_eval

BIN = 0.5
N_BINS = 10
SCORES = {  # presence per bin of 0.5 s over 5 s
    "q1": [0.1, 0.2, 0.8, 0.9, 0.9, 0.7, 0.2, 0.1, 0.1, 0.1],
    "q2": [0.3, 0.9, 0.8, 0.2, 0.6, 0.5, 0.1, 0.1, 0.4, 0.7],
    "q3": [0.1, 0.1, 0.6, 0.85, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1],
    "q4": [0.05] * 10,
    "q5": [0.2, 0.2, 0.3, 0.4, 0.6, 0.65, 0.5, 0.3, 0.2, 0.1],
}
CATEGORY = {"q1": "dog", "q2": "car", "q3": "dog", "q4": "car", "q5": "dog"}


def native_inputs(ids=None):
    """The hand-made case in sed_scores_eval's own input format."""
    ids = list(ids or SCORES)
    timestamps = np.arange(N_BINS + 1) * BIN
    scores = {q: create_score_dataframe(np.asarray(SCORES[q])[:, None], timestamps, ["target"]) for q in ids}
    gt = {q: [(a, b, "target") for a, b in REFERENCE[q]] for q in ids}
    return scores, gt, {q: DURATION for q in ids}


def our_inputs(ids=None):
    ids = list(ids or SCORES)
    scores = psds.score_frames(ids, np.array([SCORES[q] for q in ids]), BIN, DURATION)
    return scores, psds.ground_truth(REFERENCE, ids)


def test_psds_tag_equals_sed_scores_eval():
    setting = psds.SETTINGS[0]
    assert (setting.name, setting.dtc, setting.gtc, setting.alpha_st) == ("psds_tag", 0.5, 0.5, 0.0)
    scores, gt = our_inputs()
    ours, curve, _ = psds.psds(scores, gt, DURATION, setting, CATEGORY)
    native = intersection_based.psds(*native_inputs(), dtc_threshold=0.5, gtc_threshold=0.5, alpha_ct=0.0,
                                     alpha_st=0.0, max_efpr=100.0)
    assert 0 < ours < 1
    assert ours == pytest.approx(native[0])
    np.testing.assert_allclose(curve[0], native[2][0])
    # Negatives count: without the negative query-files PSDS differs (their false positives leave the eFPR axis).
    positives = ["q1", "q2", "q5"]
    without = intersection_based.psds(*native_inputs(positives), dtc_threshold=0.5, gtc_threshold=0.5,
                                      alpha_ct=0.0, alpha_st=0.0, max_efpr=100.0)[0]
    assert without != pytest.approx(ours)


def test_psds_of_a_subset_from_shared_deltas_equals_sed_scores_eval_from_scratch():
    scores, gt = our_inputs()
    deltas = psds.criteria_deltas(scores, gt, CFG)
    subset = ["q2", "q3", "q4"]
    ours, _, _ = psds.psds(scores, {q: gt[q] for q in subset}, DURATION, psds.SETTINGS[0], CATEGORY, deltas)
    native = intersection_based.psds(*native_inputs(subset), dtc_threshold=0.5, gtc_threshold=0.5, alpha_ct=0.0,
                                     alpha_st=0.0, max_efpr=100.0)[0]
    assert ours == pytest.approx(native)


def test_dcase_psds_combines_per_category_rocs_of_sed_scores_eval():
    setting = psds.SETTINGS[1]
    assert (setting.name, setting.dtc, setting.gtc, setting.alpha_st) == ("psds1", 0.7, 0.7, 1.0)
    scores, gt = our_inputs()
    ours, curve, per_category = psds.psds(scores, gt, DURATION, setting, CATEGORY)
    rocs = {}
    for category in ("car", "dog"):
        ids = [q for q in SCORES if CATEGORY[q] == category]
        value, _, _, single = intersection_based.psds(*native_inputs(ids), dtc_threshold=0.7, gtc_threshold=0.7,
                                                      alpha_ct=0.0, alpha_st=0.0, max_efpr=100.0)
        assert per_category[category] == pytest.approx(value)
        rocs[category] = single["target"]
    etpr, efpr = intersection_based.multi_class_psd_roc_from_single_class_psd_rocs(rocs, alpha_st=1.0, max_efpr=100.0)
    assert ours == pytest.approx(intersection_based.psds_from_psd_roc(etpr, efpr, 100.0))
    # alpha_st = 1 penalises the spread between categories: never above the plain mean.
    assert ours <= np.mean(list(per_category.values())) + 1e-9


def test_f1_threshold_comes_from_validation_and_equals_sed_scores_eval():
    val_ids, test_ids = ["q1", "q2", "q4"], ["q3", "q5", "q2", "q4"]
    val_scores, val_gt, _ = native_inputs(val_ids)
    test_scores, test_gt, _ = native_inputs(test_ids)
    thresholds = psds.choose_thresholds(val_scores, val_gt, CFG)
    native_val = collar_based.best_fscore(val_scores, val_gt, onset_collar=0.2, offset_collar=0.2,
                                          offset_collar_rate=0.2)
    assert thresholds["collar"] == pytest.approx(native_val[3]["target"])
    ours = psds.fscores_at(test_scores, test_gt, thresholds, CFG)
    native_test = collar_based.fscore(test_scores, test_gt, native_val[3]["target"], onset_collar=0.2,
                                      offset_collar=0.2, offset_collar_rate=0.2)
    assert ours["collar_f1"] == pytest.approx(native_test[0]["target"])
    native_inter = intersection_based.fscore(
        test_scores, test_gt, intersection_based.best_fscore(val_scores, val_gt, dtc_threshold=0.5,
                                                             gtc_threshold=0.5)[3]["target"],
        dtc_threshold=0.5, gtc_threshold=0.5)
    assert ours["intersection_f1"] == pytest.approx(native_inter[0]["target"])
    # the same scores through the shared deltas
    deltas = psds.criteria_deltas(test_scores, test_gt, CFG)
    assert psds.fscores_at(test_scores, test_gt, thresholds, CFG, deltas) == pytest.approx(ours)


def test_no_positive_gives_none_instead_of_sed_scores_eval_assertion():
    scores, gt = our_inputs(["q3", "q4"])
    assert psds.psds(scores, gt, DURATION, psds.SETTINGS[0], CATEGORY) == (None, None, {})
    assert psds.fscores_at(scores, gt, {"collar": 0.5, "intersection": 0.5}, CFG)["collar_f1"] is None


def test_score_frames_cut_the_last_bin_at_the_end_of_the_mixture():
    frames = psds.score_frames(["a"], np.ones((1, 13)), 0.32, 4.0)["a"]
    assert frames["offset"].iloc[-1] == pytest.approx(4.0) and len(frames) == 13


# ------------------------------------------------------------------ the evaluate step

def small_split(rng, n_mixtures=6, prefix="m"):
    events, queries = [], []
    for m in range(n_mixtures):
        name = f"{prefix}{m}.wav"
        cats = ["dog", "car"] if m % 2 else ["dog"]
        for j, cat in enumerate(cats):
            on = float(rng.uniform(0, 2))
            events.append([name, on, on + 0.5 + 1.2 * j + m * 0.3, cat, f"c{m}{j}", "a sound", 2.0 + 4 * m])
        for k, (cat, pos) in enumerate([(c, 1) for c in cats] + [("bell", 0)]):
            queries.append([f"{prefix}{m}_q{k}", name, cat, "label" if k % 2 == 0 else "description", cat, pos])
    events = pd.DataFrame(events, columns=["filename", "onset", "offset", "event_label", "clip_id", "description",
                                           "snr_db"])
    queries = pd.DataFrame(queries, columns=["query_id", "filename", "text", "kind", "target_label", "positive"])
    return events, queries


def fake_scores(queries, events, rng, n_bins=16, bin_width=0.32):
    ref = reference_events(queries, events)
    presence = []
    for q in queries["query_id"]:
        centres = (np.arange(n_bins) + 0.5) * bin_width
        inside = np.array([any(a <= t < b for a, b in ref[q]) for t in centres], dtype=float)
        presence.append(np.clip(0.7 * inside + rng.uniform(0, 0.4, n_bins), 0, 1))
    n = len(presence)
    return Scores(queries["query_id"].tolist(), np.array(presence), bin_width, np.full(n, 0.5), np.zeros(n))


def test_evaluate_model_on_a_small_split():
    rng = np.random.default_rng(0)
    events, queries = small_split(rng)
    val_events, val_queries = small_split(rng, prefix="v")
    predictions = pd.DataFrame([[q, a + 0.05, b] for q, spans in reference_events(queries, events).items()
                                for a, b in spans][::2] + [["m0_q1", 1.0, 2.0]], columns=["query_id", "onset", "offset"])
    metrics, counts, roc = evaluate_model(queries, events, predictions, fake_scores(queries, events, rng),
                                          val_queries, val_events, fake_scores(val_queries, val_events, rng),
                                          duration=5.0, buckets=Buckets(snr_edges_db=(10.0,),
                                                                        duration_edges_seconds=(1.0, 2.0)))
    assert metrics["overall"]["n_queries"] == len(queries) == len(counts)
    for key in ("psds_tag", "psds1", "psds2", "collar_f1", "intersection_f1"):
        assert metrics["overall"][key] is not None and 0 <= metrics["overall"][key] <= 1, key
    assert set(metrics["by_category"]) == {"dog", "car", "bell"}
    assert metrics["by_category"]["bell"]["psds_tag"] is None  # negatives only: nothing to detect
    assert [b["bucket"] for b in metrics["by_snr"]] == ["<10 dB", "≥10 dB"]
    assert sum(b["n_queries"] for b in metrics["by_snr"]) == int(queries["positive"].sum())
    assert sum(b["n_queries"] for b in metrics["by_duration"]) == int(queries["positive"].sum())
    assert metrics["negatives"]["n_negative_queries"] == 6 and metrics["negatives"]["false_alarm_rate"] == \
        pytest.approx(1 / 6)
    assert set(roc["setting"]) == {"psds_tag", "psds1", "psds2"}
    assert metrics["settings"]["psds"]["psds1"]["dtc"] == 0.7
    # the subset numbers are sed_eval's on that subset
    dogs = queries[queries["target_label"] == "dog"]
    assert metrics["by_category"]["dog"]["event_f1"] == pytest.approx(
        evaluate(dogs, events, predictions, 5.0)["overall"]["event_f1"])


def test_buckets():
    assert bucket_labels([5, 10], "dB") == ["<5 dB", "5–10 dB", "≥10 dB"]
    assert bucket_of([4.9, 5.0, 9.99, 10.0, 30.0], [5, 10]).tolist() == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="increase"):
        Buckets(snr_edges_db=(10.0, 5.0))


# ------------------------------------------------------------------ comparison and tables

def per_query_table(backbone, seed, tp_rate, rng, n_mixtures=40):
    rows = []
    for m in range(n_mixtures):
        for k in range(3):
            nref = 1
            ntp = int(rng.uniform() < tp_rate)
            rows.append([f"m{m}_q{k}", f"m{m}.wav", ntp, nref, 1, ntp * 4, 4, 4])
    frame = pd.DataFrame(rows, columns=["query_id", "filename", "event_ntp", "event_nref", "event_nsys",
                                        "segment_ntp", "segment_nref", "segment_nsys"])
    return frame.assign(backbone=backbone, seed=seed)


def test_paired_comparison_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(1)
    table = pd.concat([per_query_table("good", s, 0.8, rng) for s in (0, 1)]
                      + [per_query_table("bad", s, 0.3, rng) for s in (0, 1)])
    result = compare.compare_backbones(table, ["bad", "good"], n_boot=500).set_index("metric")
    event = result.loc["event_f1"]
    assert event["delta"] == pytest.approx(event["f1_b"] - event["f1_a"]) and event["delta"] > 0.3
    assert event["ci_low"] > 0 and event["wilcoxon_p"] < 0.01 and event["n_mixtures"] == 40
    same = pd.concat([table[table["backbone"] == "good"], table[table["backbone"] == "good"].assign(backbone="copy")])
    null = compare.compare_backbones(same, ["good", "copy"], n_boot=200).set_index("metric").loc["event_f1"]
    assert null["delta"] == 0 and null["ci_low"] == 0 == null["ci_high"] and null["wilcoxon_p"] == 1.0


def metrics_file(tmp_path, backbone, seed, event_f1, fa_rate):
    import json
    entry = {"event_f1": event_f1, "event_error_rate": 1 - event_f1, "segment_f1": event_f1 + 0.1,
             "segment_error_rate": 0.5, "psds_tag": event_f1 / 2, "psds1": 0.1, "psds2": 0.2, "collar_f1": 0.3,
             "intersection_f1": None, "n_queries": 10, "n_reference_events": 5}
    metrics = {"overall": entry, "negatives": {"false_alarm_rate": fa_rate, "false_alarm_seconds_per_hour": 12.345},
               "by_category": {"dog": entry, "car": {**entry, "event_f1": 1 - event_f1}},
               "by_kind": {"label": entry}, "negatives_by_kind": {"label": {"false_alarm_rate": fa_rate}},
               "by_snr": [{"bucket": "<5 dB", **entry}],
               "by_duration": [{"bucket": "<1 s", **entry}, {"bucket": "≥4 s", **{k: None for k in entry},
                                                             "n_queries": 0, "n_reference_events": 0}]}
    path = tmp_path / backbone / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    return path


def test_tables_mark_the_best_and_show_the_tsv_numbers(tmp_path):
    paths = [metrics_file(tmp_path, "yoho", 0, 0.4, 0.2), metrics_file(tmp_path, "yoho", 1, 0.6, 0.1),
             metrics_file(tmp_path, "crnn", 0, 0.3, 0.05)]
    main = tables.results_table(paths)
    assert main["backbone"].tolist() == ["yoho", "crnn"] and main["seeds"].tolist() == [2, 1]
    assert main.loc[0, "event_f1"] == pytest.approx(0.5) and main.loc[0, "event_f1_std"] == pytest.approx(math.sqrt(0.02))
    display = tables.main_display(main)
    cells = dict(zip(display.headers, display.rows[0]))
    assert cells["Event F1"] == ("0.500 ± 0.141", True)        # best event F1: yoho
    assert dict(zip(display.headers, display.rows[1]))["False-alarm rate"] == ("0.050", True)  # lowest: crnn
    assert cells["Inters. F1 (val thr.)"] == ("–", False)
    assert cells["False alarms (s/h)"][0] == "12.3 ± 0.0"
    latex = tables.to_latex(display)
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\textbf{0.500 $\pm$ 0.141}" in latex
    assert "**0.500 ± 0.141**" in tables.to_markdown(display)
    html = tables.to_html(display)
    assert 'id="results-table"' in html and "<strong>0.500 ± 0.141</strong>" in html
    assert "**0.500 ± 0.141**" in tables.to_rst(display)
    per_category = tables.category_display(tables.category_table(paths))
    assert per_category.headers[:3] == ["Category", "Queries", "Event F1 (yoho)"]
    car = per_category.rows[0]
    assert car[0] == ("car", False) and car[2] == ("0.500 ± 0.141", False) and car[3] == ("0.700", True)
    conditions = tables.condition_display(tables.condition_table(paths))
    assert [r[1][0] for r in conditions.rows] == ["label", "<5 dB", "<1 s"]  # no row for the empty ≥4 s
    empty = tables.comparison_display(pd.DataFrame(columns=compare.COLUMNS))
    assert "nothing to compare" in empty.rows[0][0][0]


def test_a_group_of_no_queries_has_no_scores():
    """A breakdown group nothing falls into (no clip of 4 s or more, say) reports no value,
    not sed_eval's error rate 0 and precision 0 for nothing scored."""
    scores = sed_eval_scores({}, {}, 8.0, EvalConfig())
    assert scores["n_queries"] == 0 and scores["n_reference_events"] == 0
    assert all(value is None for key, value in scores.items() if not key.startswith("n_"))
    some = sed_eval_scores({"q": [(1.0, 2.0)]}, {"q": [(1.0, 2.0)]}, 8.0, EvalConfig())
    assert some["event_f1"] == 1.0 and some["event_error_rate"] == 0.0
