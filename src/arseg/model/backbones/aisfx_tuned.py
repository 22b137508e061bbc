"""The pretrained backbone with the last block of the aisfx encoder trained too: it reads the
block's input (arseg.model.aisfx.Trunk.maps, computed once per split by the workflow), runs
the block, starting from its pretrained weights, and puts the aisfx backbone's head on the
features that come out. The block learns at a twentieth of the head's learning rate, and its
batch norm keeps the pretrained statistics (it stays in eval mode).

On the shipped real corpus it found a little more of the queried sounds than the frozen
encoder, within the spread over seeds, at four times its training time per epoch on a CPU
(docs/experiments.md).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import aisfx
from .aisfx import AisfxBackbone

LEARNING_RATE_SCALE = 0.05   # the block's learning rate, as a share of training.learning_rate


class AisfxTunedBackbone(nn.Module):
    learning_rate_scale = LEARNING_RATE_SCALE  # of pretrained_parameters

    def __init__(self, n_mels: int, query_dim: int, width: float = 0.25):
        super().__init__()
        self.last_block = aisfx.ConvBlock(aisfx.CHANNELS[2], aisfx.CHANNELS[3])
        self.head = AisfxBackbone(aisfx.FEATURE_DIM, query_dim, width)
        # The block's features are standardised with their training statistics, as the frozen
        # backbone's input is (fit_statistics).
        self.register_buffer("feature_mean", torch.zeros(aisfx.FEATURE_DIM))
        self.register_buffer("feature_std", torch.ones(aisfx.FEATURE_DIM))
        self.out_channels = self.head.out_channels

    def load_pretrained(self, trunk: aisfx.Trunk) -> None:
        """Start the block from the pretrained trunk's last block."""
        self.last_block.load_state_dict(trunk.conv_block4.state_dict())

    def pretrained_parameters(self) -> list[nn.Parameter]:
        return list(self.last_block.parameters())

    @torch.no_grad()
    def fit_statistics(self, maps: np.ndarray) -> None:
        """The mean and spread of the block's features over a sample of training inputs
        (N, frames, 3328), with the pretrained weights."""
        features = aisfx.last_block(self.last_block.eval(), torch.from_numpy(np.asarray(maps, np.float32)))
        self.feature_mean.copy_(features.mean(dim=(0, 1)))
        self.feature_std.copy_(features.std(dim=(0, 1)) + 1e-5)

    def train(self, mode: bool = True):
        super().train(mode)
        self.last_block.eval()  # batch norm keeps the pretrained statistics
        return self

    def encode(self, x):
        """(B, 1, frames, 3328) last-block input -> (B, channels, frames)."""
        features = aisfx.last_block(self.last_block, x.squeeze(1).float())
        features = (features - self.feature_mean) / self.feature_std
        return self.head.encode(features.unsqueeze(1))

    def condition(self, h, q):
        return self.head.condition(h, q)
