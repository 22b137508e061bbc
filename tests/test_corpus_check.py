"""Corpus faults: each bad clip is skipped with a named problem, the rest goes on."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arseg.data.corpus.check import check_corpus
from arseg.data.corpus.table import CorpusError, read_clips
from arseg.data.mixtures import ClipLoader

RATE = 16000


def tone(seconds=1.0, rate=RATE, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    audio = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([audio] * channels, axis=1) if channels > 1 else audio


@pytest.fixture
def corpus(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    rows = []

    def add(clip_id, duration=1.0, description="a tone", writer=None):
        rows.append([clip_id, "tone", description, duration, "train"])
        if writer:
            writer(audio / f"{clip_id}.wav")

    add("good", writer=lambda p: sf.write(p, tone(), RATE))
    add("missing")
    add("garbage", writer=lambda p: p.write_bytes(b"this is not audio at all" * 10))
    add("truncated", writer=lambda p: (sf.write(p, tone(), RATE), p.write_bytes(p.read_bytes()[:30])))
    add("empty", writer=lambda p: sf.write(p, np.zeros(0), RATE))
    add("silent", writer=lambda p: sf.write(p, np.zeros(RATE), RATE))
    add("nan", writer=lambda p: sf.write(p, np.full(RATE, np.nan), RATE, subtype="FLOAT"))
    add("inf", writer=lambda p: sf.write(p, np.r_[tone(0.5), [np.inf]], RATE, subtype="FLOAT"))
    add("stereo_44k", writer=lambda p: sf.write(p, tone(rate=44100, channels=2), 44100))
    add("wrong_duration", duration=3.0, writer=lambda p: sf.write(p, tone(), RATE))
    add("no_description", description="", writer=lambda p: sf.write(p, tone(), RATE))
    table = pd.DataFrame(rows, columns=["clip_id", "category", "description", "duration", "split"])
    table.to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    return tmp_path


def test_bad_clips_are_rejected_with_their_problem(corpus):
    accepted, rejected = check_corpus(read_clips(corpus / "clips.tsv"), corpus, RATE)
    problems = dict(zip(rejected["clip_id"], rejected["problem"]))
    assert problems == {"missing": "missing", "garbage": "unreadable", "truncated": "unreadable",
                        "empty": "empty", "silent": "silent", "nan": "non-finite", "inf": "non-finite"}
    assert all("garbage.wav" in d for d in rejected.loc[rejected["clip_id"] == "garbage", "detail"])
    notes = dict(zip(accepted["clip_id"], accepted["note"]))
    assert set(notes) == {"good", "stereo_44k", "wrong_duration", "no_description"}
    assert "resampled from 44100 Hz" in notes["stereo_44k"] and "downmixed from 2" in notes["stereo_44k"]
    assert "3 s in the table" in notes["wrong_duration"]
    assert accepted.set_index("clip_id").loc["wrong_duration", "duration"] == pytest.approx(1.0)
    assert notes["good"] == ""


def test_loader_resamples_and_downmixes_kept_clips(corpus):
    audio = ClipLoader(corpus / "audio", RATE)("stereo_44k")
    assert audio.ndim == 1 and abs(len(audio) - RATE) <= 2


@pytest.mark.parametrize("clip_id", ["../x", "/etc/passwd", "a b", "ümlaut", ".", "..", ".hidden", ""])
def test_unsafe_clip_ids_stop_with_file_and_line(tmp_path, clip_id):
    table = pd.DataFrame([["ok", "tone", "d", 1.0, "train"], [clip_id, "tone", "d", 1.0, "train"]],
                         columns=["clip_id", "category", "description", "duration", "split"])
    table.to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    with pytest.raises(CorpusError, match=r"clips.tsv:3: clip_id"):
        read_clips(tmp_path / "clips.tsv")


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns=["split"]), r"missing column\(s\) \['split'\]"),
    (lambda t: pd.concat([t, t]), r"clips.tsv:3: duplicate clip_id 'ok'"),
    (lambda t: t.assign(split="training"), r"clips.tsv:2: split 'training'"),
    (lambda t: t.assign(duration="long"), r"clips.tsv:2: duration 'long'"),
    (lambda t: t.assign(duration=-1.0), r"clips.tsv:2: duration"),
])
def test_broken_tables_stop_with_file_and_line(tmp_path, change, message):
    table = pd.DataFrame([["ok", "tone", "d", 1.0, "train"]],
                         columns=["clip_id", "category", "description", "duration", "split"])
    change(table).to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    with pytest.raises(CorpusError, match=message):
        read_clips(tmp_path / "clips.tsv")
