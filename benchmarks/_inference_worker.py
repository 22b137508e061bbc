"""A model forward in a separate process, so that it can run with another OpenMP setting
(OMP_WAIT_POLICY is read once, when torch loads its OpenMP runtime).

Request: {"backbone": name, "width": w, "batch": n, "threads": t} -> {"seconds": one forward}
"""
from __future__ import annotations

import time

import torch

from benchmarks.common import serve
from benchmarks.inference import build, inputs

_models = {}


def handle(request: dict) -> dict:
    key = (request["backbone"], request["width"], request["batch"])
    if key not in _models:
        model = build(request["backbone"], request["width"])
        _models[key] = (model, inputs(model, request["batch"]))
    model, data = _models[key]
    torch.set_num_threads(request["threads"])
    began = time.perf_counter()
    with torch.inference_mode():
        model(*data)
    return {"seconds": time.perf_counter() - began}


if __name__ == "__main__":
    serve(handle)
