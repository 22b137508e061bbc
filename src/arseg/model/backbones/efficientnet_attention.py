"""EfficientNet-B0 with a spatial attention branch (the seed project's second backbone).

Source architecture: EfficientNet-B0 (Tan & Le 2019), written here and trained from scratch:
a 3x3 stride-2 stem, seven stages of MBConv blocks (inverted residual, depthwise 3x3/5x5,
squeeze-excitation) and the 1x1 conv to 1280 channels; total stride 32, so an 801 x 64
log-mel becomes 26 x 2. The seed added a spatial attention branch (1x1 convs 64-16-8-1,
sigmoid) that weights the feature map and rescales it by the mean attention, then YOHO's
separable blocks and head. About 5 M parameters at width 1.0.

Here:
- Stages 1-3 (the high-resolution ones: 401 x 32 down to 101 x 8) use fused MBConv blocks,
  as EfficientNetV2 (Tan & Le 2021) does for the same reason: there the depthwise conv on
  the expanded map costs far more time than its multiply-adds suggest (on CPU, stage 2
  alone took most of the feature extractor's time at the demo width); one k x k conv that
  expands and strides instead makes the feature extractor several times faster
  (docs/experiments.md).
  It adds 0.35 M parameters at width 1.0 (5.56 M in all). Stages 4-7 are B0's MBConv
  blocks unchanged.
- The attention weights every (time, frequency) cell; the weighted map is averaged over
  frequency and divided by the attention's mean over the whole map, so the weights still
  choose between time steps (normalising per time step would cancel them). All of this
  sees only audio.
- The query enters through FiLM in the three YOHO blocks (1-D separable,
  1280 -> 512 -> 256 -> 128), then the shared YOHO head (model/segmenter.py).
- width scales channels (multiples of 8) and, by EfficientNet's compound rule (depth
  1.2^phi for width 1.1^phi), block counts: depth = width ** 1.913, at least one block per
  stage, so width 0.25 has one block per stage (7 instead of 16).
"""
from __future__ import annotations

import math

from torch import nn

from ..blocks import ConditionedStack, ConvBNAct, FusedMBConv, MBConv, repeats, scaled

# (expansion, output channels, blocks, stride, kernel) of EfficientNet-B0's stages.
STAGES = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
          (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]
FUSED_STAGES = 3  # the first three stages use fused MBConv (EfficientNetV2)
STEM, HEAD = 32, 1280
ATTENTION = [64, 16, 8]
TEMPORAL = [512, 256, 128]
DEPTH_EXPONENT = math.log(1.2) / math.log(1.1)  # compound scaling: depth = width ** this


class EfficientNetAttentionBackbone(nn.Module):
    def __init__(self, n_mels: int, query_dim: int, width: float = 1.0, dropout: float = 0.1):
        super().__init__()
        depth = width ** DEPTH_EXPONENT
        c = scaled(STEM, width)
        layers = [ConvBNAct(1, c, 3, stride=2, act=nn.SiLU)]
        for stage, (expand, channels, blocks, stride, kernel) in enumerate(STAGES):
            block = FusedMBConv if stage < FUSED_STAGES else MBConv
            out = scaled(channels, width)
            for i in range(repeats(blocks, depth)):
                layers.append(block(c, out, expand, kernel, stride if i == 0 else 1))
                c = out
        features = scaled(HEAD, width)
        layers.append(ConvBNAct(c, features, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        att, a = [], features
        for channels in ATTENTION:
            att += [nn.Conv2d(a, scaled(channels, width), 1), nn.ReLU(inplace=True)]
            a = scaled(channels, width)
        self.attention = nn.Sequential(*att, nn.Conv2d(a, 1, 1), nn.Sigmoid())
        self.temporal = ConditionedStack(features, [scaled(ch, width) for ch in TEMPORAL], query_dim, dropout)
        self.out_channels = self.temporal.out_channels

    def encode(self, x):
        """(B, 1, frames, mels) -> (B, C, T') attention-weighted features, query-free."""
        h = self.features(x)                      # (B, C, T', F')
        a = self.attention(h)                     # (B, 1, T', F') in (0, 1)
        weighted = (h * a).mean(dim=3)            # (B, C, T')
        return weighted / (a.mean(dim=(2, 3)).unsqueeze(-1) + 1e-6)  # rescale by the mean attention

    def condition(self, h, q):
        """(Q, C, T'), (Q, query_dim) -> (Q, out_channels, T')."""
        return self.temporal(h, q)
