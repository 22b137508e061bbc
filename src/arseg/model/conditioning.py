"""How the query reaches the audio: a query vector, and FiLM layers that scale and shift
the backbone's channels with it."""
from __future__ import annotations

import torch
from torch import nn


class QueryEncoder(nn.Module):
    """Text embedding (frozen sentence encoder output) or category index -> query vector."""

    def __init__(self, kind: str, query_dim: int, text_dim: int = 384, n_labels: int = 0):
        super().__init__()
        self.kind = kind
        if kind == "text":
            self.net = nn.Sequential(nn.Linear(text_dim, query_dim), nn.GELU(), nn.Linear(query_dim, query_dim))
        elif kind == "label":
            self.net = nn.Embedding(n_labels, query_dim)
        else:
            raise ValueError(f"unknown query encoder {kind!r}; expected 'text' or 'label'")

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        return self.net(query)


class FiLM(nn.Module):
    """Feature-wise linear modulation: x * (1 + gamma(q)) + beta(q), per channel.

    Starts as the identity (zero-initialised projection), so training begins from the
    unconditioned backbone and learns how much the query should change it.
    """

    def __init__(self, query_dim: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(query_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(q).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1) each
        return x * (1 + gamma) + beta
