"""aisfx_tuned: the pretrained encoder's last block trained under the aisfx head. Its input
(the block's input, Trunk.maps) gives the trunk's features; training moves the block's
weights at a smaller learning rate and keeps its batch norm statistics; the model file
segments audio alone, computing that input itself; a killed training resumes to the same model."""
import dataclasses

import numpy as np
import pytest
import torch

from arseg.infer.segment import recording_features
from arseg.model import aisfx
from arseg.model.backbone_specs import ENCODER, ENCODER_DIM, ENCODER_FRAME_SECONDS
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, load_model, prepare_for_inference
from arseg.model.targets import encode
from arseg.train import loop
from arseg.train.loop import SplitData, TrainConfig
from arseg.train.run import train_model
from arseg.train.tagging import TagEvents

KIND = ENCODER["aisfx_tuned"]
CFG = ModelConfig(backbone="aisfx_tuned", width=0.125, n_mels=ENCODER_DIM[KIND],
                  hop_seconds=ENCODER_FRAME_SECONDS[KIND], window_seconds=2.0, n_bins=10, query_dim=16,
                  query_encoder="label", labels=["a", "b"])


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    torch.set_num_threads(1)


def pretrained_model() -> ReferringSegmenter:
    """The model as training starts it: a (randomly initialised) trunk, its last block copied."""
    model = ReferringSegmenter(CFG)
    with torch.no_grad():
        for module in model.encoder.trunk.modules():  # batch norm statistics that are not the defaults
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    model.backbone.load_pretrained(model.encoder.trunk)
    return model


