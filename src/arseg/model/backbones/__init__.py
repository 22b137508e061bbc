"""Backbone registry: one module per backbone, selected by name in the config.

A backbone is an nn.Module built as `Backbone(n_mels, query_dim, width)` with
`encode(x)`: (B, 1, frames, mels) -> (B, C, T') query-free audio features, and
`condition(h, q)`: (Q, C, T'), (Q, query_dim) -> (Q, out_channels, T'), plus the
attribute `out_channels`. T' should be at least the model's n_bins (the model
adaptive-pools to n_bins). `width` scales channels (1.0 = published size); a backbone
may derive its depth from it (see its docstring). A backbone that reads a pretrained
encoder's features instead of a log-mel (aisfx, aisfx_tuned) says so in
model/backbone_specs.py. One that trains pretrained layers itself (aisfx_tuned) also has
`load_pretrained(trunk)` (training starts from the encoder's weights),
`pretrained_parameters()` with the attribute `learning_rate_scale` (they learn at that share
of the learning rate) and `fit_statistics(sample)` (it standardises what those layers give,
instead of the model standardising its input). To add one:

1. write a module here and add it to BACKBONES below;
2. in model/backbone_specs.py, give its TIME_STRIDE and its place in LONGEST_TRAINING_FIRST
   (and its ENCODER, if it reads a pretrained encoder's features);
3. add its name to both backbone enums of workflow/schemas/config.schema.yaml
   (`model.backbones` and `training.per_backbone`).

tests/test_backbones.py checks that each place lists every backbone.
"""
from __future__ import annotations

from .aisfx import AisfxBackbone
from .aisfx_tuned import AisfxTunedBackbone
from .crnn import CrnnBackbone
from .efficientnet_attention import EfficientNetAttentionBackbone
from .vgg import VggBackbone
from .yoho import YohoBackbone

BACKBONES = {
    "yoho": YohoBackbone,
    "efficientnet_attention": EfficientNetAttentionBackbone,
    "vgg": VggBackbone,
    "crnn": CrnnBackbone,
    "aisfx": AisfxBackbone,
    "aisfx_tuned": AisfxTunedBackbone,
}


def build_backbone(name: str, n_mels: int, query_dim: int, width: float):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name](n_mels=n_mels, query_dim=query_dim, width=width)
