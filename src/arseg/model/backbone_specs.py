"""What the workflow needs to know about each backbone before any torch import: what it
reads (a log-mel, or a pretrained encoder's features), how many input frames one of its
output time steps spans (its time stride), and which trains longest. tests/test_backbones.py checks the strides against the backbones' real outputs."""
from __future__ import annotations

# Input frames per output time step (801 frames -> ceil(801 / stride) steps).
TIME_STRIDE = {"yoho": 32, "efficientnet_attention": 32, "vgg": 32, "crnn": 8, "aisfx": 1, "aisfx_tuned": 1}

# Backbones that read what a pretrained encoder makes of the audio (computed once per split,
# like the log-mel) instead of the log-mel; the others read the log-mel of the config's audio
# section. "aisfx": the aisfx trunk's features; "aisfx_maps": the input of its last block,
# which aisfx_tuned trains.
ENCODER = {"aisfx": "aisfx", "aisfx_tuned": "aisfx_maps"}
# Seconds per frame: the aisfx trunk pools 8 frames of its 1024-sample hop at 44.1 kHz.
AISFX_FRAME_SECONDS = 8 * 1024 / 44100
ENCODER_FRAME_SECONDS = {"aisfx": AISFX_FRAME_SECONDS, "aisfx_maps": AISFX_FRAME_SECONDS}
ENCODER_DIM = {"aisfx": 768, "aisfx_maps": 3328}  # values per frame
# How each is stored: the last block's input is four times the features' size, so half precision.
ENCODER_DTYPE = {"aisfx": "float32", "aisfx_maps": "float16"}

# Longest training first, by a training's time on the default config (docs/experiments.md):
# the workflow starts the longest trainings first, so that two side by side finish close
# together.
LONGEST_TRAINING_FIRST = ("aisfx_tuned", "yoho", "efficientnet_attention", "crnn", "vgg", "aisfx")


def frame_seconds(backbone: str, hop_seconds: float) -> float:
    """Seconds per input frame of `backbone`: the log-mel hop, or its encoder's frame."""
    return ENCODER_FRAME_SECONDS.get(ENCODER.get(backbone), hop_seconds)


def native_bin_seconds(backbone: str, hop_seconds: float) -> float:
    """The width of one output step of `backbone`: its finest possible time bin."""
    return TIME_STRIDE[backbone] * frame_seconds(backbone, hop_seconds)


def bin_seconds(backbone: str, configured: float | None, hop_seconds: float) -> float:
    """model.bin_seconds if set, else the backbone's own output step."""
    return native_bin_seconds(backbone, hop_seconds) if configured is None else configured


def training_priority(backbone: str) -> int:
    """Higher for backbones that train longer (Snakemake starts higher priorities first)."""
    return len(LONGEST_TRAINING_FIRST) - LONGEST_TRAINING_FIRST.index(backbone)
