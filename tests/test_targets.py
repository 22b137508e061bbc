"""YOHO target encoding, decoding and the masked loss."""
import numpy as np
import pytest
import torch

from arseg.model.targets import DecodeConfig, decode, encode
from arseg.train.loop import yoho_loss

BIN = 0.32
N_BINS = 25
FRAME = 0.01


@pytest.mark.parametrize("events", [
    [(0.0, 8.0)],
    [(0.5, 1.23)],
    [(0.05, 0.2)],  # shorter than one bin
    [(1.0, 2.0), (4.37, 6.01)],
    [(0.33, 0.64), (3.3, 3.9), (7.5, 8.0)],
])
def test_encode_decode_round_trip_within_one_frame(events):
    target = encode(events, N_BINS, BIN)
    segments = decode(target, BIN, DecodeConfig(threshold=0.5, merge_gap=0.0, min_duration=0.0), duration=8.0)
    assert len(segments) == len(events)
    for (on, off), (est_on, est_off, score) in zip(events, segments):
        assert abs(est_on - on) <= FRAME
        assert abs(est_off - off) <= FRAME
        assert score == 1.0


def test_decode_uses_bin_start_plus_width_times_end():
    # One bin (the third) with the sound from 25 % to 75 % of it.
    prediction = np.zeros((N_BINS, 3), np.float32)
    prediction[2] = (0.9, 0.25, 0.75)
    [(onset, offset, _)] = decode(prediction, BIN, DecodeConfig(min_duration=0.0))
    assert onset == pytest.approx(2 * BIN + 0.25 * BIN)
    assert offset == pytest.approx(2 * BIN + 0.75 * BIN)  # not onset + width * end


def test_decode_merges_small_gaps_and_drops_short_segments():
    target = encode([(1.0, 2.0), (2.3, 3.0), (6.0, 6.05)], N_BINS, BIN)  # gap 0.3 s, in separate bins
    merged = decode(target, BIN, DecodeConfig(merge_gap=0.3, min_duration=0.1))
    assert [(round(a, 2), round(b, 2)) for a, b, _ in merged] == [(1.0, 3.0)]
    kept = decode(target, BIN, DecodeConfig(merge_gap=0.0, min_duration=0.0))
    assert len(kept) == 3


def test_decode_nothing_below_threshold():
    prediction = np.zeros((N_BINS, 3), np.float32)
    prediction[:, 0] = 0.49
    assert decode(prediction, BIN, DecodeConfig(threshold=0.5)) == []


def test_decode_gate_keeps_only_segments_that_peak_above_it():
    # Two bumps over a 0.3 threshold: a weak one (peak 0.5) and a strong one (peak 0.95).
    prediction = np.zeros((N_BINS, 3), np.float32)
    prediction[:, 1], prediction[:, 2] = 0.0, 1.0
    prediction[2:5, 0] = (0.35, 0.5, 0.4)
    prediction[10:16, 0] = (0.35, 0.6, 0.95, 0.9, 0.5, 0.31)
    both = decode(prediction, BIN, DecodeConfig(threshold=0.3, merge_gap=0.0, min_duration=0.0))
    assert [(round(a / BIN), round(b / BIN)) for a, b, _ in both] == [(2, 5), (10, 16)]
    gated = decode(prediction, BIN, DecodeConfig(threshold=0.3, merge_gap=0.0, min_duration=0.0, gate=0.9))
    assert gated == [both[1]]  # the strong bump keeps its full low-threshold extent
    assert decode(prediction, BIN, DecodeConfig(threshold=0.3, merge_gap=0.0, min_duration=0.0, gate=0.96)) == []


def test_event_f1_equals_sed_eval_scores():
    # scoring re-implements sed_eval's event-based rules for the torch env: the same F1,
    # to the last digit
    from arseg.eval.scoring import EvalConfig, EventCounts, sed_eval_f1
    from arseg.eval.sed_metrics import sed_eval_scores

    rng = np.random.default_rng(3)
    reference = {f"q{i}": ([(o := rng.uniform(0, 6), o + rng.uniform(0.2, 2))] if i % 3 else []) for i in range(120)}
    estimated = {q: [(on + rng.normal(0, 0.2), off + rng.normal(0, 0.3))] for q, spans in reference.items()
                 for on, off in spans if rng.random() < 0.8}
    estimated.update({f"q{i}": [(1.0, 2.0)] for i in range(0, 120, 9)})  # false alarms on negatives
    expected = sed_eval_scores(reference, estimated, 8.0, EvalConfig())["event_f1"]
    assert 0.2 < expected < 0.9
    assert sed_eval_f1(*EventCounts(EvalConfig()).totals(reference, estimated)) == expected


