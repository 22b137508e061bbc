"""Example queries: which clip a query names (never one in the mixture, only the split's own),
the clip embedding and its bank, how the query encoder routes text and example rows, and
`arseg segment --example` with its errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from arseg.cli import main
from arseg.data.long_mixtures import demo_queries
from arseg.data.queries import make_queries
from arseg.infer.encode import embed_clips
from arseg.infer.segment import safe_name
from arseg.model.aisfx import Encoder
from arseg.model.conditioning import QueryEncoder
from arseg.model.examples import EXAMPLE_DIM, ExampleBank, clip_embedding, input_rows, load_bank
from arseg.model.query_inputs import QueryError, query_inputs, supported, table_inputs
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, save_model
from arseg.model.text_encoder import EMBEDDING_DIM, EmbeddingCache

RATE = 16000
TINY = dict(width=0.125, window_seconds=4.0, n_bins=12, query_dim=16, n_mels=32)

CLIPS = pd.DataFrame({
    "clip_id": ["bell_0", "bell_1", "dog_0", "dog_1", "car_0", "siren_0", "bell_val"],
    "category": ["bell", "bell", "dog", "dog", "car", "siren", "bell"],
    "description": ["a bell", "a bell rings twice", "a dog barks", "a small dog", "a car passes", "a siren wails",
                    "a church bell"],
    "duration": [1.0] * 7,
    "split": ["test"] * 6 + ["val"],
})
EVENTS = pd.DataFrame({
    "filename": ["test_00000.wav", "test_00000.wav", "test_00001.wav", "test_00002.wav", "test_00002.wav"],
    "onset": [0.5, 2.0, 1.0, 0.0, 3.0], "offset": [1.5, 3.0, 2.0, 1.0, 4.0],
    "event_label": ["bell", "dog", "car", "bell", "bell"],
    "clip_id": ["bell_0", "dog_0", "car_0", "bell_0", "bell_1"],
    "description": ["a bell", "a dog barks", "a car passes", "a bell", "a bell rings twice"],
    "snr_db": [10.0, 5.0, 0.0, 3.0, 3.0],
})


# ---------------------------------------------------------------- which clip a query names


def test_an_example_is_never_a_clip_in_the_mixture_and_always_of_the_split():
    queries = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=2, seed=0, examples=True)
    examples = queries[queries["kind"] == "example"]
    clips = CLIPS.set_index("clip_id")
    for q in examples.itertuples(index=False):
        in_mixture = set(EVENTS.loc[EVENTS["filename"] == q.filename, "clip_id"])
        assert q.text not in in_mixture
        assert clips.loc[q.text, "category"] == q.target_label
        assert clips.loc[q.text, "split"] == "test"  # bell_val is another split's
    first = examples[examples["filename"] == "test_00000.wav"]
    assert dict(zip(first.loc[first["positive"] == 1, "target_label"], first.loc[first["positive"] == 1, "text"])) \
        == {"bell": "bell_1", "dog": "dog_1"}
    # Both bell clips sound in test_00002: no example of bell there (none left to show).
    assert examples.loc[(examples["filename"] == "test_00002.wav") & (examples["positive"] == 1)].empty
    # car's only clip is in test_00001: no positive example query; car as an absent sound elsewhere: car_0
    assert examples.loc[(examples["filename"] == "test_00001.wav") & (examples["positive"] == 1)].empty
    assert set(examples.loc[examples["target_label"] == "car", "text"]) <= {"car_0"}
    assert queries["query_id"].is_unique


def test_examples_leave_the_label_and_description_queries_as_they_were():
    plain = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=2, seed=3)
    both = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=2, seed=3, examples=True)
    pd.testing.assert_frame_equal(both[both["kind"] != "example"].reset_index(drop=True), plain)
    pd.testing.assert_frame_equal(both, make_queries(EVENTS, CLIPS, "test", 2, 3, examples=True))
    negatives = both[both["positive"] == 0]
    for filename, group in negatives.groupby("filename"):  # the absent sounds asked by example are the others'
        assert set(group.loc[group["kind"] == "example", "target_label"]) <= set(group.loc[group["kind"] == "label",
                                                                                          "target_label"])


def test_demo_examples_are_clips_not_in_the_demo_file():
    events = EVENTS[EVENTS["filename"] == "test_00000.wav"]
    rows = demo_queries("demo_000.wav", events, CLIPS[CLIPS["split"] == "test"], 1, np.random.default_rng(0),
                        np.random.default_rng(1))
    examples = [r for r in rows if r[3] == "example"]
    assert {(r[2], r[4], r[5]) for r in examples if r[5] == 1} == {("bell_1", "bell", 1), ("dog_1", "dog", 1)}
    assert all(r[2] not in {"bell_0", "dog_0"} for r in examples)
    assert len([r for r in demo_queries("demo_000.wav", events, CLIPS, 1, np.random.default_rng(0))
                if r[3] == "example"]) == 0


# ---------------------------------------------------------------- the embedding and its bank


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return Encoder()


def test_clip_embedding_is_the_mean_and_maximum_of_the_encoder_features(encoder):
    audio = np.random.default_rng(0).standard_normal(RATE * 2).astype(np.float32) * 0.1
    features = encoder(audio, RATE)
    vector = clip_embedding(encoder, audio, RATE)
    assert vector.shape == (EXAMPLE_DIM,) and vector.dtype == np.float32
    np.testing.assert_allclose(vector[:EXAMPLE_DIM // 2], features.mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(vector[EXAMPLE_DIM // 2:], features.amax(0).numpy(), rtol=1e-6)


def test_the_workflow_embeds_the_first_window_of_each_clip(encoder, tmp_path, monkeypatch):
    import arseg.infer.encode as encode

    rng = np.random.default_rng(1)
    long = rng.standard_normal(RATE * 6).astype(np.float32) * 0.1
    sf.write(tmp_path / "long.wav", long, RATE, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", long[:RATE], RATE, subtype="FLOAT")
    monkeypatch.setattr(encode, "load_aisfx", lambda checkpoint: encoder)
    table = pd.DataFrame({"clip_id": ["long", "short"], "category": ["rain", "bell"], "split": ["train", "test"]})
    bank = embed_clips(table, tmp_path, "unused.pth", RATE, window_seconds=4.0)
    assert (bank.categories, bank.splits) == (["rain", "bell"], ["train", "test"])
    np.testing.assert_allclose(bank.lookup(["long"])[0], clip_embedding(encoder, long[:4 * RATE], RATE), rtol=1e-5)
    np.testing.assert_allclose(bank.lookup(["short"])[0], clip_embedding(encoder, long[:RATE], RATE), rtol=1e-5)
    bank.save(tmp_path / "bank.npz")
    again = load_bank([tmp_path / "bank.npz"])
    np.testing.assert_array_equal(again.lookup(["short", "long"]), bank.lookup(["short", "long"]))
    assert load_bank([]) is None
    with pytest.raises(KeyError, match="embed_examples"):
        again.lookup(["elsewhere"])


# ---------------------------------------------------------------- what the model is asked


def test_an_example_is_the_blend_of_its_categories_label_queries():
    torch.manual_seed(0)
    query = QueryEncoder("text", 16, text_dim=EMBEDDING_DIM, example_dim=EXAMPLE_DIM, n_example_labels=3)
    query.example.prototypes.copy_(torch.nn.functional.normalize(torch.randn(3, EMBEDDING_DIM), dim=1))
    texts = torch.nn.functional.normalize(torch.randn(3, EMBEDDING_DIM), dim=1).numpy()
    clips = torch.rand(2, EXAMPLE_DIM).numpy()
    out = query(torch.from_numpy(input_rows(EMBEDDING_DIM, texts=texts, examples=clips)))
    torch.testing.assert_close(out[:3], query.net(torch.from_numpy(texts)))
    posterior = query.example(torch.from_numpy(clips))
    torch.testing.assert_close(posterior.sum(1), torch.ones(2))
    torch.testing.assert_close(out[3:], posterior @ query.net(query.example.prototypes))
    # a sure posterior gives exactly that category's label query
    query.example.bias.data = torch.tensor([0.0, 100.0, 0.0])
    sure = query(torch.from_numpy(input_rows(EMBEDDING_DIM, examples=clips)))
    torch.testing.assert_close(sure, query.net(query.example.prototypes[[1, 1]]), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="label model"):
        QueryEncoder("label", 16, n_labels=2, example_dim=EXAMPLE_DIM)


def test_the_example_classifier_is_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from arseg.model.examples import ExampleClassifier
    from arseg.train.example_classifier import fit_example_classifier

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, EXAMPLE_DIM)).astype(np.float32)
    labels = ["bell", "car", "dog"]
    y = rng.integers(0, 3, size=90)
    x = (centres[y] + rng.normal(scale=3.0, size=(90, EXAMPLE_DIM))).astype(np.float32) * 5 + 2
    classifier = ExampleClassifier(EXAMPLE_DIM, 3, EMBEDDING_DIM)
    prototypes = rng.normal(size=(3, EMBEDDING_DIM)).astype(np.float32)
    accuracy = fit_example_classifier(classifier, x, [labels[i] for i in y], labels, prototypes, strength=0.01)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=0.01, max_iter=5000, tol=1e-8).fit(scaler.transform(x), y)
    ours = classifier(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(scaler.transform(x)), atol=2e-3)
    assert accuracy == pytest.approx(reference.score(scaler.transform(x), y))
    np.testing.assert_array_equal(classifier.prototypes.numpy(), prototypes)
    assert not any(p.requires_grad for p in classifier.parameters())  # frozen while the segmenter trains


def test_query_inputs_put_texts_and_clips_in_their_parts():
    model = ReferringSegmenter(ModelConfig(query_encoder="text", example_dim=EXAMPLE_DIM, example_labels=["dog"],
                                           **TINY))
    bank = ExampleBank(["dog_1"], np.arange(EXAMPLE_DIM, dtype=np.float32)[None])
    table = pd.DataFrame({"text": ["a dog barks", "dog_1", "dog"], "kind": ["description", "example", "label"],
                          "target_label": ["dog"] * 3})
    cache = EmbeddingCache(["a dog barks", "dog"], np.full((2, EMBEDDING_DIM), 0.05, np.float32))
    rows = table_inputs(model, table, cache, bank).numpy()
    assert rows.shape == (3, EMBEDDING_DIM + EXAMPLE_DIM)
    assert (rows[[0, 2], :EMBEDDING_DIM] == 0.05).all() and (rows[[0, 2], EMBEDDING_DIM:] == 0).all()
    assert (rows[1, :EMBEDDING_DIM] == 0).all() and (rows[1, EMBEDDING_DIM:] == np.arange(EXAMPLE_DIM)).all()

    plain = ReferringSegmenter(ModelConfig(query_encoder="text", **TINY))
    assert list(supported(plain, table)["kind"]) == ["description", "label"]
    assert list(supported(model, table)["kind"]) == ["description", "example", "label"]
    with pytest.raises(QueryError, match="without example queries"):
        query_inputs(plain, ["dog_1"], cache, kinds=["example"], examples=bank)


# ---------------------------------------------------------------- arseg segment --example


@pytest.fixture(scope="module")
def example_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("example_models")
    torch.manual_seed(0)
    paths = {"example": root / "example.pt", "text": root / "text.pt"}
    save_model(ReferringSegmenter(ModelConfig(query_encoder="text", example_dim=EXAMPLE_DIM,
                                              example_labels=["bell", "door"], **TINY)).eval(), paths["example"])
    save_model(ReferringSegmenter(ModelConfig(query_encoder="text", **TINY)).eval(), paths["text"])
    return paths


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def noise(seconds, rate=RATE, channels=1, seed=0):
    return (np.random.default_rng(seed).standard_normal((int(seconds * rate), channels)) * 0.1).astype(np.float32)


def test_segment_with_example_clips(example_models, tmp_path, capsys):
    recording = tmp_path / "street.wav"
    sf.write(recording, noise(9.0), RATE)
    door = tmp_path / "door.flac"
    sf.write(door, noise(1.5, 44100, 2, seed=1), 44100)  # any format, rate and channel count
    bell = tmp_path / "bell clip.mp3"
    sf.write(bell, noise(2.0, 22050, 1, seed=2), 22050)
    code, out, err = run(capsys, "segment", recording, "--model", example_models["example"], "--example", door,
                         "-e", bell, "--out", tmp_path / "out", "--json", "--plot")
    assert code == 0, err
    results = json.loads(out)["files"][0]["results"]
    assert [(r["query"], r["kind"]) for r in results] == [(str(door), "example"), (str(bell), "example")]
    assert [r["tsv"] for r in results] == [str(tmp_path / "out" / "street.example-door.tsv"),
                                           str(tmp_path / "out" / f"street.example-{safe_name('bell clip')}.tsv")]
    assert safe_name("bell clip").startswith("bell_clip-")
    assert all((tmp_path / "out" / f"{r['tsv'][:-4]}.png").exists() for r in results)
    # Two clips of one name in two folders: each answered, under names of their own.
    (tmp_path / "other").mkdir()
    other = tmp_path / "other" / "Door.wav"
    sf.write(other, noise(1.0, seed=3)[:, 0], RATE)
    code, out, err = run(capsys, "segment", recording, "--model", example_models["example"], "-e", door,
                         "-e", other, "--out", tmp_path / "out2", "--json")
    assert code == 0, err
    names = [Path(r["tsv"]).name.lower() for r in json.loads(out)["files"][0]["results"]]
    assert len(set(names)) == 2 and all(n.startswith("street.example-door-") for n in names), names
    # One clip named twice is asked once, under its plain name.
    code, out, err = run(capsys, "segment", recording, "--model", example_models["example"], "-e", door,
                         "-e", tmp_path / "." / door.name, "--out", tmp_path / "out3", "--json")
    assert code == 0, err
    assert [Path(r["tsv"]).name for r in json.loads(out)["files"][0]["results"]] == ["street.example-door.tsv"]


def test_example_clips_are_decoded_with_the_models_example_decoding(tmp_path, capsys):
    """A model whose text decoding keeps every bin (threshold 0) and whose example decoding
    keeps none (a gate no score reaches): the text query answers, the example does not; an
    override on the command line (--gate 0: none) applies to both."""
    torch.manual_seed(0)
    model = ReferringSegmenter(ModelConfig(query_encoder="text", example_dim=EXAMPLE_DIM, example_labels=["bell", "door"],
                                           threshold=0.0, gate=0.0, merge_gap=1.0, **TINY)).eval()
    model.cfg.example_decoding = {"threshold": 0.0, "gate": 1.0, "merge_gap": 1.0}
    save_model(model, tmp_path / "model.pt")
    recording, door = tmp_path / "street.wav", tmp_path / "door.wav"
    sf.write(recording, noise(6.0), RATE)
    sf.write(door, noise(1.5, seed=1), RATE)
    argv = ["segment", recording, "--model", tmp_path / "model.pt", "--example", door, "-q", "a door", "--json",
            "--no-cache"]
    code, out, err = run(capsys, *argv, "--out", tmp_path / "out")
    assert code == 0, err
    report = json.loads(out)
    assert (report["threshold"], report["gate"]) == (0.0, 0.0)
    assert report["example_decoding"]["gate"] == 1.0
    answered = {r["kind"]: len(r["segments"]) for r in report["files"][0]["results"]}
    assert answered["text"] > 0 and answered["example"] == 0
    code, out, err = run(capsys, *argv, "--gate", "0", "--out", tmp_path / "out2")
    assert code == 0, err
    assert all(r["segments"] for r in json.loads(out)["files"][0]["results"])


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such file"),
    ("unreadable", "not a readable audio file"),
    ("silent", "silent"),
    ("too long", "example clip is 4.50 s long; the model takes examples of at most 4 s"),
    ("too short", "example clip is 10 ms long; the model takes examples of at least 46 ms"),
    ("plain model", "trained without example queries"),
])
def test_a_bad_example_clip_stops_the_command_and_writes_nothing(example_models, tmp_path, capsys, case, expected):
    recording = tmp_path / "street.wav"
    sf.write(recording, noise(3.0), RATE)
    clip, model = tmp_path / "clip.wav", example_models["example"]
    if case == "unreadable":
        clip.write_text("not audio")
    elif case == "silent":
        sf.write(clip, np.zeros(RATE, np.float32), RATE)
    elif case == "too long":
        sf.write(clip, noise(4.5)[:, 0], RATE)
    elif case == "too short":
        sf.write(clip, noise(0.01)[:, 0], RATE)
    elif case == "plain model":
        sf.write(clip, noise(1.0)[:, 0], RATE)
        model = example_models["text"]
    code, out, err = run(capsys, "segment", recording, "--model", model, "--example", clip,
                         "--out", tmp_path / "out")
    assert code == 2
    assert expected in err and str(clip) in err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "out").exists()



def test_an_example_a_few_samples_past_the_window_is_cut_to_it():
    """A clip exported as 4 s can hold a sample more (at 44.1 kHz, or once resampled): it is
    taken, cut to the window; 20 ms more is a clip too long."""
    from arseg.model.examples import ExampleError, fit_length

    assert len(fit_length("clip.wav", np.ones(4 * RATE + 1, np.float32), RATE, 4.0)) == 4 * RATE
    assert len(fit_length("clip.wav", np.ones(RATE, np.float32), RATE, 4.0)) == RATE
    with pytest.raises(ExampleError, match="clip.wav: example clip is 4.02 s long"):
        fit_length("clip.wav", np.ones(int(4.02 * RATE), np.float32), RATE, 4.0)


def test_a_label_the_model_never_heard_in_training_gets_a_note(example_models, tmp_path, capsys, monkeypatch):
    """A text model asks any label as text; a slip (dgo) would otherwise pass unseen."""
    monkeypatch.setenv("ARSEG_CACHE_DIR", str(tmp_path / "cache"))
    recording = tmp_path / "street.wav"
    sf.write(recording, noise(3.0), RATE)
    code, out, err = run(capsys, "segment", recording, "--model", example_models["example"], "-l", "dgo", "-l", "door",
                         "--out", tmp_path / "out")
    assert code == 0, err
    assert ("--label 'dgo' is not one of the 2 categories this model was trained on (bell, door); it is asked as a "
            "text query") in err
    assert "'door' is not one" not in err
