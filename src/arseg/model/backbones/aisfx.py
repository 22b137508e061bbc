"""The pretrained backbone: the aisfx sound-effects encoder (arseg.model.aisfx), frozen, under
the shared query conditioning and YOHO head.

Its input is not a log-mel but the encoder's features, 768 values per 186 ms frame (computed
once per split by the workflow, or by the model itself from audio in `arseg segment`). On top:
dropout and a 1-D convolution that projects them, a FiLM-modulated separable block, a
bidirectional GRU over time and FiLM on its output, as in the crnn backbone. The encoder is
frozen; aisfx_tuned trains its last block too, under this same head.
"""
from __future__ import annotations

from torch import nn

from ..blocks import FiLMSeparableConv1d, scaled
from ..conditioning import FiLM

CHANNELS, GRU_HIDDEN = 1024, 512   # at width 1.0
DROPOUT = 0.3


class AisfxBackbone(nn.Module):
    def __init__(self, n_mels: int, query_dim: int, width: float = 0.25, dropout: float = DROPOUT):
        super().__init__()
        channels, hidden = scaled(CHANNELS, width), scaled(GRU_HIDDEN, width)
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Conv1d(n_mels, channels, 1),
                                     nn.BatchNorm1d(channels), nn.ReLU())
        self.pre = FiLMSeparableConv1d(channels, channels, query_dim, dropout=dropout)
        self.gru = nn.GRU(channels, hidden, batch_first=True, bidirectional=True)
        self.post = FiLM(query_dim, 2 * hidden)
        self.drop = nn.Dropout(dropout)
        self.out_channels = 2 * hidden

    def encode(self, x):
        """(B, 1, frames, 768) encoder features -> (B, channels, frames)."""
        return self.project(x.squeeze(1).transpose(1, 2))

    def condition(self, h, q):
        """(Q, channels, frames), (Q, query_dim) -> (Q, 2 * hidden, frames)."""
        h = self.pre(h, q)
        h, _ = self.gru(h.transpose(1, 2))
        return self.drop(self.post(h.transpose(1, 2), q))