def test_remembered_event_counts_score_each_estimate_as_sed_eval_does():
    # One EventCounts scores several estimates of the same references (as the decoding grid
    # does), reusing the counts of pairs it has seen; each score equals sed_eval's own.
    from arseg.eval.scoring import EvalConfig, EventCounts, sed_eval_f1
    from arseg.eval.sed_metrics import sed_eval_scores

    rng = np.random.default_rng(4)
    reference = {f"q{i}": ([(o := round(rng.uniform(0, 6), 2), o + round(rng.uniform(0.2, 2), 2))] if i % 3 else [])
                 for i in range(90)}
    counts = EventCounts(EvalConfig())
    for jitter in (0.0, 0.1, 0.3, 0.1, 0.0):  # repeated jitters: every pair has been seen
        noise = np.random.default_rng(int(jitter * 10))
        estimated = {q: [(on + round(noise.normal(0, jitter), 2), off)] for q, spans in reference.items()
                     for on, off in spans if noise.random() < 0.8}
        estimated.update({f"q{i}": [(1.0, 2.0)] for i in range(0, 90, 9)})
        expected = sed_eval_scores(reference, estimated, 8.0, EvalConfig())["event_f1"]
        assert sed_eval_f1(*counts.totals(reference, estimated)) == expected
    assert sed_eval_f1(*counts.totals(reference, {})) == 0.0  # no output at all: sed_eval's zero score


@pytest.mark.parametrize("kind", ["mse", "bce"])
def test_loss_ignores_start_end_where_absent(kind):
    target = torch.from_numpy(encode([(1.0, 2.0)], N_BINS, BIN))[None]
    logits = torch.zeros(1, N_BINS, 3)
    logits[..., 0] = torch.where(target[..., 0] > 0, 10.0, -10.0)  # presence right
    base = yoho_loss(logits, target, kind)
    absent = target[0, :, 0] == 0
    changed = logits.clone()
    changed[0, absent, 1:] = 5.0  # wrong start/end only where the sound is absent
    assert yoho_loss(changed, target, kind) == pytest.approx(float(base))
    present = ~absent
    changed = logits.clone()
    changed[0, present, 1:] = 5.0  # wrong start/end where it is present: penalised
    assert yoho_loss(changed, target, kind) > base + 0.1


