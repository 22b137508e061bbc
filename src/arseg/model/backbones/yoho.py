"""YOHO backbone (Venkatesh et al. 2022, "You Only Hear Once"): MobileNetV1 over the log-mel.

Source architecture: a 3x3 stride-2 stem and the 13 separable 2-D layers of MobileNetV1
(32 -> 1024 channels, total stride 32: 801 frames x 64 mels -> 26 x 2), then YOHO's extra
separable layers 1024 -> 512 -> 256 -> 128 and a per-time-step head with 3 outputs
(presence, start, end). That is 3.9 M parameters in the paper's 64-mel, 8 s setting.

Here: the MobileNet part sees only audio (one pass serves every query of a mixture). Its
two remaining frequency bins are averaged rather than flattened, so the first 1-D block
gets MobileNet's 1024 channels, not 2048 (flattening cost 2 M extra parameters: 6.6 M in
all), and no layer size depends on n_mels. The query enters through FiLM in each of
YOHO's three layers 1024 -> 512 -> 256 -> 128, run as separable 1-D blocks over time (late
conditioning: cheap per extra query); the shared YOHO head (model/segmenter.py) follows. Without
FiLM and the query encoder that is 3.90 M parameters at width 1.0, YOHO's 3.9 M; with them
4.2 M. width scales every channel count; the depth is the paper's at every width.
"""
from __future__ import annotations

from torch import nn

from ..blocks import ConditionedStack, ConvBNAct, SeparableConv2d, pool_frequency, scaled

# (output channels, stride) of MobileNetV1 after its stem, as YOHO uses it.
MOBILENET = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
# YOHO's last separable layers: 1024 (MobileNet's output) -> 512 -> 256 -> 128, FiLM-conditioned.
TEMPORAL = [512, 256, 128]


class YohoBackbone(nn.Module):
    def __init__(self, n_mels: int, query_dim: int, width: float = 1.0, dropout: float = 0.1):
        super().__init__()
        c = scaled(32, width)
        layers = [ConvBNAct(1, c, 3, stride=2)]
        for channels, stride in MOBILENET:
            out = scaled(channels, width)
            layers.append(SeparableConv2d(c, out, stride))
            c = out
        self.frontend = nn.Sequential(*layers)
        self.temporal = ConditionedStack(c, [scaled(ch, width) for ch in TEMPORAL], query_dim, dropout)
        self.out_channels = self.temporal.out_channels

    def encode(self, x):
        """(B, 1, frames, mels) -> (B, C, T') audio features, query-free."""
        return pool_frequency(self.frontend(x))  # (B, C, T', F') -> (B, C, T')

    def condition(self, h, q):
        """(Q, C, T'), (Q, query_dim) -> (Q, out_channels, T')."""
        return self.temporal(h, q)
