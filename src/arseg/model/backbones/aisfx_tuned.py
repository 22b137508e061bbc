"""The pretrained backbone with the last block of the aisfx encoder trained too: it reads the
block's input (arseg.model.aisfx.Trunk.maps, computed once per split by the workflow), runs
the block, starting from its pretrained weights, and puts the aisfx backbone's head on the
features that come out. The block learns at a twentieth of the head's learning rate, and its
batch norm keeps the pretrained statistics (it stays in eval mode).

What it gains over the frozen encoder, and what it costs on a CPU: docs/experiments.md.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import aisfx
from .aisfx import AisfxBackbone


class AisfxTunedBackbone(nn.Module):
    # The learning rate of pretrained_parameters, as a share of training.learning_rate: the
    # block starts from weights that already work and should move less than the new head.
    learning_rate_scale = 0.05

    def __init__(self, n_mels: int, query_dim: int, width: float = 0.25):
        super().__init__()
        if n_mels != aisfx.BLOCK_INPUT_DIM:
            raise ValueError(f"aisfx_tuned reads the aisfx trunk's last-block input ({aisfx.BLOCK_INPUT_DIM} values "
                             f"per frame), not {n_mels}")
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
    def fit_statistics(self, maps: np.ndarray, batch: int = 32) -> None:
        """The mean and spread of the block's features over a sample of training inputs
        (N, frames, 3328), with the pretrained weights; in batches, so memory stays bounded."""
        device = self.feature_mean.device
        features = torch.cat([aisfx.last_block(self.last_block.eval(),
                                               torch.from_numpy(np.asarray(maps[i:i + batch], np.float32)).to(device))
                              for i in range(0, len(maps), batch)])
        self.feature_mean.copy_(features.mean(dim=(0, 1)))
        self.feature_std.copy_(features.std(dim=(0, 1)) + 1e-5)

    def train(self, mode: bool = True):
        super().train(mode)
        self.last_block.eval()  # batch norm keeps the pretrained statistics
        return self

    def encode(self, x):
        """(B, 1, frames, 3328) last-block input -> (B, channels, frames)."""
        features = aisfx.last_block(self.last_block, x.squeeze(1))
        features = (features - self.feature_mean) / self.feature_std
        return self.head.encode(features.unsqueeze(1))

    def condition(self, h, q):
        return self.head.condition(h, q)
