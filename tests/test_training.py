"""Training: determinism, resume after a kill, stale state, non-finite loss, label queries,
the auxiliary tagging head, summed training mixtures, SpecAugment."""
import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from arseg.model.segmenter import ModelConfig, ReferringSegmenter, load_model
from arseg.model.targets import encode
from arseg.train import calibrate, loop
from arseg.train.loop import NonFiniteLossError, SplitData, TrainConfig, validation_bins
from arseg.train.run import train_model
from arseg.train.tagging import TagEvents

MODEL = ModelConfig(width=0.125, n_mels=16, window_seconds=4.0, n_bins=12, query_dim=16,
                    query_encoder="label", labels=["a", "b"])


def synthetic_split(seed: int, n: int = 8) -> SplitData:
    """Band 'a' lights low mels, 'b' high mels; each mixture has one of them in a random span."""
    rng = np.random.default_rng(seed)
    frames = MODEL.window_frames
    features = rng.normal(-60, 3, size=(n, frames, MODEL.n_mels)).astype(np.float32)
    mixture, inputs, targets, events = [], [], [], []
    for row in range(n):
        label = row % 2
        onset = float(rng.uniform(0, 2.5))
        offset = onset + float(rng.uniform(0.5, 1.4))
        bands = slice(0, 8) if label == 0 else slice(8, 16)
        features[row, int(onset * 100):int(offset * 100), bands] += 30
        events.append(np.array([[label, onset, offset]]))
        for query in (0, 1):
            mixture.append(row)
            inputs.append(query)
            targets.append(encode([(onset, offset)] if query == label else [], MODEL.n_bins, MODEL.bin_width))
    per_mixture = [np.array([2 * r, 2 * r + 1]) for r in range(n)]
    return SplitData(features, np.array(mixture), np.array(inputs, dtype=np.int64), np.stack(targets), per_mixture,
                     TagEvents(["a", "b"], events), query_category=np.array(inputs, dtype=np.int64),
                     mixture_categories=np.eye(2, dtype=bool)[np.arange(n) % 2])


CFG = TrainConfig(epochs=3, patience=3, mixtures_per_batch=4, learning_rate=3e-3, seed=0, threads=1)


def run(tmp_path, cfg=CFG, fingerprint="run"):
    torch.manual_seed(cfg.seed)
    model = ReferringSegmenter(MODEL)
    history = train_model(model, synthetic_split(0), synthetic_split(1), cfg, tmp_path / "model.pt",
                          tmp_path / "history.tsv", tmp_path / "state.pt", fingerprint=fingerprint)
    return load_model(tmp_path / "model.pt")[0], history


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_model_and_loss_decreases(tmp_path):
    a, history = run(tmp_path / "a")
    b, _ = run(tmp_path / "b")
    assert same_weights(a, b)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert not (tmp_path / "a" / "state.pt").exists()  # removed once finished
    chosen = load_model(tmp_path / "a" / "model.pt")[1]["validation_decoding"]["chosen"]  # chosen on validation,
    assert (a.cfg.threshold, a.cfg.gate, a.cfg.merge_gap) == (chosen["threshold"], chosen["gate"],  # and kept
                                                              chosen["merge_gap"])


def test_resume_after_kill_equals_uninterrupted(tmp_path, monkeypatch, kill_in_second_epoch):
    reference, _ = run(tmp_path / "whole")
    kill_in_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed")
    assert (tmp_path / "killed" / "state.pt").exists() and not (tmp_path / "killed" / "model.pt").exists()
    monkeypatch.undo()
    resumed, history = run(tmp_path / "killed")
    assert len(history) == 3
    assert same_weights(resumed, reference)


def test_stale_state_is_not_resumed(tmp_path, monkeypatch, kill_in_second_epoch):
    reference, _ = run(tmp_path / "whole")
    kill_in_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "other", cfg=TrainConfig(epochs=3, patience=3, mixtures_per_batch=4, learning_rate=1e-2),
            fingerprint="another config")
    monkeypatch.undo()
    # The state on disk stems from another configuration: start afresh, same result.
    assert (tmp_path / "other" / "state.pt").exists()
    fresh, _ = run(tmp_path / "other", fingerprint="run")
    assert same_weights(fresh, reference)


