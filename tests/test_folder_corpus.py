"""A user's own folder corpus: clips in any format, found by a `file` column or by id, a table
without a split column, and a clear error (file and line) for each bad table or file."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from arseg.data.corpus.check import check_corpus, split_gaps
from arseg.data.corpus.splits import assign_splits
from arseg.data.corpus.table import SPLITS, CorpusError, read_clips
from arseg.data.mixtures import ClipLoader

RATE = 16000


def noise_burst(seconds, rate, seed, channels=1):
    rng = np.random.default_rng(seed)
    audio = 0.3 * rng.standard_normal((int(seconds * rate), channels)) * np.hanning(int(seconds * rate))[:, None]
    return audio if channels > 1 else audio[:, 0]


# (extension, soundfile format, rate, channels): every format a user brings, at other rates
FORMATS = [("wav", "WAV", 44100, 2), ("flac", "FLAC", 22050, 1), ("ogg", "OGG", 48000, 2), ("mp3", "MP3", 32000, 1)]


@pytest.fixture
def folder(tmp_path):
    """Four categories of five clips, in WAV, FLAC, OGG and MP3; half named by a `file` column
    in a folder of the user's own layout, half found as audio/<clip_id>.<ext>; no split column."""
    rows = []
    for c, category in enumerate(["dog", "door", "rain", "engine"]):
        for k in range(5):
            ext, fmt, rate, channels = FORMATS[(c + k) % 4]
            clip_id = f"{category}_{k}"
            seconds = 0.5 + 0.25 * k
            if k % 2:
                file = f"my recordings/{category}/take {k}.{ext}"
            else:
                file = ""
            path = tmp_path / (file or f"audio/{clip_id}.{ext}")
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, noise_burst(seconds, rate, seed=10 * c + k, channels=channels), rate, format=fmt)
            rows.append([clip_id, category, f"a {category} sound", seconds, file])
    pd.DataFrame(rows, columns=["clip_id", "category", "description", "duration", "file"]).to_csv(
        tmp_path / "clips.tsv", sep="\t", index=False)
    return tmp_path


