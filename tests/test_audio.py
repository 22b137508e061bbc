"""io.audio, the one module that decodes and encodes audio: its own WAV parser and encoder give
exactly what libsndfile gives, and anything unusual goes through libsndfile."""
import io

import numpy as np
import pytest
import soundfile as sf

from arseg.io import audio
from arseg.io.audio import pcm16_wav, read_mono, write_wav


def noise(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 0.3, (frames, channels)).astype(np.float32)
    x[:3] = [[1.0] * channels, [-1.0] * channels, [1.5] * channels]  # the ends of the range, and beyond
    return x[:, 0] if channels == 1 else x


@pytest.mark.parametrize("channels", [1, 2])
def test_the_wav_encoder_writes_libsndfiles_bytes(channels):
    x = noise(16000, channels)
    buffer = io.BytesIO()
    sf.write(buffer, x, 16000, subtype="PCM_16", format="WAV")
    assert bytes(pcm16_wav(x, 16000)) == buffer.getvalue()
    assert bytes(pcm16_wav(x.astype(np.float64), 16000)) == buffer.getvalue()


@pytest.mark.parametrize("channels,rate", [(1, 16000), (2, 16000), (1, 44100), (3, 8000)])
def test_plain_wavs_read_as_libsndfile_reads_them(tmp_path, monkeypatch, channels, rate):
    path = tmp_path / "x.wav"
    write_wav(path, noise(rate // 2, channels), rate)
    assert audio._plain_wav(path) is not None  # the workflow's own files take the direct path
    direct, meta = read_mono(path, 16000)
    monkeypatch.setattr(audio, "_plain_wav", lambda path: None)
    streamed, streamed_meta = read_mono(path, 16000)
    assert direct.dtype == np.float32 and np.array_equal(direct, streamed)
    assert (meta.sample_rate, meta.channels, meta.frames) == (streamed_meta.sample_rate, streamed_meta.channels,
                                                              streamed_meta.frames)
    if rate == 16000 and channels == 1:
        assert np.array_equal(direct, sf.read(path, dtype="float32")[0])


def read_mono_of(wav: bytes, folder) -> np.ndarray:
    (folder / "plain.wav").write_bytes(bytes(wav))
    return read_mono(folder / "plain.wav", 16000)[0]


def test_unusual_wavs_go_through_libsndfile(tmp_path):
    x = noise(8000, 1)
    cases = {"float.wav": dict(subtype="FLOAT"), "pcm24.wav": dict(subtype="PCM_24")}
    for name, options in cases.items():
        sf.write(tmp_path / name, x, 16000, **options)
    plain = pcm16_wav(x, 16000)
    (tmp_path / "trailing.wav").write_bytes(bytes(plain) + b"LIST\x04\x00\x00\x00abcd")  # a chunk after the data
    (tmp_path / "short_fmt.wav").write_bytes(bytes(plain[:30]))  # cut inside the fmt chunk
    for name in [*cases, "trailing.wav", "short_fmt.wav"]:
        assert audio._plain_wav(tmp_path / name) is None, name
    assert np.allclose(read_mono(tmp_path / "float.wav", 16000)[0], x)
    assert np.array_equal(read_mono(tmp_path / "trailing.wav", 16000)[0], read_mono_of(plain, tmp_path))
    with pytest.raises(audio.AudioError):
        read_mono(tmp_path / "short_fmt.wav", 16000)


def test_a_long_wav_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 0.25)
    path = tmp_path / "long.wav"
    write_wav(path, noise(16000, 2), 16000)
    assert audio._plain_wav(path) is None  # a block or more: libsndfile, block by block
    assert len(read_mono(path, 8000)[0]) == 8000


def test_check_decodes(tmp_path):
    write_wav(tmp_path / "good.wav", noise(1000, 1), 16000)
    assert audio.check_decodes(tmp_path / "good.wav").frames == 1000
    (tmp_path / "cut.wav").write_bytes((tmp_path / "good.wav").read_bytes()[:40])
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    for name in ("cut.wav", "junk.wav"):
        with pytest.raises(audio.AudioError):
            audio.check_decodes(tmp_path / name)


def test_wav_shortfall_finds_a_wav_cut_short_and_nothing_else(tmp_path):
    whole = pcm16_wav(np.zeros((1000, 1), np.float32) + 0.1, 8000)
    (tmp_path / "whole.wav").write_bytes(whole)
    (tmp_path / "cut.wav").write_bytes(whole[:-500])
    data = whole.index(b"data")
    streamed = whole[:data + 4] + b"\xff\xff\xff\xff" + whole[data + 8:-500]  # length left open
    (tmp_path / "streamed.wav").write_bytes(streamed)
    (tmp_path / "notes.txt").write_text("not audio")
    assert audio.wav_shortfall(tmp_path / "cut.wav") == (2000, 1500)
    for name in ("whole.wav", "streamed.wav", "notes.txt"):
        assert audio.wav_shortfall(tmp_path / name) is None


def test_a_wav_cut_after_its_header_is_truncated_not_a_crash(tmp_path):
    whole = pcm16_wav(np.zeros((1000, 1), np.float32) + 0.1, 8000)
    header = whole.index(b"data") + 8
    for held in (0, 1):  # an interrupted copy: nothing, or less than one frame, after the header
        (tmp_path / "header.wav").write_bytes(whole[:header + held])
        with pytest.raises(audio.AudioError, match=rf"header.wav: cut short: .* declares 2000 bytes .* holds {held}, "
                                                   "not a whole frame") as error:
            audio.read_mono(tmp_path / "header.wav", 8000)
        assert error.value.kind == "truncated"


def test_a_wav_whose_header_declares_no_sound_before_its_sound_says_how_to_mend_it(tmp_path):
    """A recorder stopped before it wrote the length leaves a data length of 0; libsndfile
    then reads no sound at all."""
    whole = pcm16_wav(np.zeros((1000, 1), np.float32) + 0.1, 8000)
    data = whole.index(b"data")
    (tmp_path / "open.wav").write_bytes(whole[:data + 4] + b"\0\0\0\0" + whole[data + 8:])
    with pytest.raises(audio.AudioError, match=r"open.wav: no audio in the file \(0 samples\): its header declares no "
                                               r"sound \(a data length of 0\) before 2,000 bytes of it.*--ignore-length"):
        read_mono(tmp_path / "open.wav", 8000)


def test_a_pipe_is_not_taken_for_an_empty_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(audio.AudioError, match=r"pipe.wav: not a regular file \(a pipe or a device\?\)"):
        read_mono(tmp_path / "pipe.wav", 8000)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("block", [60.0, 1.0])
def test_a_flac_cut_anywhere_keeps_what_decodes_and_says_it_was_cut(tmp_path, monkeypatch, channels, block):
    """The decoder fails where the sound stops; wherever the cut falls (a stereo FLAC's
    failed handle often cannot seek back), what decodes before it is kept and noted, even
    a tail of a few frames."""
    monkeypatch.setattr(audio, "BLOCK_SECONDS", block)
    rng = np.random.default_rng(channels)
    whole = tmp_path / "whole.flac"
    sf.write(whole, 0.3 * rng.standard_normal((10 * 16000, channels)).astype(np.float32), 16000)
    data = whole.read_bytes()
    for fraction in (0.09, 0.25, 0.33, 0.5, 0.68, 0.92, 0.995):
        cut = tmp_path / "cut.flac"
        cut.write_bytes(data[:int(len(data) * fraction)])
        samples, meta = read_mono(cut, 16000)
        assert abs(meta.duration - 10 * fraction) < 0.5, (fraction, meta.duration)
        assert meta.cut_short.startswith("cut short: its header declares 10.00 s of sound"), fraction


@pytest.mark.parametrize("fmt, rate, block", [("MP3", 44100, 60.0), ("WAV", 16000, 60.0), ("WAV", 44100, 60.0),
                                              ("FLAC", 44100, 60.0), ("FLAC", 22050, 1.0)])
def test_a_file_cut_short_reads_as_long_as_its_sound_and_says_so(tmp_path, fmt, rate, block, monkeypatch):
    """Not padded with silence up to the length its header declares: the duration reported
    is the sound's, and the file's info notes the difference. (A FLAC's decoder fails where
    its sound stops: what decodes before is kept, read in blocks of 1 s too.)"""
    monkeypatch.setattr(audio, "BLOCK_SECONDS", block)
    rng = np.random.default_rng(0)
    whole = tmp_path / f"whole.{fmt.lower()}"
    sf.write(whole, 0.3 * rng.standard_normal(10 * rate).astype(np.float32), rate, format=fmt)
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) * 4 // 10])
    samples, meta = read_mono(cut, 16000)
    assert 3.0 < meta.duration < 4.5 and abs(len(samples) / 16000 - meta.duration) < 0.05
    assert meta.declared_frames == pytest.approx(10 * rate, rel=0.01)
    assert meta.cut_short.startswith("cut short: its header declares 10.00 s of sound, the file holds ")
    full, info = read_mono(whole, 16000)
    assert info.declared_frames is None and info.cut_short == "" and len(full) == 10 * 16000
