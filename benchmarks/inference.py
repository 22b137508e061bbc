"""Inference per backbone (every entry of arseg.models.backbones.BACKBONES): real-time
factor on CPU (and GPU when present), parameters and multiply-accumulates.

Real-time factor = seconds of audio per second of compute, for the model applied to a
batch of 32 windows (8 s each at the default config) with one query per window, as
inference.predict_bins batches them; backbones are run interleaved. For yoho also:
  - end to end: predict_bins over one long recording (windows overlap by half, so every
    second is processed about twice, and the bins are stitched),
  - where the time goes (torch.profiler, top operators),
  - what-ifs for the model owner, not arseg's code: the same weights in channels_last
    memory format; that plus batch norm folded into the convolutions (inference only);
    and (full mode) OpenMP threads left spinning (OMP_WAIT_POLICY unset, as in the
    workflow's rules) instead of sleeping (PASSIVE, as the arseg command line sets).
MACs are counted twice: forward hooks on Conv/Linear/RNN modules, and FlopCounterMode
(which also sees functional matmuls such as attention); the table shows the larger.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
from torch import nn

from .common import Row, Settings, Worker, interleaved, median, paired_ratio, silenced_fds, spread

NAME = "inference"
WIDTH = 0.25
BATCH = 32
TARGET = 1000.0


def build(name: str, width: float = WIDTH):
    """A freshly initialised model made numerically like a trained one (see calibrate)."""
    from arseg.models.model import ModelConfig, ReferringSegmenter

    torch.manual_seed(0)
    return calibrate(ReferringSegmenter(ModelConfig(backbone=name, width=width)))


@torch.no_grad()
def calibrate(model):
    """Input standardisation and batch-norm running statistics from data, as training leaves
    them. A fresh model's default statistics (mean 0, variance 1) shrink the activations
    layer by layer to ~1e-10 and a constant output: neither realistic to time (tiny values
    can fall into slow denormal arithmetic) nor a useful check that a rewrite is exact."""
    features, query = inputs(model, 8)
    model.feature_mean.copy_(features.mean(dim=(0, 1)))
    model.feature_std.copy_(features.std(dim=(0, 1)))
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration passes
    model.train()
    for _ in range(2):
        model(features, query)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def inputs(model, batch: int, device="cpu"):
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    features = torch.randn(batch, cfg.window_frames, cfg.n_mels, generator=g) * 10 - 40
    query = torch.randn(batch, cfg.text_dim, generator=g)
    return features.to(device), query.to(device)


def hook_macs(model, features, query) -> int:
    """Multiply-accumulates of Conv, Linear and RNN layers in one forward, by forward hooks."""
    total = 0

    def conv(m, inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))

    def linear(m, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    def rnn(m, inp, out):
        nonlocal total
        x = inp[0]
        steps = x.numel() // x.shape[-1]  # batch * time
        gates = {"GRU": 3, "LSTM": 4}.get(m.mode, 1)
        directions = 2 if m.bidirectional else 1
        size = m.input_size
        for _ in range(m.num_layers):
            total += steps * directions * gates * (size * m.hidden_size + m.hidden_size * m.hidden_size)
            size = m.hidden_size * directions

    handles = []
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear))
        elif isinstance(module, nn.RNNBase):
            handles.append(module.register_forward_hook(rnn))
    with torch.inference_mode():
        model(features, query)
    for h in handles:
        h.remove()
    return total


def counter_macs(model, features, query) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(features, query)
    return counter.get_total_flops() // 2


def top_operators(model, features, query, n: int = 5) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), silenced_fds():
        model(features, query)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            model(features, query)
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:n]
    return [{"op": e.key, "shapes": [s for s in e.input_shapes if s][:2], "share": round(e.self_cpu_time_total / total, 3),
             "ms": round(e.self_cpu_time_total / 1000, 1)} for e in top]


def describe(op: dict) -> str:
    """'mkldnn_convolution [32, 8, 401, 32] x [16, 8, 1, 1] 21%'."""
    shapes = " x ".join(str(list(s)) for s in op["shapes"])
    return f"{op['op'].replace('aten::', '')} {shapes} {100 * op['share']:.0f}%"


def run(settings: Settings) -> list[Row]:
    from arseg.inference import predict_bins
    from arseg.models.backbones import BACKBONES

    log = settings.log
    threads = torch.get_num_threads()
    models = {name: build(name) for name in BACKBONES}
    data = {name: inputs(m, BATCH) for name, m in models.items()}
    window = models["yoho"].cfg.window_seconds if "yoho" in models else next(iter(models.values())).cfg.window_seconds
    audio_seconds = BATCH * window

    def forward(name, n_threads, model=None):
        def case():
            torch.set_num_threads(n_threads)
            try:
                with torch.inference_mode():
                    (model or models[name])(*data[name])
            finally:
                torch.set_num_threads(threads)
        return case

    cases = {}
    for name in models:
        cases[f"{name}/{threads}"] = forward(name, threads)
        if threads != 1 and (name == "yoho" or not settings.quick):
            cases[f"{name}/1"] = forward(name, 1)
    rows = []
    if "yoho" in models:
        cl = build("yoho").to(memory_format=torch.channels_last)
        fused = fused_channels_last(build("yoho"))
        with torch.inference_mode():
            reference = models["yoho"](*data["yoho"])
            cl_diff = float((cl(*data["yoho"]) - reference).abs().max())
            fused_diff = float((fused(*data["yoho"]) - reference).abs().max())
        cases["yoho-channels-last"] = forward("yoho", threads, cl)
        cases["yoho-fused-channels-last"] = forward("yoho", threads, fused)
        minutes = settings.pick(2, 10)
        long_features = (torch.randn(int(minutes * 60 / models["yoho"].cfg.hop_seconds) + 1, 64,
                                     generator=torch.Generator().manual_seed(1)) * 10 - 40).numpy()
        one_query = data["yoho"][1][:1]
        cases["yoho-end-to-end"] = lambda: predict_bins(models["yoho"], long_features, one_query)
    spinning = None
    if ("yoho" in models and os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" and threads > 1
            and not settings.quick):
        spinning = _worker_without_wait_policy()
        cases["yoho-spinning"] = lambda: spinning.call({"backbone": "yoho", "width": WIDTH, "batch": BATCH,
                                                        "threads": threads})
    try:
        times = interleaved(cases, settings.repeats, settings.warmup)
    finally:
        if spinning is not None:
            spinning.close()
    for k, v in times.items():
        log(f"  {k}: {spread(v)} s")

    common = dict(benchmark=NAME, metric="x real time", peer_name="real time")
    for name, model in models.items():
        one = inputs(model, 1)
        hooks, counted = hook_macs(model, *one), counter_macs(model, *one)
        macs = max(hooks, counted)
        params = model.count_parameters()
        rtf = [audio_seconds / t for t in times[f"{name}/{threads}"]]
        is_target = name == "yoho"
        note = (f"{params / 1e6:.3f} M parameters, {macs / 1e6:.0f} M MACs per {window:g} s window "
                f"(hooks {hooks / 1e6:.0f} M, FlopCounterMode {counted / 1e6:.0f} M); batch of {BATCH} windows "
                f"in {median(times[f'{name}/{threads}']):.3f} s")
        rows.append(Row(case=f"{name}, CPU {threads} threads, width {WIDTH:g}", ours=median(rtf), ratio=median(rtf),
                        target=f">= {TARGET:,.0f}x" if is_target else "",
                        met=(median(rtf) >= TARGET) if is_target else None, note=note,
                        samples={"seconds": times[f"{name}/{threads}"], "params": params, "macs": macs,
                                 "macs_hooks": hooks, "macs_flop_counter": counted}, **common))
        if f"{name}/1" in times:
            rtf1 = [audio_seconds / t for t in times[f"{name}/1"]]
            rows.append(Row(case=f"{name}, CPU 1 thread", ours=median(rtf1), ratio=median(rtf1),
                            samples={"seconds": times[f"{name}/1"]}, **common))
    if "yoho" in models:
        ops = top_operators(models["yoho"], *data["yoho"])
        log("  yoho top operators: " + json.dumps(ops))
        target_row = next(r for r in rows if r.case.startswith("yoho, CPU"))
        target_row.samples["top_operators"] = ops
        target_row.note += "; top operators (self CPU time): " + ", ".join(describe(o) for o in ops[:3])
        long_seconds = len(long_features) * models["yoho"].cfg.hop_seconds
        e2e = [long_seconds / t for t in times["yoho-end-to-end"]]
        rows.append(Row(case=f"yoho, predict_bins on a {minutes} min recording, {threads} threads", ours=median(e2e),
                        ratio=median(e2e), note="windows overlap by half: about 2 forward passes per second of audio",
                        samples={"seconds": times["yoho-end-to-end"]}, **common))
        cl_rtf = [audio_seconds / t for t in times["yoho-channels-last"]]
        rows.append(Row(case=f"what-if (not arseg): yoho in channels_last, {threads} threads", ours=median(cl_rtf),
                        ratio=median(cl_rtf), samples={"seconds": times["yoho-channels-last"]},
                        note=f"{paired_ratio(times[f'yoho/{threads}'], times['yoho-channels-last']):.2f}x faster than "
                             f"as built: same weights, model.to(memory_format=torch.channels_last); outputs differ "
                             f"by at most {cl_diff:.1e} (logits)",
                        **common))
        fused_rtf = [audio_seconds / t for t in times["yoho-fused-channels-last"]]
        rows.append(Row(case=f"what-if (not arseg): yoho, batch norm folded into the convolutions + channels_last, "
                             f"{threads} threads", ours=median(fused_rtf), ratio=median(fused_rtf),
                        samples={"seconds": times["yoho-fused-channels-last"]},
                        note=f"{paired_ratio(times[f'yoho/{threads}'], times['yoho-fused-channels-last']):.2f}x faster "
                             f"than as built: torch.fx.experimental.optimization.fuse on the 2-D front end, then "
                             f"channels_last; outputs differ by at most {fused_diff:.1e} (logits)", **common))
        if "yoho-spinning" in times:
            spin = [audio_seconds / t for t in times["yoho-spinning"]]
            rows.append(Row(case=f"what-if: yoho with OMP_WAIT_POLICY unset (spinning), {threads} threads",
                            ours=median(spin), ratio=median(spin), samples={"seconds": times["yoho-spinning"]},
                            note=f"{paired_ratio(times['yoho-spinning'], times[f'yoho/{threads}']):.2f}x the time of "
                                 f"PASSIVE on this (shared) machine; the workflow's rules leave it unset", **common))
    if torch.cuda.is_available():
        rows.extend(gpu_rows(models, settings))
    return rows


def fused_channels_last(model):
    """Inference-only rewrite of yoho: each Conv2d + BatchNorm2d of the 2-D front end folded
    into one convolution, and the weights in channels_last memory format."""
    from torch.fx.experimental.optimization import fuse

    model.backbone.frontend = fuse(model.backbone.frontend)
    return model.to(memory_format=torch.channels_last)


def _worker_without_wait_policy() -> Worker:
    saved = os.environ.pop("OMP_WAIT_POLICY", None)
    try:
        return Worker([sys.executable, "-m", "benchmarks._inference_worker"])
    finally:
        if saved is not None:
            os.environ["OMP_WAIT_POLICY"] = saved


def gpu_rows(models: dict, settings: Settings) -> list[Row]:
    name_of_device = torch.cuda.get_device_name(0)
    rows = []
    cases, data = {}, {}
    on_gpu = {}
    for name, model in models.items():
        on_gpu[name] = build(name).cuda()
        data[name] = inputs(on_gpu[name], BATCH, "cuda")

        def case(name=name):
            with torch.inference_mode():
                on_gpu[name](*data[name])
            torch.cuda.synchronize()
        cases[name] = case
    times = interleaved(cases, settings.repeats * 3, settings.warmup + 2)
    for name, t in times.items():
        window = on_gpu[name].cfg.window_seconds
        rtf = [BATCH * window / s for s in t]
        rows.append(Row(benchmark=NAME, case=f"{name}, GPU ({name_of_device})", metric="x real time", ours=median(rtf),
                        ratio=median(rtf), peer_name="real time", samples={"seconds": t}))
    return rows
