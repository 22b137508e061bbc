"""Backbones: registry, shapes through the model, query conditioning, save/load, sizes, learning."""
from pathlib import Path

import numpy as np

import pytest
import torch
import yaml

from arseg.model.backbone_specs import (ENCODER, ENCODER_DIM, ENCODER_FRAME_SECONDS, LONGEST_TRAINING_FIRST,
                                        TIME_STRIDE, training_priority)
from arseg.model.backbones import BACKBONES, build_backbone
from arseg.model.conditioning import FiLM
from arseg.model.segmenter import ModelConfig, ReferringSegmenter, load_model, prepare_for_inference, save_model
from arseg.train.loop import yoho_loss

ROOT = Path(__file__).resolve().parents[1]
FRAMES, MELS, TEXT_DIM = 801, 64, 384  # the 8 s window: 801 frames x 64 mels
LABELS = ["bell", "dog", "siren"]
# Whole-model parameters (query encoder 'text' + backbone + head) at width 1.0.
PARAMETERS_AT_WIDTH_1 = {
    "yoho": (3.5e6, 4.3e6),                    # YOHO: 3.9 M (+ FiLM and the query encoder)
    "efficientnet_attention": (4.5e6, 6.0e6),  # the seed's EfficientNet + attention: about 5 M
    "vgg": (3.5e6, 5.0e6),                     # 64-128-256-512-512 conv stack
    "crnn": (0.2e6, 1.0e6),                    # DCASE baseline size
    "aisfx": (9e6, 13e6),                      # the frozen trunk's 4.7 M + a crnn-like head of about 6.5 M
    "aisfx_tuned": (13e6, 17e6),               # aisfx + its own copy of the trunk's last block (3.5 M)
}
FASTEST = "vgg"  # the cheapest training step at the demo width (see the backbone docstrings)


@pytest.fixture(autouse=True)
def _seeded_single_thread():
    """Seeded; one thread (small tensors: more threads only contend on a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def make_model(backbone, width=0.25, encoder="text", **kwargs):
    if backbone in ENCODER:  # reads its encoder's features, as arseg.configs.model_config sets up
        kwargs = {"n_mels": ENCODER_DIM[ENCODER[backbone]], "hop_seconds": ENCODER_FRAME_SECONDS[ENCODER[backbone]],
                  **kwargs}
    cfg = ModelConfig(backbone=backbone, width=width, query_encoder=encoder, text_dim=TEXT_DIM,
                      labels=list(LABELS) if encoder == "label" else [], **kwargs)
    return ReferringSegmenter(cfg)


def inputs(backbone, n):
    """n windows of what the backbone reads: an 8 s log-mel, or its encoder's features of 8 s."""
    cfg = make_model(backbone).cfg
    return torch.randn(n, cfg.window_frames, cfg.n_mels)


def make_queries(encoder, n):
    if encoder == "text":
        return torch.randn(n, TEXT_DIM)
    return torch.arange(n) % len(LABELS)


def perturb_film(model, scale=0.2):
    """FiLM starts as the identity (zero-initialised); give it weights, as training would."""
    films = [m for m in model.modules() if isinstance(m, FiLM)]
    assert films, "no FiLM layer: the query would not reach the audio"
    with torch.no_grad():
        for film in films:
            film.proj.weight.normal_(0.0, scale)
            film.proj.bias.normal_(0.0, scale)


