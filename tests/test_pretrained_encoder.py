"""The pretrained encoder: fetched through pip from a local index (checked digests, nothing
partial left), loaded by the allow-listed unpickler only, and run in chunks equal to one pass."""
from __future__ import annotations

import fractions
import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from arseg.io.wheel_fetch import WheelFetchError, WheelFile, fetch_from_wheel
from arseg.model.aisfx import CheckpointError, Encoder, Trunk, load_trunk_weights, output_frames


def _helper(name: str):
    """tests/ has no __init__.py (importlib mode): load a helper module by path."""
    spec = importlib.util.spec_from_file_location(f"encoder_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FixtureServer = _helper("http_fixture").FixtureServer
runner = _helper("workflow_runner")

MEMBER = "aisfx/models/checkpoint.pth"


def checkpoint_bytes(extra=None, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    runner.aisfx_checkpoint(buffer, seed, extra)
    return buffer.getvalue()


def wheel_bytes(member: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(MEMBER, member)
        z.writestr("aisfx/__init__.py", "")
        z.writestr("aisfx-0.1.2.dist-info/METADATA", "Metadata-Version: 2.1\nName: aisfx\nVersion: 0.1.2\n")
        z.writestr("aisfx-0.1.2.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                    "Tag: py2-none-any\nTag: py3-none-any\n")
        z.writestr("aisfx-0.1.2.dist-info/RECORD", "")
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


WHEEL_NAME = "aisfx-0.1.2-py2.py3-none-any.whl"


@pytest.fixture(scope="module")
def member():
    return checkpoint_bytes()


@pytest.fixture(scope="module")
def wheel(member):
    return wheel_bytes(member)


@pytest.fixture
def index(monkeypatch):
    """A simple package index on 127.0.0.1, and pip pointed at it alone."""
    with FixtureServer() as server:
        for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
        monkeypatch.setenv("PIP_INDEX_URL", f"{server.url}/simple/")
        monkeypatch.setenv("PIP_RETRIES", "0")
        yield server


def serve(server, wheel: bytes) -> None:
    server.add("/simple/aisfx/", f'<html><body><a href="/files/{WHEEL_NAME}">{WHEEL_NAME}</a></body></html>'.encode())
    server.add(f"/files/{WHEEL_NAME}", wheel)


def spec(wheel: bytes, member: bytes) -> WheelFile:
    return WheelFile("aisfx", "0.1.2", MEMBER, sha(wheel), sha(member))


def nothing_left(folder) -> bool:
    return list(folder.iterdir()) == []


def test_fetch_from_the_index_checks_both_digests(index, wheel, member, tmp_path):
    serve(index, wheel)
    out = fetch_from_wheel(spec(wheel, member), tmp_path / "enc" / "checkpoint.pth", timeout=10)
    assert out.read_bytes() == member
    assert index.hits[f"/files/{WHEEL_NAME}"] == 1


def test_a_missing_package_fails_clearly_and_writes_nothing(index, wheel, member, tmp_path):
    with pytest.raises(WheelFetchError, match=r"pip download --no-deps aisfx==0.1.2.*PIP_INDEX_URL"):
        fetch_from_wheel(spec(wheel, member), tmp_path / "checkpoint.pth", timeout=10)
    assert nothing_left(tmp_path)


def test_a_truncated_download_fails_and_nothing_is_written(index, wheel, member, tmp_path):
    serve(index, wheel)
    index.misbehave(f"/files/{WHEEL_NAME}", "drop")  # full Content-Length, half the body, then close
    with pytest.raises(WheelFetchError, match=r"failed \(exit \d+\): ERROR"):
        fetch_from_wheel(spec(wheel, member), tmp_path / "checkpoint.pth", timeout=10)
    assert nothing_left(tmp_path)


def test_a_different_wheel_is_refused_and_nothing_is_written(index, wheel, member, tmp_path):
    serve(index, wheel_bytes(checkpoint_bytes(seed=1)))  # a valid wheel, other weights
    with pytest.raises(WheelFetchError, match=f"sha256 .*, expected {sha(wheel)}"):
        fetch_from_wheel(spec(wheel, member), tmp_path / "checkpoint.pth", timeout=10)
    assert nothing_left(tmp_path)


def test_a_wrong_checkpoint_digest_is_refused_and_nothing_is_written(index, wheel, member, tmp_path):
    serve(index, wheel)
    wrong = WheelFile("aisfx", "0.1.2", MEMBER, sha(wheel), "0" * 64)
    with pytest.raises(WheelFetchError, match=f"{MEMBER} has sha256 {sha(member)}, expected 0000"):
        fetch_from_wheel(wrong, tmp_path / "checkpoint.pth", timeout=10)
    assert nothing_left(tmp_path)


def test_the_checkpoint_loads_with_numpy_scalars_allowed(member, tmp_path):
    path = tmp_path / "c.pth"
    path.write_bytes(member)
    weights = load_trunk_weights(path)
    torch.manual_seed(0)
    expected = Trunk().state_dict()  # the same seed made the saved weights
    assert weights.keys() == expected.keys()
    torch.testing.assert_close(weights, expected)


@pytest.mark.parametrize("extra,name", [(fractions.Fraction(1, 3), "fractions.Fraction"),
                                        (torch.nn.Identity(), "torch.nn.modules.linear.Identity")])
def test_a_checkpoint_holding_any_other_global_is_refused(extra, name, tmp_path):
    path = tmp_path / "c.pth"
    path.write_bytes(checkpoint_bytes(extra=extra))
    with pytest.raises(CheckpointError, match=f"not a loadable aisfx checkpoint \\(it holds {name}, which is not allowed"):
        load_trunk_weights(path)


def test_a_foreign_state_dict_is_refused(tmp_path):
    path = tmp_path / "c.pth"
    torch.save(({"layer.weight": torch.zeros(2)}, {}), path)
    with pytest.raises(CheckpointError, match="not the aisfx embedding network"):
        load_trunk_weights(path)


@pytest.mark.parametrize("seconds,rate", [(8.0, 16000), (8.0, 44100), (3.3, 22050), (0.5, 16000), (0.05, 16000)])
def test_output_frames_counts_what_the_encoder_gives(seconds, rate):
    encoder = Encoder()
    audio = np.random.default_rng(0).normal(0, 0.1, int(seconds * rate)).astype(np.float32)
    assert len(encoder(audio, rate)) == output_frames(len(audio), rate)


def test_the_workflow_knows_the_encoders_frame_and_width():
    """model/backbone_specs.py says them without torch; they must be what the encoder gives."""
    from arseg.model import aisfx
    from arseg.model.backbone_specs import ENCODER_DIM, ENCODER_FRAME_SECONDS

    features = Encoder()(np.zeros(16000 * 4, np.float32), 16000)
    assert ENCODER_DIM["aisfx"] == aisfx.FEATURE_DIM == features.shape[1]
    maps = Encoder()(np.zeros(16000 * 4, np.float32), 16000, maps=True)
    assert ENCODER_DIM["aisfx_maps"] == aisfx.BLOCK_INPUT_DIM == maps.shape[1] and len(maps) == len(features)
    assert ENCODER_FRAME_SECONDS["aisfx"] == ENCODER_FRAME_SECONDS["aisfx_maps"] == aisfx.FRAME_SECONDS


@pytest.mark.parametrize("maps,width", [(False, 768), (True, 3328)])
def test_long_audio_in_chunks_equals_one_pass(maps, width):
    torch.manual_seed(0)
    encoder = Encoder()
    audio = np.random.default_rng(1).normal(0, 0.1, 20 * 16000).astype(np.float32)
    whole = encoder(audio, 16000, chunk_frames=10_000, maps=maps)
    chunked = encoder(audio, 16000, chunk_frames=128, maps=maps)
    assert chunked.shape == whole.shape == (output_frames(len(audio), 16000), width)
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-4)


def test_the_filterbank_is_librosas():
    import librosa

    from arseg.model.aisfx import htk_mel_filterbank

    expected = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=96, fmin=0.0, fmax=22050.0, htk=True, norm=1.0)
    np.testing.assert_allclose(htk_mel_filterbank(), expected, atol=1e-6)


def test_the_front_end_is_the_packages_librosa_spectrogram():
    """aisfx's own spectrogram_librosa.compute_spectrogram, written out: librosa.load at 44.1 kHz
    (soxr), peak normalisation, melspectrogram, log10(10000 S + 1), and its min-max scaling."""
    import librosa

    from arseg.model.aisfx import LOG_SCALE, FrontEnd

    rng = np.random.default_rng(2)
    audio = (rng.normal(0, 0.05, 3 * 16000) * np.hanning(3 * 16000)).astype(np.float32)
    y = librosa.resample(audio, orig_sr=16000, target_sr=44100, res_type="soxr_hq")
    y = y / np.abs(y).max()
    spec = librosa.feature.melspectrogram(y=y, sr=44100, n_mels=96, norm=1.0, fmin=0.0, fmax=22050.0, htk=True,
                                          power=2.0, hop_length=1024, win_length=2048)
    expected = (np.log10(spec * 10000.0 + 1) / LOG_SCALE).T
    got = FrontEnd()(audio, 16000).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-4)
