"""How the query reaches the audio: a query vector, and FiLM layers that scale and shift
the backbone's channels with it."""
from __future__ import annotations

import torch
from torch import nn

from .examples import ExampleClassifier


class QueryEncoder(nn.Module):
    """Text embedding (frozen sentence encoder output) or category index -> query vector.

    With example_dim, a text model also takes example clips: a query row is then a text
    embedding followed by example_dim zeros, or text_dim zeros followed by a clip embedding
    (model.examples.input_rows). An example's query vector is the blend of its categories'
    label query vectors, weighted by the clip's category posterior (n_example_labels
    categories; model.examples.ExampleClassifier).
    """

    def __init__(self, kind: str, query_dim: int, text_dim: int = 384, n_labels: int = 0, example_dim: int = 0,
                 n_example_labels: int = 0):
        super().__init__()
        self.kind = kind
        self.text_dim = text_dim
        if kind == "text":
            self.net = nn.Sequential(nn.Linear(text_dim, query_dim), nn.GELU(), nn.Linear(query_dim, query_dim))
        elif kind == "label":
            if example_dim:
                raise ValueError("a label model takes no example queries")
            self.net = nn.Embedding(n_labels, query_dim)
        else:
            raise ValueError(f"unknown query encoder {kind!r}; expected 'text' or 'label'")
        self.example = ExampleClassifier(example_dim, n_example_labels, text_dim) if example_dim else None

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        if self.example is None:
            return self.net(query)
        text, clip = query[:, :self.text_dim], query[:, self.text_dim:]
        is_example = (text == 0).all(dim=1, keepdim=True)
        if not is_example.any():
            return self.net(text)
        blended = self.example(clip) @ self.net(self.example.prototypes)
        return torch.where(is_example, blended, self.net(text))


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