def test_registry_matches_the_config_schema():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    enum = schema["properties"]["model"]["properties"]["backbones"]["items"]["enum"]
    assert sorted(enum) == sorted(BACKBONES)
    per_backbone = schema["properties"]["training"]["properties"]["per_backbone"]["propertyNames"]["enum"]
    assert sorted(per_backbone) == sorted(BACKBONES)
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        build_backbone("resnet", MELS, 128, 0.25)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("width", [0.125, 0.25, 1.0])
@pytest.mark.parametrize("encoder", ["text", "label"])
def test_shapes_through_the_model(backbone, width, encoder):
    model = make_model(backbone, width, encoder).eval()
    features = inputs(backbone, 2)
    index = torch.tensor([0, 0, 1])  # two queries on the first mixture, one on the second
    with torch.no_grad():
        audio = model.encode_audio(features)
        assert audio.ndim == 3 and audio.shape[0] == 2
        assert audio.shape[2] >= model.cfg.n_bins, "fewer time steps than output bins"
        conditioned = model.backbone.condition(audio[index], model.query(make_queries(encoder, 3)))
        assert conditioned.shape == (3, model.backbone.out_channels, audio.shape[2])
        logits = model.forward_queries(audio, index, make_queries(encoder, 3))
    assert logits.shape == (3, model.cfg.n_bins, 3)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_time_stride_table_matches_the_backbone(backbone):
    """backbone_specs is what the config check and the default bins rely on (without torch)."""
    model = make_model(backbone).eval()
    with torch.no_grad():
        steps = model.encode_audio(inputs(backbone, 1)).shape[2]
    assert steps == -(-model.cfg.window_frames // TIME_STRIDE[backbone])
    assert sorted(TIME_STRIDE) == sorted(LONGEST_TRAINING_FIRST) == sorted(BACKBONES)


def test_default_bins_are_each_backbones_own_steps():
    from snakemake.utils import validate

    from arseg.configs import ConfigError, check_config, model_config

    config = {"model": {"backbones": ["yoho", "crnn"]}}
    validate(config, str(ROOT / "workflow/schemas/config.schema.yaml"))
    assert config["model"]["bin_seconds"] is None
    check_config(config)
    assert model_config(config, "crnn", []).n_bins == 100   # 0.08 s bins over 8 s
    assert model_config(config, "yoho", []).n_bins == 25    # 0.32 s
    config["model"]["bin_seconds"] = 0.32                  # one width for all: allowed
    check_config(config)
    assert model_config(config, "crnn", []).n_bins == 25
    config["model"]["bin_seconds"] = 0.16                  # finer than yoho can resolve
    with pytest.raises(ConfigError, match=r"model.bin_seconds: 0.16 s is finer than backbone yoho"):
        check_config(config)


def test_longer_trainings_start_first():
    order = sorted(BACKBONES, key=training_priority, reverse=True)
    assert order == list(LONGEST_TRAINING_FIRST)
    assert min(map(training_priority, BACKBONES)) > 0  # above every other rule's default 0


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_other_input_sizes(backbone):
    """40 mels and a 5 s window: no backbone hard-codes the 801 x 64 input (aisfx_tuned reads
    the trunk's last-block input, which has one size, so only its window changes)."""
    mels = ENCODER_DIM["aisfx_maps"] if ENCODER.get(backbone) == "aisfx_maps" else 40
    model = make_model(backbone, n_mels=mels, window_seconds=5.0, n_bins=16).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, model.cfg.window_frames, mels), make_queries("text", 2))
    assert logits.shape == (2, 16, 3)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_query_changes_the_output(backbone):
    model = make_model(backbone).eval()
    features = inputs(backbone, 1).expand(4, -1, -1)  # one mixture, four queries
    queries = make_queries("text", 4)
    with torch.no_grad():
        before = model(features, queries)
        assert torch.allclose(before, before[:1].expand_as(before)), "FiLM should start as the identity"
        perturb_film(model)
        after = model(features, queries)
    spread = (after - after.mean(0, keepdim=True)).abs().amax()
    assert spread > 1e-3, f"{backbone}: different queries give the same output (FiLM inert)"
    # One audio pass serves every query: shared features give what separate passes give.
    with torch.no_grad():
        shared = model.forward_queries(model.encode_audio(features[:1]), torch.zeros(4, dtype=torch.long), queries)
    torch.testing.assert_close(shared, after, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("encoder", ["text", "label"])
def test_save_load_round_trip(backbone, encoder, tmp_path):
    model = make_model(backbone, encoder=encoder)
    perturb_film(model)
    model.train()
    with torch.no_grad():  # move batch-norm running statistics off their defaults
        model(inputs(backbone, 2), make_queries(encoder, 2))
    model.eval()
    path = tmp_path / "model.pt"
    save_model(model, path)
    loaded, _ = load_model(path)
    assert loaded.cfg == model.cfg
    features, queries = inputs(backbone, 2), make_queries(encoder, 2)
    with torch.no_grad():
        assert torch.equal(model(features, queries), loaded(features, queries))


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_2d_convolution_runs_channels_last(backbone):
    # The CPU kernels are 13-22 % faster per training step in this layout. A log-mel has one
    # channel, so only the weights' layout can bring it about: check it holds, as built and
    # for inference, in every layer (maps of one channel or one position are the same in
    # either layout).
    model = make_model(backbone)
    for candidate in (model, prepare_for_inference(model)):
        layouts = []
        hooks = [m.register_forward_hook(lambda mod, args, out: layouts.append(
                     out.shape[1] == 1 or out.shape[2] * out.shape[3] == 1
                     or (not out.is_contiguous() and out.is_contiguous(memory_format=torch.channels_last))))
                 for m in candidate.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad():
            if candidate.encoder is not None:  # the 2-D convolutions are the pretrained trunk's
                candidate.encoder(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
            else:
                candidate.encode_audio(inputs(backbone, 2))
        for hook in hooks:
            hook.remove()
        assert layouts and all(layouts), f"{backbone}: {layouts.count(False)} of {len(layouts)} convolutions"


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_parameter_counts(backbone):
    low, high = PARAMETERS_AT_WIDTH_1[backbone]
    full = make_model(backbone, width=1.0).count_parameters()
    assert low <= full <= high, f"{backbone}: {full:,} parameters at width 1.0, expected {low:,.0f}-{high:,.0f}"
    demo = make_model(backbone, width=0.25).count_parameters(trainable=True)
    # a 768-wide input needs a wider first layer; aisfx_tuned trains the trunk's last block too
    small = {"aisfx": 1.0e6, "aisfx_tuned": 4.5e6}.get(backbone, 0.6e6)
    assert demo < small and demo < full / 2


def test_tiny_overfit():
    """A trivial task: label 0 refers to a loud band present in some bins, label 1 to nothing."""
    n_bins, frames = 8, 257
    model = make_model(FASTEST, encoder="label", n_bins=n_bins, window_seconds=2.56)
    features = torch.randn(4, frames, MELS) * 0.1
    target = torch.zeros(8, n_bins, 3)
    for mixture, (start, stop) in enumerate([(1, 3), (4, 7), (0, 2), (5, 8)]):
        features[mixture, start * 32:stop * 32, 20:40] += 3.0
        target[mixture, start:stop] = torch.tensor([1.0, 0.0, 1.0])  # present, whole bin
    index = torch.arange(4).repeat(2)                    # each mixture with both queries
    queries = torch.tensor([0] * 4 + [1] * 4)            # label 0 present, label 1 absent
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(40):
        loss = yoho_loss(model.forward_queries(model.encode_audio(features), index, queries), target, "bce")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Ignoring the query, the best loss is about 1.7 (both labels on the same audio, opposite
    # targets): far below it, the query is in use.
    final = sum(losses[-3:]) / 3
    assert final < min(losses[0] / 10, 0.5), f"loss {losses[0]:.3f} -> {losses[-3:]}"
