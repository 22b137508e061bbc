"""Small building blocks shared by the backbones, written here (no torchvision/timm needed).

2-D blocks work on (B, C, frames, mels) and see only audio; the 1-D FiLM blocks work on
(Q, C, T') and are where the query enters.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .conditioning import FiLM


def scaled(channels: int, width: float, minimum: int = 8) -> int:
    """Channel count times the width multiplier, rounded to a multiple of 8."""
    return max(minimum, int(round(channels * width / 8)) * 8)


def repeats(n: int, depth: float) -> int:
    """Block count times the depth multiplier, rounded up, at least one (EfficientNet's rule)."""
    return max(1, int(math.ceil(n * depth)))


def pool_frequency(h: torch.Tensor) -> torch.Tensor:
    """(B, C, T', F') -> (B, C, T'): mean over the remaining frequency bins."""
    return h.mean(dim=3)


class ConvBNAct(nn.Sequential):
    """k x k convolution (optionally strided or depthwise), batch norm, activation."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride=1, groups: int = 1, act=nn.ReLU):
        layers = [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(c_out)]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class PoolConvBlock(nn.Sequential):
    """VGG/CRNN block: optional max pooling, 3x3 conv (optionally strided), batch norm, ReLU,
    spatial dropout (whole channels, as YOHO's SpatialDropout; cheaper than per value).

    A stack of these is the classic conv-BN-ReLU-pool chain with each pooling moved to the
    start of the next block, so every conv runs on the already-reduced map (a quarter of
    the positions for 2x2 pooling); the first block's stride stands in for its pooling.
    """

    def __init__(self, c_in: int, c_out: int, stride=1, pool=None, dropout: float = 0.1):
        layers = [nn.MaxPool2d(pool, ceil_mode=True)] if pool is not None else []
        layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.Dropout2d(dropout)]
        super().__init__(*layers)


class SeparableConv2d(nn.Sequential):
    """MobileNetV1 block: depthwise 3x3 then pointwise 1x1, each with batch norm and ReLU."""

    def __init__(self, c_in: int, c_out: int, stride=1):
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


class SqueezeExcite(nn.Module):
    """Channel gating from the globally pooled map (EfficientNet: SiLU inside, sigmoid out)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class MBConv(nn.Module):
    """EfficientNet's inverted residual: 1x1 expand, k x k depthwise, squeeze-excitation,
    1x1 linear projection; identity shortcut when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int, se_ratio: float = 0.25):
        super().__init__()
        mid = c_in * expand
        layers = [ConvBNAct(c_in, mid, 1, act=nn.SiLU)] if expand != 1 else []
        layers += [ConvBNAct(mid, mid, kernel, stride, groups=mid, act=nn.SiLU),
                   SqueezeExcite(mid, max(1, int(c_in * se_ratio))),
                   ConvBNAct(mid, c_out, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class FusedMBConv(nn.Module):
    """EfficientNetV2's fused inverted residual: one k x k conv does the expansion (and the
    stride) in place of 1x1 expand + depthwise k x k; then squeeze-excitation and the 1x1
    linear projection (none when expand == 1: the conv maps straight to c_out).
    Identity shortcut when the shape is kept."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int, se_ratio: float = 0.25):
        super().__init__()
        mid = c_in * expand if expand != 1 else c_out
        layers = [ConvBNAct(c_in, mid, kernel, stride, act=nn.SiLU), SqueezeExcite(mid, max(1, int(c_in * se_ratio)))]
        if expand != 1:
            layers.append(ConvBNAct(mid, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class FiLMSeparableConv1d(nn.Module):
    """YOHO's 1-D separable convolution block, modulated by the query (FiLM)."""

    def __init__(self, c_in: int, c_out: int, query_dim: int, kernel: int = 3, dropout: float = 0.1):
        super().__init__()
        self.depthwise = nn.Conv1d(c_in, c_in, kernel, padding=kernel // 2, groups=c_in, bias=False)
        self.pointwise = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.norm = nn.BatchNorm1d(c_out)
        self.film = FiLM(query_dim, c_out)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, q):
        x = self.norm(self.pointwise(self.depthwise(x)))
        return self.drop(self.act(self.film(x, q)))


class ConditionedStack(nn.Module):
    """A chain of FiLM 1-D blocks: the query-dependent part every backbone ends with."""

    def __init__(self, c_in: int, channels: list[int], query_dim: int, dropout: float = 0.1):
        super().__init__()
        sizes = [c_in] + channels
        self.blocks = nn.ModuleList(FiLMSeparableConv1d(a, b, query_dim, dropout=dropout)
                                    for a, b in zip(sizes[:-1], sizes[1:]))
        self.out_channels = sizes[-1]

    def forward(self, h, q):
        for block in self.blocks:
            h = block(h, q)
        return h