def maps_of(model: ReferringSegmenter, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = rng.normal(0, 0.1, (n, int(CFG.window_seconds * CFG.sample_rate))).astype(np.float32)
    return np.stack([model.encoder(a, CFG.sample_rate, maps=True).numpy() for a in audio]).astype(np.float16)


def split(model: ReferringSegmenter, seed: int, n: int = 4) -> SplitData:
    features = maps_of(model, n, seed)
    targets = [encode([(0.5, 1.2)] if q == r % 2 else [], CFG.n_bins, CFG.bin_width) for r in range(n) for q in (0, 1)]
    return SplitData(features, np.repeat(np.arange(n), 2), np.tile([0, 1], n).astype(np.int64), np.stack(targets),
                     [np.array([2 * r, 2 * r + 1]) for r in range(n)],
                     TagEvents(["a", "b"], [np.array([[r % 2, 0.5, 1.2]]) for r in range(n)]),
                     query_category=np.tile([0, 1], n).astype(np.int64),
                     mixture_categories=np.eye(2, dtype=bool)[np.arange(n) % 2])


def test_the_last_block_on_its_input_gives_the_trunks_features():
    encoder = aisfx.Encoder()
    audio = np.random.default_rng(0).normal(0, 0.1, 3 * 16000).astype(np.float32)
    maps = encoder(audio, 16000, maps=True)
    assert maps.shape == (aisfx.output_frames(len(audio), 16000), ENCODER_DIM[KIND])
    assert ENCODER_DIM[KIND] == aisfx.BLOCK_INPUT_DIM
    with torch.no_grad():
        features = aisfx.last_block(encoder.trunk.conv_block4, maps[None])[0]
    torch.testing.assert_close(features, encoder(audio, 16000), rtol=1e-5, atol=1e-5)


def test_training_moves_the_block_slowly_and_keeps_its_statistics(tmp_path, monkeypatch):
    model = pretrained_model()
    start = {k: v.clone() for k, v in model.backbone.last_block.state_dict().items()}
    head_start = model.backbone.head.project[1].weight.detach().clone()
    rates = []
    original = loop.start_run

    def spy(*args, **kwargs):
        run = original(*args, **kwargs)
        rates.extend(g["lr"] for g in run.optimizer.param_groups)
        return run
    monkeypatch.setattr(loop, "start_run", spy)
    cfg = TrainConfig(epochs=2, patience=2, mixtures_per_batch=2, learning_rate=3e-3, seed=0, threads=1,
                      mix_probability=0.0)  # as train_one sets it for a backbone reading encoder features
    train_model(model, split(model, 0), split(model, 1), cfg, tmp_path / "model.pt", tmp_path / "history.tsv",
                tmp_path / "state.pt")
    assert rates == [3e-3, 3e-3 * model.backbone.learning_rate_scale]
    block = model.backbone.last_block.state_dict()
    assert not torch.equal(block["conv1.weight"], start["conv1.weight"])  # trained
    for name in ("bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"):
        assert torch.equal(block[name], start[name]), name  # the pretrained statistics
    # the block moved less than the head's first layer, whose weights start at the same scale
    block_step = (block["conv1.weight"] - start["conv1.weight"]).abs().mean() / start["conv1.weight"].abs().mean()
    head = model.backbone.head.project[1].weight
    assert block_step < ((head - head_start).abs().mean() / head_start.abs().mean())
    # the model's own input standardisation is left alone: the maps go raw into the block
    assert torch.equal(model.feature_mean, torch.zeros_like(model.feature_mean))
    assert model.backbone.feature_std.min() > 0 and not torch.equal(model.backbone.feature_mean,
                                                                     torch.zeros_like(model.backbone.feature_mean))


def test_the_statistics_are_those_of_the_blocks_features():
    model = pretrained_model()
    maps = maps_of(model, 3, 2)
    model.backbone.fit_statistics(maps)
    with torch.no_grad():
        features = aisfx.last_block(model.backbone.last_block, torch.from_numpy(maps.astype(np.float32)))
    torch.testing.assert_close(model.backbone.feature_mean, features.mean(dim=(0, 1)))


def test_the_model_file_segments_audio_alone(tmp_path):
    model = pretrained_model()
    cfg = TrainConfig(epochs=1, patience=1, mixtures_per_batch=2, seed=0, threads=1, mix_probability=0.0)
    train_model(model, split(model, 0), split(model, 1), cfg, tmp_path / "model.pt", tmp_path / "history.tsv",
                tmp_path / "state.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    fast = prepare_for_inference(loaded)  # the trained block's batch norm folded in, as every inference runs
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.backbone.modules())
    audio = np.random.default_rng(5).normal(0, 0.1, 2 * 16000).astype(np.float32)
    features = recording_features(loaded, audio)  # as the workflow stores them: half precision
    assert features.shape == (aisfx.output_frames(len(audio), 16000), aisfx.BLOCK_INPUT_DIM)
    assert features.dtype == np.float16
    window = torch.from_numpy(features[None, :loaded.cfg.window_frames])
    with torch.no_grad():
        ours = loaded(window, torch.tensor([0]))
        theirs = model.cpu().eval()(window, torch.tensor([0]))
        folded = fast(window, torch.tensor([0]))
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(folded, ours, rtol=1e-4, atol=1e-4)
    assert dataclasses.asdict(loaded.cfg) == dataclasses.asdict(model.cfg)


def test_a_killed_training_resumes_to_the_uninterrupted_model(tmp_path, monkeypatch, kill_in_second_epoch):
    """The block's own learning rate, its frozen batch norm and its statistics survive the state file."""
    cfg = TrainConfig(epochs=3, patience=3, mixtures_per_batch=2, learning_rate=3e-3, seed=0, threads=1,
                      mix_probability=0.0)

    def train(out):
        torch.manual_seed(0)
        model = pretrained_model()
        train_model(model, split(model, 0), split(model, 1), cfg, out / "model.pt", out / "history.tsv",
                    out / "state.pt")
        return load_model(out / "model.pt")[0]

    whole = train(tmp_path / "whole")
    kill_in_second_epoch()
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "killed")
    assert (tmp_path / "killed" / "state.pt").exists()
    monkeypatch.undo()
    resumed = train(tmp_path / "killed")
    expected, actual = whole.state_dict(), resumed.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
