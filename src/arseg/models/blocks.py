"""Small building blocks shared by the backbones (no torchvision/timm needed)."""
from __future__ import annotations

from torch import nn

from .conditioning import FiLM


def scaled(channels: int, width: float, minimum: int = 8) -> int:
    """Channel count times the width multiplier, rounded to a multiple of 8."""
    return max(minimum, int(round(channels * width / 8)) * 8)


class SeparableConv2d(nn.Sequential):
    """MobileNetV1 block: depthwise 3x3 then pointwise 1x1, each with batch norm and ReLU."""

    def __init__(self, c_in: int, c_out: int, stride=1):
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


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
