"""CRNN backbone in the DCASE baseline style (Cakir et al. 2017; the DCASE SED baselines).

Source architecture: three conv blocks (3x3 conv, batch norm, ReLU, max pooling, dropout)
with 128 channels, pooling mostly over frequency (64 mels -> 2), then a bidirectional GRU
over time and a per-frame output layer; a few hundred thousand parameters.

Here: the blocks also reduce time, by 8 in all (801 frames -> 101 GRU steps, four per
output bin at 25 bins), so the GRU, which runs once per query, stays cheap; the first
block's reduction is its conv stride (2, 2) and the others pool (2, 4) before their conv,
so no conv runs on the full 801 x 64 map. The blocks see only audio; their output is
flattened over (channels, frequency). The query enters twice: FiLM in a 1-D separable
block that feeds the GRU (so the recurrence itself is query-dependent) and FiLM on the
GRU's output; then the shared YOHO head (model/segmenter.py). width scales the conv channels and
the GRU (64 units per direction at 1.0, 16 at the demo's 0.25).
"""
from __future__ import annotations

from torch import nn

from ..blocks import FiLMSeparableConv1d, PoolConvBlock, scaled
from ..conditioning import FiLM

CHANNELS = [128, 128, 128]
# (conv stride, max pooling before the conv) per block, as (time, frequency): 8 x 32 in all.
STEPS = [((2, 2), None), ((1, 1), (2, 4)), ((1, 1), (2, 4))]
GRU_INPUT, GRU_HIDDEN = 128, 64


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class CrnnBackbone(nn.Module):
    def __init__(self, n_mels: int, query_dim: int, width: float = 1.0, dropout: float = 0.1):
        super().__init__()
        layers, c, freq = [], 1, n_mels
        for channels, (stride, pool) in zip(CHANNELS, STEPS):
            out = scaled(channels, width)
            layers.append(PoolConvBlock(c, out, stride, pool, dropout))
            c, freq = out, _ceil_div(_ceil_div(freq, pool[1]) if pool else freq, stride[1])
        self.frontend = nn.Sequential(*layers)
        gru_input, hidden = scaled(GRU_INPUT, width), scaled(GRU_HIDDEN, width)
        self.pre = FiLMSeparableConv1d(c * freq, gru_input, query_dim, dropout=dropout)
        self.gru = nn.GRU(gru_input, hidden, batch_first=True, bidirectional=True)
        self.post = FiLM(query_dim, 2 * hidden)
        self.drop = nn.Dropout(dropout)
        self.out_channels = 2 * hidden

    def encode(self, x):
        """(B, 1, frames, mels) -> (B, C * F', T') audio features, query-free."""
        h = self.frontend(x)                        # (B, C, T', F')
        return h.permute(0, 1, 3, 2).flatten(1, 2)  # (B, C * F', T')

    def condition(self, h, q):
        """(Q, C * F', T'), (Q, query_dim) -> (Q, 2 * hidden, T')."""
        h = self.pre(h, q)                          # FiLM before the GRU
        h, _ = self.gru(h.transpose(1, 2))          # (Q, T', 2 * hidden)
        return self.drop(self.post(h.transpose(1, 2), q))  # FiLM after the GRU
