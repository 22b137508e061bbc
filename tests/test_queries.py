"""Queries: positives per present category (label and description), negatives absent."""
import pandas as pd

from arseg.data.queries import make_queries

CLIPS = pd.DataFrame({
    "clip_id": ["bell_0", "dog_0", "car_0", "siren_0"],
    "category": ["bell", "dog", "car", "siren"],
    "description": ["a bell rings twice", "a dog barks", "a car passes", "a siren wails"],
    "duration": [1.0] * 4,
    "split": ["test"] * 4,
})
EVENTS = pd.DataFrame({
    "filename": ["test_00000.wav", "test_00000.wav", "test_00001.wav"],
    "onset": [0.5, 2.0, 1.0], "offset": [1.5, 3.0, 2.0],
    "event_label": ["bell", "dog", "car"],
    "clip_id": ["bell_0", "dog_0", "car_0"],
    "description": ["a bell rings twice", "a dog barks", "a car passes"],
    "snr_db": [10.0, 5.0, 0.0],
})


def test_positive_and_negative_queries():
    queries = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=1, seed=0)
    first = queries[queries["filename"] == "test_00000.wav"]
    positives = first[first["positive"] == 1]
    assert sorted(zip(positives["kind"], positives["text"])) == [
        ("description", "a bell rings twice"), ("description", "a dog barks"), ("label", "bell"), ("label", "dog")]
    negatives = first[first["positive"] == 0]
    assert len(negatives) == 2 and set(negatives["kind"]) == {"label", "description"}
    assert negatives["target_label"].nunique() == 1
    assert not set(negatives["target_label"]) & {"bell", "dog"}
    assert queries["query_id"].is_unique


def test_queries_are_deterministic_and_seeded():
    a = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=2, seed=0)
    b = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=2, seed=0)
    pd.testing.assert_frame_equal(a, b)
    assert len(make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=0, seed=0)) == 6


def test_a_later_set_asks_what_the_whole_split_asks_of_its_mixtures():
    """make_queries with `first` (the index of the set's first mixture) draws each mixture's
    queries as the whole split's table does."""
    whole = make_queries(EVENTS, CLIPS, "test", negatives_per_mixture=2, seed=0)
    later = make_queries(EVENTS[EVENTS["filename"] == "test_00001.wav"], CLIPS, "test", negatives_per_mixture=2,
                         seed=0, first=1)
    pd.testing.assert_frame_equal(later, whole[whole["filename"] == "test_00001.wav"].reset_index(drop=True))
    unshifted = make_queries(EVENTS[EVENTS["filename"] == "test_00001.wav"], CLIPS, "test", negatives_per_mixture=2,
                             seed=0)
    assert not unshifted.equals(later)