def test_mixed_formats_without_split_are_decoded_and_split(folder, tmp_path_factory):
    table = read_clips(folder / "clips.tsv", split_seed=0)
    assert list(table["split"].value_counts().sort_index().items()) == [("test", 4), ("train", 12), ("val", 4)]
    for _, clips in table.groupby("category"):
        assert sorted(clips["split"]) == ["test", "train", "train", "train", "val"]  # 60/20/20 of 5
    out = tmp_path_factory.mktemp("decoded")
    accepted, rejected = check_corpus(table, folder, RATE, out_audio=out, table_path=folder / "clips.tsv")
    assert rejected.empty, rejected
    assert sorted(accepted["clip_id"]) == sorted(table["clip_id"])
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{c}.wav" for c in table["clip_id"])
    loader = ClipLoader(out, RATE)
    for clip in accepted.itertuples():
        info = sf.info(out / f"{clip.clip_id}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (RATE, 1, "PCM_16")
        # MP3 pads a few ms of encoder delay; everything else keeps its length
        assert clip.duration == pytest.approx(table.set_index("clip_id").loc[clip.clip_id, "duration"], abs=0.06)
        assert np.abs(loader(clip.clip_id)).max() > 0.05
    notes = accepted.set_index("clip_id")["note"]
    assert "resampled from 44100 Hz" in notes["dog_0"] and "downmixed from 2 channels" in notes["dog_0"]
    assert accepted.set_index("clip_id").loc["dog_1", "source_file"] == "my recordings/dog/take 1.flac"
    assert accepted.set_index("clip_id").loc["dog_0", "source_file"] == "audio/dog_0.wav"


def test_the_split_is_seeded_and_a_table_split_is_kept(folder):
    first = read_clips(folder / "clips.tsv", split_seed=0)["split"].tolist()
    assert read_clips(folder / "clips.tsv", split_seed=0)["split"].tolist() == first
    assert any(read_clips(folder / "clips.tsv", split_seed=s)["split"].tolist() != first for s in range(1, 5))
    table = pd.read_csv(folder / "clips.tsv", sep="\t", keep_default_na=False).assign(split="test")
    table.to_csv(folder / "clips.tsv", sep="\t", index=False)
    assert set(read_clips(folder / "clips.tsv", split_seed=0)["split"]) == {"test"}


def test_split_keeps_groups_together_and_fills_every_split():
    categories = ["a"] * 10 + ["b"] * 30
    groups = [f"a{i // 4}" for i in range(10)] + [f"b{i // 2}" for i in range(30)]
    splits = assign_splits(categories, groups, seed=3)
    by_group = {}
    for group, split in zip(groups, splits):
        by_group.setdefault(group, set()).add(split)
    assert all(len(s) == 1 for s in by_group.values())
    for category, n in (("a", 10), ("b", 30)):
        counts = pd.Series([s for c, s in zip(categories, splits) if c == category]).value_counts()
        assert set(counts.index) == set(SPLITS)
        if category == "b":  # groups of 2 can land 60/20/20 exactly
            assert counts.to_dict() == {"train": 18, "val": 6, "test": 6}
    # a category's split does not depend on the other categories
    assert assign_splits(categories[10:], groups[10:], seed=3) == splits[10:]


def write_table(tmp_path, rows, columns=("clip_id", "category", "description", "duration", "file")):
    pd.DataFrame(rows, columns=list(columns)).to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    return tmp_path / "clips.tsv"


@pytest.mark.parametrize("file, message", [
    ("../outside.wav", r"clips.tsv:3: file '../outside.wav' is not a relative path inside the corpus folder"),
    ("/etc/passwd", r"clips.tsv:3: file '/etc/passwd' is not a relative path"),
    ("audio\\x.wav", r"clips.tsv:3: file 'audio\\\\x.wav' is not a relative path"),
    ("audio//x.wav", r"clips.tsv:3: file 'audio//x.wav' has an empty folder name \(//\)"),
    ("audio/sub/", r"clips.tsv:3: file 'audio/sub/' names a folder; give the audio file in it"),
])
def test_file_entries_outside_the_folder_stop_with_file_and_line(tmp_path, file, message):
    path = write_table(tmp_path, [["ok", "dog", "d", 1.0, "audio/ok.wav"], ["bad", "dog", "d", 1.0, file]])
    with pytest.raises(CorpusError, match=message):
        read_clips(path, split_seed=0)


def test_bad_tables_stop_with_file_and_line(tmp_path):
    path = tmp_path / "clips.tsv"
    path.write_text("clip_id\tcategory\tdescription\tduration\nok\tdog\td\t1.0\nbad\tdog\td\t1.0\textra\n")
    with pytest.raises(CorpusError, match=r"clips.tsv:3: 5 fields, the header has 4"):
        read_clips(path, split_seed=0)
    path.write_text("clip_id\tcategory\tdescription\tduration\nok\tdog\td\t1.0\n")
    with pytest.raises(CorpusError, match=r"clips.tsv: missing column\(s\) \['split'\]"):
        read_clips(path)  # no seed: the split column is required
    assert read_clips(path, split_seed=0)["split"].tolist() == ["train"]
    path.write_text("clip_id\tcategory\tdescription\n")
    with pytest.raises(CorpusError, match=r"clips.tsv: missing column\(s\) \['duration'\]"):
        read_clips(path, split_seed=0)
    with pytest.raises(CorpusError, match=r"is a folder; expected the corpus table"):
        read_clips(tmp_path, split_seed=0)
    path.write_bytes(b"\xff\xfe\x00garbage\x00\xff")
    with pytest.raises(CorpusError, match=r"clips.tsv:1: not UTF-8 text \(byte 0xff\); save the table as UTF-8"):
        read_clips(path, split_seed=0)
    path.write_bytes(b"\xef\xbb\xbf" + HEADER.encode() + b"a\tdog\td\t1.0\nb\tcaf\xe9\td\t1.0\n")  # Latin-1, after a BOM
    with pytest.raises(CorpusError, match=r"clips.tsv:3: not UTF-8 text \(byte 0xe9\)"):
        read_clips(path, split_seed=0)


HEADER = "clip_id\tcategory\tdescription\tduration\n"


@pytest.mark.parametrize("text, message", [
    # a description opening a quote it never closes would swallow the clips after it
    (HEADER + 'a\tdog\t"small dog\t1.0\nb\tdog\tgrowls\t1.0\nc\tdog\tbig dog"\t1.0\n',
     r"clips.tsv:2: a field runs over lines 2-4: an unclosed \" quote\?"),
    (HEADER + 'a\tdog\td\t1.0\nb\tdog\t"small dog\t1.0\n',
     r"clips.tsv:3: a field runs from here to the end of the table: an unclosed \" quote\?"),
    # read loosely, the quotes would vanish from the description
    (HEADER + 'a\tdog\t"Thud" of a door\t1.0\n',
     r'clips.tsv:2: a field opens with a " quote and goes on after its closing quote; quote the whole field'),
    (HEADER + "a\tdog\td\t1.0\nb\tdog\td\n", r"clips.tsv:3: 3 fields, the header has 4"),
    (HEADER + "a\tdog\td\t1.0\n\n\nb\tdog\td\tlong\n", r"clips.tsv:5: duration 'long'"),  # blank lines counted
    (HEADER + "a\tdog\td\tinf\n", r"clips.tsv:2: duration 'inf' is not a positive number"),
    (HEADER + "dog1\tdog\td\t1.0\n\nDOG1\tdog\td\t1.0\n",
     r"clips.tsv:4: clip_id 'DOG1' differs from 'dog1' \(line 2\) only in case; rename one"),
    (HEADER.replace("\t", ","), r"missing column.*it has no tab: the table must be tab-separated"),
    (HEADER, r"clips.tsv: no clips, only a header line"),
    (HEADER.replace("\n", "\tSplit\n") + "a\tdog\td\t1.0\ttest\n", r"clips.tsv:1: column 'Split': did you mean 'split'\?"),
    (HEADER.replace("\n", "\tx\tx\n") + "a\tdog\td\t1.0\t1\t2\n", r"clips.tsv:1: column 'x' appears twice"),
    (HEADER.replace("\n", "\t\n") + "a\tdog\td\t1.0\t\n", r"clips.tsv:1: an empty column name"),
    (HEADER + "a\tdog\td\t1.0\nb\tDog \td\t1.0\n",
     r"clips.tsv:3: category 'Dog ' reads as the same label as 'dog' \(line 2\); write them alike"),
])
def test_table_mistakes_stop_with_file_line_and_what_was_expected(tmp_path, text, message):
    path = tmp_path / "clips.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        read_clips(path, split_seed=0)


def test_quotes_as_pandas_writes_them_and_windows_line_ends_read_back(tmp_path):
    table = pd.DataFrame([["a", "dog", 'a "small" dog', 1.0, "train", "x\ty"]],
                         columns=["clip_id", "category", "description", "duration", "split", "credit"])
    table.to_csv(tmp_path / "clips.tsv", sep="\t", index=False)
    back = read_clips(tmp_path / "clips.tsv")
    assert back["description"].tolist() == ['a "small" dog'] and back["credit"].tolist() == ["x\ty"]
    (tmp_path / "quoted.tsv").write_text(HEADER + 'a\tdog\t"""Thud"" of a door"\t1.0\n', encoding="utf-8")
    assert read_clips(tmp_path / "quoted.tsv", split_seed=0)["description"].tolist() == ['"Thud" of a door']
    (tmp_path / "crlf.tsv").write_bytes(b"\xef\xbb\xbf" + HEADER.replace("\n", "\r\n").encode()
                                        + b"a\tdog\td\t1.5\r\n")
    assert read_clips(tmp_path / "crlf.tsv", split_seed=0)["duration"].tolist() == [1.5]


def test_bad_files_are_rejected_naming_the_table_line_and_the_file(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "good.ogg", noise_burst(1.0, RATE, 0), RATE, format="OGG")
    (tmp_path / "audio" / "broken.mp3").write_bytes(b"ID3 this is not an mp3 at all" * 20)
    (tmp_path / "audio" / "zero.flac").write_bytes(b"")
    sf.write(tmp_path / "audio" / "quiet.wav", np.zeros(RATE), RATE)
    path = write_table(tmp_path, [["good", "dog", "d", 1.0, ""], ["broken", "dog", "d", 1.0, "audio/broken.mp3"],
                                  ["gone", "dog", "d", 1.0, "audio/gone.wav"], ["noid", "dog", "d", 1.0, ""],
                                  ["zero", "dog", "d", 1.0, ""], ["quiet", "dog", "d", 1.0, ""]])
    accepted, rejected = check_corpus(read_clips(path, split_seed=0), tmp_path, RATE, table_path=path)
    assert accepted["clip_id"].tolist() == ["good"]
    found = rejected.set_index("clip_id")
    assert found["problem"].to_dict() == {"broken": "unreadable", "gone": "missing", "noid": "missing",
                                          "zero": "empty", "quiet": "silent"}
    expected = {"broken": ("clips.tsv:3: ", "broken.mp3"), "gone": ("clips.tsv:4: ", "gone.wav"),
                "noid": ("clips.tsv:5: ", "no audio/noid.<wav|flac|ogg|mp3"), "zero": ("clips.tsv:6: ", "zero.flac"),
                "quiet": ("clips.tsv:7: ", "quiet.wav")}
    for clip_id, (line, name) in expected.items():
        assert line in found.loc[clip_id, "detail"] and name in found.loc[clip_id, "detail"], found.loc[clip_id]


@pytest.mark.parametrize("column", ["note", "source_file"])
def test_a_column_the_checked_table_adds_stops_the_check(tmp_path, column):
    path = write_table(tmp_path, [["a", "dog", "d", 1.0, "mine"]],
                       columns=("clip_id", "category", "description", "duration", column))
    with pytest.raises(CorpusError, match=rf"clips.tsv: column '{column}' is one the checked table adds; rename it"):
        check_corpus(read_clips(path, split_seed=0), tmp_path, RATE, table_path=path)


def test_a_file_cut_short_is_rejected_as_truncated(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "whole.wav", noise_burst(1.0, RATE, 0), RATE, subtype="PCM_16")
    data = (tmp_path / "audio" / "whole.wav").read_bytes()
    (tmp_path / "audio" / "cut.wav").write_bytes(data[:len(data) // 2])
    sf.write(tmp_path / "audio" / "long.mp3", noise_burst(4.0, RATE, 1), RATE, format="MP3")
    data = (tmp_path / "audio" / "long.mp3").read_bytes()
    (tmp_path / "audio" / "short.mp3").write_bytes(data[:len(data) // 2])
    path = write_table(tmp_path, [["whole", "dog", "d", 1.0, ""], ["cut", "dog", "d", 1.0, ""],
                                  ["long", "cat", "d", 4.0, ""], ["short", "cat", "d", 4.0, ""]])
    accepted, rejected = check_corpus(read_clips(path, split_seed=0), tmp_path, RATE, table_path=path)
    assert accepted["clip_id"].tolist() == ["whole", "long"]
    assert rejected["problem"].tolist() == ["truncated", "truncated"]
    assert rejected.loc[0, "detail"].startswith(f"{path}:3: ") and "cut.wav: cut short: its header declares 1.00 s" \
        in rejected.loc[0, "detail"]
    assert rejected.loc[1, "detail"].startswith(f"{path}:5: ") and "short.mp3: cut short: its header declares 4.00 s" \
        in rejected.loc[1, "detail"]


def test_a_group_stays_in_one_split(tmp_path):
    rows = [[f"c{k}", "dog", "d", 1.0, "", f"take{k // 4}" if k < 8 else ""] for k in range(12)]
    path = write_table(tmp_path, rows, columns=("clip_id", "category", "description", "duration", "file", "group"))
    for seed in range(5):
        splits = read_clips(path, split_seed=seed).set_index("clip_id")["split"]
        assert splits[[f"c{k}" for k in range(4)]].nunique() == 1 and splits[[f"c{k}" for k in range(4, 8)]].nunique() == 1
        assert set(splits) == {"train", "val", "test"}  # the clips without a group are groups of their own


def test_blank_lines_keep_the_line_numbers_of_rejected_clips(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "good.wav", noise_burst(1.0, RATE, 0), RATE)
    path = tmp_path / "clips.tsv"
    path.write_text("clip_id\tcategory\tdescription\tduration\ngood\tdog\td\t1.0\n\n\ngone\tdog\td\t1.0\n")
    _, rejected = check_corpus(read_clips(path, split_seed=0), tmp_path, RATE, table_path=path)
    assert rejected.loc[0, "detail"].startswith(f"{path}:5: ")


def test_one_audio_file_under_two_clips_is_noted_and_split_gaps_are_named(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "a.wav", noise_burst(1.0, RATE, 0), RATE)
    path = write_table(tmp_path, [["a", "dog", "d", 1.0, "", "train"], ["b", "dog", "d", 1.0, "audio/a.wav", "test"]],
                       columns=("clip_id", "category", "description", "duration", "file", "split"))
    accepted, _ = check_corpus(read_clips(path), tmp_path, RATE)
    assert accepted["note"].tolist() == ["", "the same audio file as clip a"]
    assert split_gaps(accepted) == ["category 'dog': no clip in val (2 accepted)"]


def test_a_clip_found_by_id_in_two_formats_is_read_once_and_noted(tmp_path):
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "x.flac", noise_burst(0.5, RATE, 1), RATE, format="FLAC")
    sf.write(tmp_path / "audio" / "x.WAV", noise_burst(1.0, RATE, 2), RATE, format="WAV")
    path = write_table(tmp_path, [["x", "dog", "d", 1.0]], columns=("clip_id", "category", "description", "duration"))
    accepted, rejected = check_corpus(read_clips(path, split_seed=0), tmp_path, RATE)
    assert rejected.empty
    # WAV comes first in the search order, whatever the case of its extension
    assert accepted.loc[0, "note"] == "several files for this id; read x.WAV"
    assert accepted.loc[0, "duration"] == pytest.approx(1.0)


def test_the_workflow_tracks_each_file_the_table_reads_not_the_folder(folder):
    """audio_files lists what check_corpus reads (a `file` entry, or audio/<clip_id>.<ext>):
    a stray file beside the clips is not an input, so adding one reruns nothing, nor is a clip
    of a category that corpus.categories leaves out; a clip whose
    file is missing is not listed (the check rejects it), nor anything of a broken table."""
    from arseg.data.corpus.table import audio_files, has_split_column

    (folder / "notes.txt").write_text("recorded in May")
    (folder / "audio" / "stray.wav").write_bytes(b"RIFF")
    table = read_clips(folder / "clips.tsv", split_seed=0)
    expected = sorted((folder / f if f else next((folder / "audio").glob(f"{c}.*")))
                      for c, f in zip(table["clip_id"], table["file"]))
    assert audio_files(folder / "clips.tsv") == expected and len(expected) == 20
    kept = [path for path in expected if {path.name.split("_")[0], path.parent.name} & {"dog", "rain"}]
    assert audio_files(folder / "clips.tsv", ["dog", "rain"]) == kept and len(kept) == 10
    (expected[0]).unlink()
    assert audio_files(folder / "clips.tsv") == expected[1:]
    assert not has_split_column(folder / "clips.tsv")
    table.to_csv(folder / "split.tsv", sep="\t", index=False)
    assert has_split_column(folder / "split.tsv")
    (folder / "clips.tsv").write_text("clip_id\tcategory\n\"a\tdog\n")  # an unclosed quote
    assert audio_files(folder / "clips.tsv") == [] and audio_files(folder / "missing.tsv") == []


def test_a_corpus_with_no_usable_clip_one_category_or_an_empty_split_stops_saying_why(tmp_path):
    from arseg.data.corpus.check import check_usable

    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "bad.wav").write_bytes(b"not audio at all" * 10)
    sf.write(tmp_path / "audio" / "good.wav", noise_burst(1.0, RATE, 0), RATE)
    path = write_table(tmp_path, [["bad", "dog", "d", 1.0, ""], ["gone", "cat", "d", 1.0, ""]])
    accepted, rejected = check_corpus(read_clips(path, split_seed=0), tmp_path, RATE, table_path=path)
    with pytest.raises(CorpusError, match=r"no usable clip; the 2 rejected:\n  bad: unreadable: .*\n  gone: missing"):
        check_usable(accepted, rejected, path)
    path = write_table(tmp_path, [["good", "dog", "d", 1.0, ""], ["bad", "cat", "d", 1.0, ""]])
    accepted, rejected = check_corpus(read_clips(path, split_seed=0), tmp_path, RATE, table_path=path)
    with pytest.raises(CorpusError, match=r"every usable clip is of one category \(dog\); .* needs two or more"):
        check_usable(accepted, rejected, path)
    for k in range(4):  # a split column of train and test only, as many datasets ship
        sf.write(tmp_path / "audio" / f"c{k}.wav", noise_burst(1.0, RATE, k), RATE)
    rows = [[f"c{k}", ["dog", "cat"][k % 2], "d", 1.0, "", ["train", "test"][k // 2]] for k in range(4)]
    path = write_table(tmp_path, rows, columns=("clip_id", "category", "description", "duration", "file", "split"))
    accepted, rejected = check_corpus(read_clips(path), tmp_path, RATE, table_path=path)
    with pytest.raises(CorpusError, match=r"clips.tsv: no usable clip in the val split \(usable clips: train 2, test 2\); "
                                          r".* or leave the column out and corpus.split_seed assigns"):
        check_usable(accepted, rejected, path)


def test_corpus_path_must_be_the_folder_that_holds_the_table(folder, tmp_path, monkeypatch):
    from arseg.configs import ConfigError, check_corpus_path

    monkeypatch.chdir(folder)
    check_corpus_path(".")
    for path, message in [("clips.tsv", r"corpus.path: clips.tsv is a file; give the folder .* \(corpus.path: \.\)"),
                          ("elsewhere", r"corpus.path: no folder elsewhere \(relative paths start at "),
                          ("audio", r"corpus.path: audio holds no clips.tsv"),
                          ("", r"corpus.path: required when corpus.source is 'folder'")]:
        with pytest.raises(ConfigError, match=message):
            check_corpus_path(path)