def test_non_finite_loss_stops_with_clear_message_and_keeps_no_state(tmp_path, monkeypatch):
    original = loop.yoho_loss
    calls = {"n": 0}

    def nan_in_second_epoch(logits, target, kind):
        calls["n"] += 1
        loss = original(logits, target, kind)
        return loss * float("nan") if calls["n"] > 3 else loss

    monkeypatch.setattr(loop, "yoho_loss", nan_in_second_epoch)
    with pytest.raises(NonFiniteLossError, match="loss became nan in epoch 2; lower training.learning_rate"):
        run(tmp_path, cfg=TrainConfig(epochs=3, patience=3, mixtures_per_batch=4, seed=0, threads=1))
    assert not (tmp_path / "model.pt").exists()
    assert not (tmp_path / "state.pt").exists()  # a rerun as it is would resume into the same loss


@pytest.mark.parametrize("damage", ["empty", "cut short", "not a state", "an older state", "a byte changed"])
def test_an_unreadable_state_is_removed_and_training_starts_afresh(tmp_path, monkeypatch, capsys, damage,
                                                                   kill_in_second_epoch):
    """A state file a crash cut short, or one of an older arseg, would otherwise stop every rerun."""
    reference, _ = run(tmp_path / "whole")
    kill_in_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "damaged")
    monkeypatch.undo()
    state = tmp_path / "damaged" / "state.pt"
    data = state.read_bytes()
    if damage == "an older state":
        saved = torch.load(state, weights_only=True)
        del saved["cuda_rng"]
        torch.save(saved, state)
    elif damage == "a byte changed":  # torch.load would read it: the zip checksums tell
        state.write_bytes(data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:])
    else:
        state.write_bytes({"empty": b"", "cut short": data[:len(data) // 2], "not a state": b"\x00" * 64}[damage])
    capsys.readouterr()
    fresh, history = run(tmp_path / "damaged")
    printed = capsys.readouterr().out
    assert f"ignoring {state}: not a readable training state" in printed
    assert ("fails its checksum" in printed) == (damage == "a byte changed")
    assert len(history) == 3 and same_weights(fresh, reference)


def test_tagging_head_trains_beside_the_model_and_is_not_saved(tmp_path):
    model, history = run(tmp_path / "tagged")
    assert history["tag_loss"].iloc[-1] < history["tag_loss"].iloc[0]
    assert not any(key.startswith("tag") for key in model.state_dict())
    assert set(model.state_dict()) == set(ReferringSegmenter(MODEL).state_dict())


def test_tagging_weight_zero_trains_without_the_head(tmp_path):
    plain, history = run(tmp_path / "plain", cfg=dataclasses.replace(CFG, tagging_weight=0.0))
    tagged, _ = run(tmp_path / "tagged")
    assert "tag_loss" not in history
    assert not same_weights(plain, tagged)  # the tagging loss reaches the shared audio encoder


def test_validation_runs_a_folded_copy_and_leaves_the_model_training(tmp_path, monkeypatch):
    # evaluate_loss validates on prepare_for_inference's copy (batch norm folded): the loss of
    # the model in eval mode, as built, within float rounding; the model itself is untouched.
    model, _ = run(tmp_path)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = synthetic_split(1)
    loss = loop.evaluate_loss(model, data, CFG, "cpu")
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    monkeypatch.setattr(loop, "prepare_for_inference", lambda m: copy.deepcopy(m).eval())  # not folded
    unfolded = loop.evaluate_loss(model, data, CFG, "cpu")
    assert loss == pytest.approx(unfolded, rel=1e-5)


def test_build_split_knows_which_categories_sound_in_each_mixture_and_what_each_query_asks():
    import pandas as pd
    features = np.zeros((3, MODEL.window_frames, MODEL.n_mels), np.float32)
    events = pd.DataFrame({"filename": ["m0.wav", "m0.wav", "m1.wav", "elsewhere.wav"],
                           "onset": [0.0, 1.0, 0.5, 0.0], "offset": [1.0, 2.0, 1.5, 1.0],
                           "event_label": ["dog", "bell", "dog", "siren"]})
    queries = pd.DataFrame({"query_id": ["q0", "q1", "q2", "q3"], "filename": ["m0.wav", "m0.wav", "m1.wav", "m2.wav"],
                            "target_label": ["dog", "car", "bell", "dog"], "positive": [1, 0, 0, 0]})
    data = loop.build_split(features, {"m0.wav": 0, "m1.wav": 1, "m2.wav": 2}, queries, events,
                            np.zeros(4, dtype=np.int64), MODEL)
    # categories in name order: bell, car, dog, siren (a mixture without a feature row adds none)
    assert data.mixture_categories.tolist() == [[True, False, True, False], [False, False, True, False],
                                                [False, False, False, False]]
    assert data.query_category.tolist() == [2, 1, 0, 2]


def test_mixing_pairs_mixtures_without_a_shared_category_and_keeps_the_true_queries():
    data = synthetic_split(0)
    rows = np.arange(8)
    partners, gains = loop.mixing_partners(data, rows, rows, 1.0, 3.0, np.random.default_rng(0))
    assert (partners >= 0).all() and (np.abs(gains) <= 3.0).all()
    assert ((partners - rows) % 2 == 1).all()  # 'a' mixtures (even rows) with 'b' ones (odd)
    for row, partner in zip(rows, partners):
        kept = loop.mixed_queries(data, row, partner)
        # Each mixture's own positive query; the negatives ('b' asked of an 'a' mixture) now
        # name the partner's sound, so they are dropped.
        assert sorted(kept) == sorted([2 * row + row % 2, 2 * partner + partner % 2])
        assert all(data.query_target[q, :, 0].any() for q in kept)
    assert (loop.mixing_partners(data, rows, rows, 0.0, 3.0, np.random.default_rng(0))[0] == -1).all()


def test_mixing_keeps_negatives_absent_from_both_and_adds_only_the_partners_positives():
    data = synthetic_split(0)
    data.query_category = np.array([0, 1] * 8)
    data.mixture_categories = np.eye(3, dtype=bool)[[0, 1] * 4]
    data.mixture_categories[2] = [False, False, True]  # row 2 sounds a third category 'c', not 'a'
    kept = loop.mixed_queries(data, 0, 2)
    # Row 0's 'b' stays negative ('b' sounds in neither); the partner adds only its positives
    # (none here: 'c' is never asked).
    assert sorted(kept) == [0, 1]
    data.query_category[5] = 2  # now row 2 is asked for 'c'
    assert sorted(loop.mixed_queries(data, 0, 2)) == [0, 1]  # no more queries than row 0 alone has
    assert sorted(loop.mixed_queries(data, 2, 0)) == [0, 5]  # row 2's 'a' would name row 0's sound


def test_summed_log_mel_is_the_log_mel_of_the_summed_audio():
    from arseg.features.logmel import FeatureConfig, LogMel
    logmel = LogMel(FeatureConfig())
    rng = np.random.default_rng(0)
    t = np.arange(128000) / 16000
    x = (0.1 * rng.standard_normal(128000) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = (0.05 * rng.standard_normal(128000)).astype(np.float32)
    gain_db = -4.0
    summed = logmel(torch.from_numpy(x + y * 10 ** (gain_db / 20))[None])
    approx = loop.add_log_mel(logmel(torch.from_numpy(x)[None]), logmel(torch.from_numpy(y)[None]),
                              torch.tensor([gain_db]))
    power = lambda db: 10 ** (db[:, 2:-2].double() / 10)  # the zero-padded edge frames are nearly silent
    # Powers of independent signals add: no bias over the whole map, per mel band within 5 %...
    assert float(power(approx).sum() / power(summed).sum()) == pytest.approx(1.0, abs=0.01)
    assert np.allclose(power(approx).sum(dim=1) / power(summed).sum(dim=1), 1.0, atol=0.05)
    # ...and per value only the cross term's fluctuation.
    assert float((approx - summed)[:, 2:-2].abs().mean()) < 1.5
    assert float(loop.add_log_mel(torch.tensor([[[10.0]]]), torch.tensor([[[10.0]]]),
                                  torch.tensor([0.0]))) == pytest.approx(10 + 10 * np.log10(2), abs=1e-5)


def test_training_with_mixing_is_deterministic_and_differs_from_without(tmp_path):
    cfg = dataclasses.replace(CFG, mix_probability=1.0)
    a, history = run(tmp_path / "a", cfg=cfg)
    b, _ = run(tmp_path / "b", cfg=cfg)
    plain, _ = run(tmp_path / "plain")
    assert same_weights(a, b)
    assert not same_weights(a, plain)
    assert np.isfinite(history["train_loss"]).all()


def test_spec_augment_masks_bands_and_frames_with_the_fill_and_leaves_the_input():
    features = torch.randn(3, 100, 16)
    fill = torch.full((16,), 7.0)
    masked = loop.spec_augment(features, fill, torch.Generator().manual_seed(0), time_width=10)
    again = loop.spec_augment(features, fill, torch.Generator().manual_seed(0), time_width=10)
    assert torch.equal(masked, again)                   # the generator decides the masks
    changed = masked != features
    assert changed.any() and torch.all(masked[changed] == 7.0)  # masked values are the fill
    assert not torch.any(features == 7.0)               # the input is untouched


def test_training_with_spec_augment_differs_from_the_default_without(tmp_path):
    assert not TrainConfig().spec_augment              # off by default since the summed mixtures
    augmented, _ = run(tmp_path / "a", cfg=dataclasses.replace(CFG, spec_augment=True))
    plain, _ = run(tmp_path / "plain", cfg=dataclasses.replace(CFG, spec_augment=False))
    assert not same_weights(augmented, plain)


def test_selecting_on_validation_event_f1_keeps_that_epoch_and_counts_patience_on_it(tmp_path, monkeypatch):
    """With select_on: event_f1 the epoch kept is the one whose validation event F1 (decoding
    chosen on validation) is highest, whatever the loss says; patience counts from it."""
    import arseg.train.run as run_module

    scores = iter([0.2, 0.6, 0.3, 0.1, 0.5])
    states = []
    original = run_module.calibrate.choose_decodings

    def scripted(*args, **kwargs):  # each epoch's score comes from the script
        chosen = original(*args, **kwargs)
        if len(states) < 5:
            chosen["event_f1"] = next(scores)
        return chosen

    monkeypatch.setattr(run_module.calibrate, "choose_decodings", scripted)
    original_record = loop.record_epoch

    def record(run, *args, **kwargs):
        original_record(run, *args, **kwargs)
        states.append(copy.deepcopy(run.model.state_dict()))

    monkeypatch.setattr(loop, "record_epoch", record)
    cfg = dataclasses.replace(CFG, epochs=6, patience=2, select_on="event_f1")
    torch.manual_seed(cfg.seed)
    model = ReferringSegmenter(MODEL)
    history = train_model(model, synthetic_split(0), synthetic_split(1), cfg, tmp_path / "model.pt",
                          tmp_path / "history.tsv", tmp_path / "state.pt")
    assert list(history["val_event_f1"]) == [0.2, 0.6, 0.3, 0.1]  # stopped: two epochs without a better one
    assert list(history["best"]) == [1, 1, 0, 0]
    saved, extra = load_model(tmp_path / "model.pt")
    kept = {k: v for k, v in states[1].items()}
    assert all(torch.equal(saved.state_dict()[k], kept[k]) for k in kept)  # epoch 2's weights
    assert extra["epoch_kept"] == 2 and extra["best_val_loss"] == pytest.approx(history["val_loss"][1])


def test_a_refit_stops_where_its_first_training_kept_and_keeps_its_decoding(tmp_path, monkeypatch):
    """The refit runs the first training's schedule up to the epoch that one kept, keeps its
    last epoch (no validation: its clips are trained on) and the first model's decoding."""
    from arseg.train.run import refit_model

    cfg = dataclasses.replace(CFG, epochs=4, patience=4)
    torch.manual_seed(cfg.seed)
    train_model(ReferringSegmenter(MODEL), synthetic_split(0), synthetic_split(1), cfg, tmp_path / "first.pt",
                tmp_path / "first.tsv", tmp_path / "first_state.pt")
    first, first_extra = load_model(tmp_path / "first.pt")
    states = []
    original_record = loop.record_epoch

    def record(run, *args, **kwargs):
        original_record(run, *args, **kwargs)
        states.append(copy.deepcopy(run.model.state_dict()))

    monkeypatch.setattr(loop, "record_epoch", record)
    monkeypatch.setattr(loop, "evaluate_loss", lambda *a, **k: pytest.fail("a refit has no validation"))
    torch.manual_seed(cfg.seed)
    more = synthetic_split(2, n=12)
    history = refit_model(ReferringSegmenter(MODEL), more, cfg, tmp_path / "first.pt", tmp_path / "refit.pt",
                          tmp_path / "refit.tsv", tmp_path / "refit_state.pt")
    assert len(history) == first_extra["epoch_kept"] and "val_loss" not in history
    assert list(history["best"]) == [1] * len(history)
    refit, extra = load_model(tmp_path / "refit.pt")
    assert all(torch.equal(refit.state_dict()[k], v) for k, v in states[-1].items())  # its last epoch
    assert not same_weights(refit, first)
    assert (refit.cfg.threshold, refit.cfg.gate, refit.cfg.merge_gap) == (first.cfg.threshold, first.cfg.gate,
                                                                           first.cfg.merge_gap)
    assert extra["validation_decoding"] == first_extra["validation_decoding"]
    assert extra["refit_of"] == str(tmp_path / "first.pt") and extra["epoch_kept"] == first_extra["epoch_kept"]
    assert not (tmp_path / "refit_state.pt").exists()
    # Given the validation queries, the refit checks its own false alarms against the cap
    torch.manual_seed(cfg.seed)
    refit_model(ReferringSegmenter(dataclasses.replace(MODEL, max_false_alarm_rate=0.2)), more, cfg,
                tmp_path / "first.pt", tmp_path / "checked.pt", tmp_path / "checked.tsv", tmp_path / "checked_state.pt",
                calibration=synthetic_split(1))
    checked, extra = load_model(tmp_path / "checked.pt")
    assert same_weights(checked, refit)  # the check changes no weight
    val = synthetic_split(1)
    own = calibrate.choose_decodings(validation_bins(checked, val), val.query_target, None, checked.cfg,
                                                  min_duration=checked.cfg.min_duration)
    expected = calibrate.refit_decodings(first_extra["validation_decoding"], own, 0.2)
    assert extra["validation_decoding"]["chosen"] == expected["chosen"]
    assert checked.cfg.threshold == expected["chosen"]["threshold"]


def test_stop_after_ends_the_schedule_early_without_changing_its_course(tmp_path):
    """Stopped after epoch 2 of a 4-epoch schedule, a run equals the full run's epoch 2."""
    full = dataclasses.replace(CFG, epochs=4, patience=4)
    runs = {}
    for name, cfg in {"full": full, "stopped": dataclasses.replace(full, stop_after=2)}.items():
        torch.manual_seed(cfg.seed)
        model = ReferringSegmenter(MODEL)
        runs[name] = loop.train(model, synthetic_split(0), None, cfg, tmp_path / f"{name}.pt")
    assert len(runs["stopped"].history) == 2 and len(runs["full"].history) == 4
    assert [h["train_loss"] for h in runs["stopped"].history] == [h["train_loss"] for h in runs["full"].history[:2]]


def test_new_query_embeddings_are_another_run(tmp_path, monkeypatch, capsys):
    """train_one's state belongs to its inputs, the query embeddings among them (another text
    encoder's version writes other vectors): a killed run is not resumed on new ones."""
    from arseg.io import atomic
    from arseg.train.run import train_one

    model_cfg = ModelConfig(backbone="yoho", width=0.125, n_mels=16, window_seconds=4.0, n_bins=12, query_dim=16)
    rng, texts = np.random.default_rng(0), ["a dog barks", "a bell rings"]
    for name in ("train", "val"):
        features = rng.normal(-60, 3, (8, model_cfg.window_frames, 16)).astype(np.float32)
        events, queries = [], []
        for r in range(8):
            onset, label = float(rng.uniform(0, 2)), r % 2
            features[r, int(onset * 100):int(onset * 100) + 100, 8 * label:8 * label + 8] += 30
            events.append([f"{name}{r}.wav", onset, onset + 1, ["dog", "bell"][label], f"c{r}", texts[label], 0.0])
            queries += [[f"{name}{r}_{k}", f"{name}{r}.wav", texts[k], "description", ["dog", "bell"][k],
                         int(k == label)] for k in (0, 1)]
        np.save(tmp_path / f"{name}.npy", features)
        atomic.write_tsv(tmp_path / f"{name}.index.tsv",
                         pd.DataFrame({"row": range(8), "filename": [f"{name}{r}.wav" for r in range(8)]}))
        atomic.write_tsv(tmp_path / f"{name}.events.tsv", pd.DataFrame(events, columns=[
            "filename", "onset", "offset", "event_label", "clip_id", "description", "snr_db"]))
        atomic.write_tsv(tmp_path / f"{name}.queries.tsv", pd.DataFrame(queries, columns=[
            "query_id", "filename", "text", "kind", "target_label", "positive"]))

    def embeddings(seed):
        vectors = np.random.default_rng(seed).normal(size=(2, 384)).astype(np.float32)
        np.savez(tmp_path / "embeddings.npz", texts=np.array(texts),
                 vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True))

    def train():
        return train_one(*[[tmp_path / f"{s}{suffix}" for s in ("train", "val")]
                           for suffix in (".npy", ".index.tsv", ".queries.tsv", ".events.tsv")],
                         tmp_path / "embeddings.npz", model_cfg,
                         TrainConfig(epochs=3, patience=3, mixtures_per_batch=4, tagging_weight=0.0),
                         tmp_path / "m" / "model.pt", tmp_path / "m" / "history.tsv", tmp_path / "m" / "state.pt")

    embeddings(1)
    original = loop.save_state

    def kill_after_the_second_epoch(run, *args, **kwargs):
        original(run, *args, **kwargs)
        if len(run.history) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_state", kill_after_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train()
    monkeypatch.undo()
    embeddings(2)
    capsys.readouterr()
    train()
    out = capsys.readouterr().out
    assert "belongs to another configuration or other inputs" in out and "resuming" not in out
