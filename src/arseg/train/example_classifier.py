"""The example queries' category classifier (model.examples.ExampleClassifier), fitted on the
clip embeddings of the training split's clips: multinomial logistic regression on the
standardised embeddings with an L2 penalty (scikit-learn's objective, C = `strength`), solved
by L-BFGS on the whole set at once (a few hundred clips: well under a second)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from arseg.model.examples import ExampleClassifier

STRENGTH = 0.01  # inverse penalty: the best of 0.001, 0.01 and 0.1 on the real corpus (docs/experiments.md)


def fit_example_classifier(classifier: ExampleClassifier, vectors: np.ndarray, categories: list[str],
                           labels: list[str], prototypes: np.ndarray, strength: float = STRENGTH) -> float:
    """Fit on clip embeddings `vectors` of the given categories (each one of `labels`, the
    classifier's categories in order); `prototypes`: the labels' text embeddings. Returns the
    accuracy on the clips it was fitted on."""
    x = torch.from_numpy(np.asarray(vectors, dtype=np.float32))
    y = torch.tensor([labels.index(c) for c in categories], dtype=torch.int64)
    classifier.mean.copy_(x.mean(0))
    classifier.std.copy_(x.std(0, unbiased=False) + 1e-5)
    classifier.prototypes.copy_(torch.from_numpy(np.asarray(prototypes, dtype=np.float32)))
    weight = torch.zeros_like(classifier.weight, requires_grad=True)
    bias = torch.zeros_like(classifier.bias, requires_grad=True)
    z = (x - classifier.mean) / classifier.std
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=500, tolerance_grad=1e-6, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        loss = strength * F.cross_entropy(z @ weight.T + bias, y, reduction="sum") + 0.5 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    classifier.weight.copy_(weight.detach())
    classifier.bias.copy_(bias.detach())
    with torch.no_grad():
        return float((classifier.logits(x).argmax(1) == y).float().mean())