def test_tag_targets_are_the_fraction_of_each_bin_a_category_sounds():
    import pandas as pd

    from arseg.train.tagging import tag_events, tag_targets

    events = pd.DataFrame({"filename": ["m0.wav", "m0.wav", "m0.wav", "m1.wav", "elsewhere.wav"],
                           "onset": [0.25, 0.5, 1.0, 0.0, 0.0], "offset": [0.75, 1.25, 1.5, 2.0, 2.0],
                           "event_label": ["dog", "dog", "bell", "bell", "siren"]})
    tags = tag_events(events, {"m0.wav": 0, "m1.wav": 1, "m2.wav": 2})
    assert tags.labels == ["bell", "dog"]  # sorted; siren's mixture has no feature row
    target = tag_targets(tags, [0, 2, 1], n_bins=4, bin_width=0.5)
    assert target.shape == (3, 4, 2)
    np.testing.assert_allclose(target[0, :, 1], [0.5, 1.0, 0.5, 0.0])  # two dogs overlap in bin 1: capped at 1
    np.testing.assert_allclose(target[0, :, 0], [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(target[1], 0.0)  # no events
    np.testing.assert_allclose(target[2, :, 0], [1.0, 1.0, 1.0, 1.0])


def decode_bin_by_bin(prediction, bin_width, cfg, duration=None):
    """The decoding rule written bin by bin, as a reference for the vectorised decode."""
    presence = prediction[:, 0]
    segments = []  # [onset, offset, score_sum, n_bins, peak]
    for b in np.flatnonzero(presence >= cfg.threshold):
        lo = b * bin_width
        start = lo + bin_width * float(np.clip(prediction[b, 1], 0.0, 1.0))
        end = lo + bin_width * float(np.clip(prediction[b, 2], 0.0, 1.0))
        if end <= start:
            start, end = lo, lo + bin_width
        if segments and start - segments[-1][1] <= cfg.merge_gap + 1e-6:
            last = segments[-1]
            last[1], last[2], last[3], last[4] = max(last[1], end), last[2] + float(presence[b]), last[3] + 1, \
                max(last[4], float(presence[b]))
        else:
            segments.append([start, end, float(presence[b]), 1, float(presence[b])])
    if duration is not None:
        for seg in segments:
            seg[1] = min(seg[1], duration)
    return [(on, off, total / n) for on, off, total, n, peak in segments
            if off - on >= cfg.min_duration and peak >= cfg.gate]


@pytest.mark.parametrize("n_bins, bin_width", [(25, 0.32), (100, 0.08), (7, 1.0)])
def test_decode_equals_the_bin_by_bin_rule(n_bins, bin_width):
    rng = np.random.default_rng(n_bins)
    configs = [DecodeConfig(t, g, m, gate) for t in (0.3, 0.5) for g in (0.0, 0.15, 0.6) for m in (0.0, 0.1)
               for gate in (0.0, 0.8)]
    for trial in range(200):
        prediction = rng.random((n_bins, 3)).astype(np.float32)
        if trial % 2:  # runs of presence, as models give, and regressions pinned to the bin edges
            prediction[:, 0] = np.repeat(rng.random(n_bins // 3 + 1), 3)[:n_bins]
            prediction[rng.random(n_bins) < 0.3, 1:] = (0.0, 1.0)
        for cfg in configs:
            assert decode(prediction, bin_width, cfg, duration=n_bins * bin_width - 0.05) == \
                decode_bin_by_bin(prediction, bin_width, cfg, duration=n_bins * bin_width - 0.05)


def test_decoding_grid_scores_every_setting_as_decode_and_sed_eval_do():
    import itertools
    import types

    from arseg.eval.sed_metrics import EvalConfig, sed_eval_scores
    from arseg.train import calibrate

    rng = np.random.default_rng(5)
    events = [[(o := rng.uniform(0, 6), o + rng.uniform(0.3, 2))] if i % 2 else [] for i in range(60)]
    query_target = np.stack([encode(e, N_BINS, BIN) for e in events])
    bins = np.clip(query_target + rng.normal(0, 0.25, query_target.shape), 0, 1).astype(np.float32)
    model_cfg = types.SimpleNamespace(bin_width=BIN, window_seconds=8.0)
    result = calibrate.choose_decoding(bins, query_target, model_cfg, min_duration=0.1)
    reference = {str(q): [(on, off) for on, off, _ in decode(t, BIN, DecodeConfig(0.5, 0.0, 0.0), 8.0)]
                 for q, t in enumerate(query_target)}
    expected = []
    for threshold, gate, gap in itertools.product(calibrate.THRESHOLDS, calibrate.GATES, calibrate.MERGE_GAPS):
        if 0 < gate <= threshold:
            continue
        cfg = DecodeConfig(threshold, gap, 0.1, gate)
        estimated = {str(q): [(on, off) for on, off, _ in decode(b, BIN, cfg, 8.0)] for q, b in enumerate(bins)}
        absent = [q for q, spans in reference.items() if not spans]
        expected.append({"threshold": threshold, "gate": gate, "merge_gap": gap,
                         "event_f1": sed_eval_scores(reference, estimated, 8.0, EvalConfig())["event_f1"],
                         "false_alarm_rate": sum(bool(estimated[q]) for q in absent) / len(absent)})
    assert expected == result["grid"]
    assert len({r["event_f1"] for r in expected}) > 5  # the settings do make a difference here
    assert result["chosen"]["event_f1"] == max(r["event_f1"] for r in expected)


def test_a_cap_on_false_alarms_picks_the_best_setting_within_it():
    import types

    from arseg.train import calibrate

    # Weak detections (0.55) of every present sound, and equally weak ones of a third of the
    # absent sounds: any threshold that finds the sounds also answers those absent ones.
    events = [[(1.0, 3.0)] if i % 2 else [] for i in range(60)]
    query_target = np.stack([encode(e, N_BINS, BIN) for e in events])
    bins = np.where(query_target[..., :1] > 0, 0.55, 0.0) * np.ones(3, np.float32)
    bins[..., 1:] = query_target[..., 1:]  # exact boundaries where present
    bins[::6] = bins[1] * 1.0                # a third of the absent sounds look just like a present one
    cfg = types.SimpleNamespace(bin_width=BIN, window_seconds=8.0)
    free = calibrate.choose_decoding(bins, query_target, cfg, min_duration=0.1)["chosen"]
    assert free["event_f1"] > 0.5 and free["false_alarm_rate"] == pytest.approx(1 / 3)
    capped = calibrate.choose_decoding(bins, query_target, cfg, min_duration=0.1, max_false_alarm_rate=0.1)
    assert capped["chosen"]["false_alarm_rate"] == 0.0  # found nothing: F1 0 is the price of the cap here
    within = [r for r in capped["grid"] if r["false_alarm_rate"] <= 0.1]
    assert capped["chosen"]["event_f1"] == max(r["event_f1"] for r in within)
    # A cap no setting meets: the fewest false alarms
    none = calibrate.choose_decoding(bins, query_target, cfg, min_duration=0.1, max_false_alarm_rate=-1.0)
    assert none["chosen"]["false_alarm_rate"] == min(r["false_alarm_rate"] for r in capped["grid"])


def test_text_and_example_queries_each_get_their_own_decoding_under_the_cap():
    """Text queries find their sounds weakly (0.35) and answer no absent one; example queries
    find theirs at 0.55 but half-answer absent sounds (0.45): under a cap each kind gets the
    best setting for itself (one pooled decoding would lose the text queries' sounds), and the
    F1 reported is that of every query decoded as its kind is."""
    import types

    from arseg.eval.sed_metrics import EvalConfig, sed_eval_scores
    from arseg.model.segmenter import ModelConfig, ReferringSegmenter
    from arseg.train import calibrate

    events = [[(1.0, 3.0)] if i % 2 else [] for i in range(80)]
    query_target = np.stack([encode(e, N_BINS, BIN) for e in events])
    bins = np.where(query_target[..., :1] > 0, 0.55, 0.0) * np.ones(3, np.float32)
    bins[..., 1:] = query_target[..., 1:]
    kinds = np.array(["description", "label"] * 20 + ["example"] * 40)
    examples = np.flatnonzero(kinds == "example")
    absent_examples = [q for q in examples if not events[q]]
    bins[:40, :, 0] *= 0.35 / 0.55  # text queries: weak but clean
    bins[absent_examples, 5:10, 0] = 0.45  # an example clip's absent sound half-answered
    cfg = types.SimpleNamespace(bin_width=BIN, window_seconds=8.0)
    result = calibrate.choose_decodings(bins, query_target, kinds, cfg, min_duration=0.1, max_false_alarm_rate=0.1)
    text = calibrate.choose_decoding(bins[:40], query_target[:40], cfg, 0.1, max_false_alarm_rate=0.1)
    example = calibrate.choose_decoding(bins[40:], query_target[40:], cfg, 0.1, max_false_alarm_rate=0.1)
    assert result["chosen"] == text["chosen"] and result["example"]["chosen"] == example["chosen"]
    assert text["chosen"]["threshold"] == 0.3 and example["chosen"]["threshold"] == 0.5  # 0.3 answers the absent
    assert result["example"]["chosen"]["false_alarm_rate"] == 0.0 and result["example"]["chosen"]["event_f1"] == 1.0
    assert result["chosen"]["event_f1"] == 1.0
    # Pooled, one decoding must serve both: the example queries' threshold, and the text queries find nothing
    pooled = calibrate.choose_decoding(bins, query_target, cfg, 0.1, max_false_alarm_rate=0.1)["chosen"]
    assert pooled["threshold"] >= 0.5 and pooled["event_f1"] < result["event_f1"] == 1.0
    # The reported F1: every query decoded with its kind's setting, scored by sed_eval
    reference = {str(q): [(on, off) for on, off, _ in decode(t, BIN, DecodeConfig(0.5, 0.0, 0.0), 8.0)]
                 for q, t in enumerate(query_target)}
    own = {str(q): [(on, off) for on, off, _ in decode(
        b, BIN, DecodeConfig((example if kinds[q] == "example" else text)["chosen"]["threshold"],
                             (example if kinds[q] == "example" else text)["chosen"]["merge_gap"], 0.1,
                             (example if kinds[q] == "example" else text)["chosen"]["gate"]), 8.0)]
           for q, b in enumerate(bins)}
    assert result["event_f1"] == sed_eval_scores(reference, own, 8.0, EvalConfig())["event_f1"]
    # Without example queries there is nothing of theirs to choose or store
    alone = calibrate.choose_decodings(bins[:40], query_target[:40], None, cfg, min_duration=0.1)
    assert alone["example"] is None and alone["event_f1"] == alone["chosen"]["event_f1"]
    model = ReferringSegmenter(ModelConfig(width=0.125, n_mels=16, query_dim=16))
    calibrate.apply_decoding(model, result)
    assert (model.cfg.threshold, model.cfg.example_decoding["threshold"]) == (0.3, 0.5)
    calibrate.apply_decoding(model, alone)
    assert model.cfg.example_decoding == {}


def test_a_refit_keeps_the_first_trainings_ranking_within_the_cap_for_both_models():
    import itertools

    from arseg.train import calibrate

    settings = [(t, g, m) for t, g, m in itertools.product(calibrate.THRESHOLDS, calibrate.GATES, calibrate.MERGE_GAPS)
                if not 0 < g <= t]

    def grid(f1, rate):
        return [{"threshold": t, "gate": g, "merge_gap": m, "event_f1": f1(t, g), "false_alarm_rate": rate(t, g)}
                for t, g, m in settings]

    # The first model ranks low thresholds best and keeps them within 0.2; the refit, surer of
    # itself, answers more absent sounds at every setting (twice, at the first's choice)
    first = grid(lambda t, g: 1 - t - g / 10, lambda t, g: 0.2 if t < 0.4 else 0.05)
    refit = grid(lambda t, g: 0.9, lambda t, g: 0.4 if t < 0.4 else (0.25 if t < 0.5 else 0.1))
    best_first = max((r for r in first if r["false_alarm_rate"] <= 0.2), key=lambda r: r["event_f1"])
    assert best_first["threshold"] == 0.3
    decided = calibrate.refit_decodings({"grid": first, "chosen": best_first, "example": None},
                                        {"grid": refit, "example": None}, 0.2)
    chosen = decided["chosen"]
    assert (chosen["threshold"], chosen["gate"]) == (0.5, 0.0)  # the first's best among those within 0.2 for both
    assert chosen["refit_false_alarm_rate"] == 0.1 and decided["example"] is None
    # Where the refit keeps to the cap, the first's own choice stands
    calm = grid(lambda t, g: 0.9, lambda t, g: 0.1)
    assert calibrate.refit_decodings({"grid": first, "example": None}, {"grid": calm, "example": None},
                                     0.2)["chosen"]["threshold"] == 0.3
    # No cap: the first's ranking alone; a cap none meets: the lowest larger rate
    assert calibrate.refit_decodings({"grid": first, "example": None}, {"grid": refit, "example": None},
                                     None)["chosen"]["threshold"] == 0.3
    strict = calibrate.refit_decodings({"grid": first, "example": None}, {"grid": refit, "example": None}, 0.01)
    assert strict["chosen"]["threshold"] >= 0.5 and strict["chosen"]["refit_false_alarm_rate"] == 0.1
    with pytest.raises(ValueError, match="other settings"):
        calibrate.refit_decodings({"grid": first, "example": None}, {"grid": refit[1:], "example": None}, 0.2)


def test_event_counts_equal_sed_eval_counts_with_several_events_per_query():
    # Several references and estimates per query-file, near the collar and the offset
    # tolerance, where the maximum matching decides: the counts are sed_eval's
    from arseg.eval.scoring import EventCounts
    from arseg.eval.sed_metrics import EvalConfig, per_query_counts

    rng = np.random.default_rng(6)
    reference, estimated = {}, {}
    for i in range(200):
        onsets = np.sort(rng.uniform(0, 8, rng.integers(0, 4)))
        reference[f"q{i}"] = [(float(o), float(o + rng.uniform(0.1, 1.5))) for o in onsets]
        estimated[f"q{i}"] = [(on + float(rng.choice([-0.2, 0.2, 0.0, rng.normal(0, 0.3)])),
                               off + float(rng.normal(0, 0.3))) for on, off in reference[f"q{i}"]
                              for _ in range(rng.integers(0, 3))]
    for cfg in (EvalConfig(), EvalConfig(t_collar=0.5, percentage_of_length=0.5)):
        expected = per_query_counts(reference, estimated, 10.0, cfg).set_index("query_id")
        counts = EventCounts(cfg)
        for q in reference:
            assert counts(reference[q], estimated[q]) == tuple(expected.loc[q, ["event_ntp", "event_nref",
                                                                                  "event_nsys"]]), q
