"""An exponential moving average of a model's weights over training steps: the model that is
validated and kept is the average, which moves less from batch to batch than the weights
being trained (a cheap stand-in for averaging several models)."""
from __future__ import annotations

import contextlib

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"training.weight_average: expected a decay between 0 and 1 (exclusive), got {decay}")
        self.decay = decay
        self.steps = 0
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def update(self, model: nn.Module) -> None:
        """Move the average towards the model's current weights. Early on the average forgets
        faster ((1 + t) / (10 + t) below the decay), so the initial weights do not linger."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            for key, value in model.state_dict().items():
                if value.is_floating_point():
                    self.weights[key].lerp_(value.detach(), 1 - decay)
                else:  # counters such as batch norm's num_batches_tracked
                    self.weights[key].copy_(value)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module):
        """The model holds the averaged weights inside the block, its own weights again after it."""
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.weights)
        try:
            yield model
        finally:
            model.load_state_dict(own)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "steps": self.steps, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.steps = state["decay"], state["steps"]
        self.weights = {k: v.clone() for k, v in state["weights"].items()}
