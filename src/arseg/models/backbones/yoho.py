"""YOHO backbone (Venkatesh et al. 2022): MobileNetV1 separable 2-D convolutions over the
log-mel, flattened over frequency, then 1-D separable blocks 1024-512-256-128.

The 2-D part sees only audio, so one pass serves every query on a mixture; the query
enters through FiLM in each 1-D block (late conditioning: cheap per extra query).
"""
from __future__ import annotations

from torch import nn

from ..blocks import ConditionedStack, SeparableConv2d, scaled

# (output channels, stride) of MobileNetV1 after its stem, as YOHO uses it.
MOBILENET = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
TEMPORAL = [1024, 512, 256, 128]


class YohoBackbone(nn.Module):
    def __init__(self, n_mels: int, query_dim: int, width: float = 1.0, dropout: float = 0.1):
        super().__init__()
        c = scaled(32, width)
        layers = [nn.Conv2d(1, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        freq = (n_mels + 1) // 2
        for channels, stride in MOBILENET:
            out = scaled(channels, width)
            layers.append(SeparableConv2d(c, out, stride))
            c, freq = out, (freq + stride - 1) // stride
        self.frontend = nn.Sequential(*layers)
        self.temporal = ConditionedStack(c * freq, [scaled(ch, width) for ch in TEMPORAL], query_dim, dropout)
        self.out_channels = self.temporal.out_channels

    def encode(self, x):
        """(B, 1, frames, mels) -> (B, C * F', T') audio features, query-free."""
        h = self.frontend(x)  # (B, C, T', F')
        return h.permute(0, 1, 3, 2).flatten(1, 2)

    def condition(self, h, q):
        return self.temporal(h, q)
