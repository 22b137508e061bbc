"""Backbone registry: one module per backbone, selected by name in the config.

A backbone is an nn.Module built as `Backbone(n_mels, query_dim, width)` with
`encode(x)`: (B, 1, frames, mels) -> (B, C, T') query-free audio features, and
`condition(h, q)`: (Q, C, T'), (Q, query_dim) -> (Q, out_channels, T'), plus the
attribute `out_channels`. To add one: write a module here and add it below.
"""
from __future__ import annotations

from .yoho import YohoBackbone

BACKBONES = {
    "yoho": YohoBackbone,
}


def build_backbone(name: str, n_mels: int, query_dim: int, width: float):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    return BACKBONES[name](n_mels=n_mels, query_dim=query_dim, width=width)
