"""What the workflow needs to know about each backbone before any torch import: how many
input frames one of its output time steps spans (its time stride), and how long it
trains relative to the others. tests/test_backbones.py checks the strides against the
backbones' real outputs."""
from __future__ import annotations

# Input frames per output time step (801 frames -> ceil(801 / stride) steps).
TIME_STRIDE = {"yoho": 32, "efficientnet_attention": 32, "vgg": 32, "crnn": 8}

# Seconds per training epoch on the default config (width 0.25, 1 thread, 2-core machine,
# two trainings side by side; the default run of 2026-12-05). Only the order matters: the
# workflow starts the longest trainings first, so that two side by side finish close
# together (crnn started before yoho, as the 2026-11 numbers had it: by that run's job
# times the last training ends 18 s later than in this order).
EPOCH_SECONDS = {"yoho": 19.4, "efficientnet_attention": 18.3, "vgg": 10.5, "crnn": 14.7}


def native_bin_seconds(backbone: str, hop_seconds: float) -> float:
    """The width of one output step of `backbone`: its finest possible time bin."""
    return TIME_STRIDE[backbone] * hop_seconds


def bin_seconds(backbone: str, configured: float | None, hop_seconds: float) -> float:
    """model.bin_seconds if set, else the backbone's own output step."""
    return native_bin_seconds(backbone, hop_seconds) if configured is None else configured


def training_priority(backbone: str) -> int:
    """Higher for backbones that train longer (Snakemake starts higher priorities first)."""
    return 1 + sorted(EPOCH_SECONDS, key=EPOCH_SECONDS.get).index(backbone)
