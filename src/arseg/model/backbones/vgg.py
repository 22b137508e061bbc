"""VGG-style backbone (the seed project's third backbone).

Source architecture: a plain stack of 3x3 convolutions (Simonyan & Zisserman 2015) with
64-128-256-512-512 channels, one convolution per stage, each with batch norm and ReLU,
five stride-2 steps (801 x 64 -> 26 x 2, ceil mode so every frame counts) and dropout;
the YOHO head on top.

Here: the first stride-2 step is the first convolution's own stride and the other four
are 2x2 max pooling placed before (not after) the next convolution, so each conv runs on
the already-halved map: 4x fewer multiply-adds than conv-then-pool, which on CPU is what
keeps this plain-conv network near the separable ones at the demo width. Same channel
plan, same parameter count. The conv stack sees only audio; its two remaining frequency
bins are averaged. The query enters through FiLM in two 1-D separable blocks over time
(512 -> 256 -> 128), then the shared YOHO head (model/segmenter.py). width scales every channel
count.
"""
from __future__ import annotations

from torch import nn

from ..blocks import ConditionedStack, PoolConvBlock, pool_frequency, scaled

CHANNELS = [64, 128, 256, 512, 512]
TEMPORAL = [256, 128]


class VggBackbone(nn.Module):
    def __init__(self, n_mels: int, query_dim: int, width: float = 1.0, dropout: float = 0.1):
        super().__init__()
        layers, c = [], 1
        for i, channels in enumerate(CHANNELS):
            out = scaled(channels, width)
            layers.append(PoolConvBlock(c, out, stride=2, dropout=dropout) if i == 0
                          else PoolConvBlock(c, out, pool=2, dropout=dropout))
            c = out
        self.frontend = nn.Sequential(*layers)
        self.temporal = ConditionedStack(c, [scaled(ch, width) for ch in TEMPORAL], query_dim, dropout)
        self.out_channels = self.temporal.out_channels

    def encode(self, x):
        """(B, 1, frames, mels) -> (B, C, T') audio features, query-free."""
        return pool_frequency(self.frontend(x))

    def condition(self, h, q):
        """(Q, C, T'), (Q, query_dim) -> (Q, out_channels, T')."""
        return self.temporal(h, q)
