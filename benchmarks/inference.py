"""Inference per backbone (every entry of arseg.model.backbones.BACKBONES): real-time
factor on CPU (and GPU when present), parameters and multiply-accumulates.

Real-time factor = seconds of audio per second of compute. Two paths per backbone:
  - the model as built (what training's forward pass runs), applied to a batch of 32
    windows (8 s each at the default config) with one query per window;
  - the path every inference takes (`arseg segment`, the workflow's predict step, validation
    in training): model.segmenter.prepare_for_inference (batch norm folded into the
    convolutions), and for `arseg segment` inference.predict_bins with 16
    windows a batch (segment.segment_features); timed on the same batch of 32 windows and
    end to end on one long recording (windows overlap by half, so every second is
    processed about twice, and the bins are stitched; the RTF counts recording seconds).
All cases run interleaved. For yoho also where the time goes (torch.profiler, top
operators, as built and prepared) and (full mode) the what-if of OpenMP threads left
spinning (OMP_WAIT_POLICY unset, as in the workflow's rules) instead of sleeping
(PASSIVE, as the arseg command line sets).
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
SEGMENT_BATCH = 16  # windows per batch in `arseg segment` (segment.segment_features)
TARGET = 1000.0


def build(name: str, width: float = WIDTH):
    """A freshly initialised model made numerically like a trained one (see calibrate)."""
    from arseg.model.segmenter import ModelConfig, ReferringSegmenter

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
    if cfg.query_encoder == "label":
        query = torch.randint(len(cfg.labels), (batch,), generator=g)
    else:
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
    from arseg.infer.windows import predict_bins
    from arseg.model.backbone_specs import ENCODER
    from arseg.model.backbones import BACKBONES
    from arseg.model.segmenter import prepare_for_inference

    log = settings.log
    threads = torch.get_num_threads()
    # the log-mel backbones; the pretrained ones' cost is mostly their encoder's (the `encoder`
    # benchmark), and aisfx_tuned's trained last block is not measured here
    models = {name: build(name) for name in BACKBONES if name not in ENCODER}
    prepared = {name: prepare_for_inference(model) for name, model in models.items()}
    data = {name: inputs(m, BATCH) for name, m in models.items()}
    window = models["yoho"].cfg.window_seconds if "yoho" in models else next(iter(models.values())).cfg.window_seconds
    audio_seconds = BATCH * window
    minutes = settings.pick(2, 10)
    long_features = (torch.randn(int(minutes * 60 / next(iter(models.values())).cfg.hop_seconds) + 1, 64,
                                 generator=torch.Generator().manual_seed(1)) * 10 - 40).numpy()
    long_seconds = (len(long_features) - 1) * next(iter(models.values())).cfg.hop_seconds

    def forward(model, data_of, n_threads):
        def case():
            torch.set_num_threads(n_threads)
            try:
                with torch.inference_mode():
                    model(*data_of)
            finally:
                torch.set_num_threads(threads)
        return case

    def end_to_end(name):  # as segment.segment_features calls it
        one_query = data[name][1][:1]
        return lambda: predict_bins(prepared[name], long_features, one_query, batch_windows=SEGMENT_BATCH)

    cases = {}
    for name in models:
        cases[f"{name}/{threads}"] = forward(models[name], data[name], threads)
        cases[f"{name}/prepared/{threads}"] = forward(prepared[name], data[name], threads)
        cases[f"{name}/end-to-end"] = end_to_end(name)
        if threads != 1 and (name == "yoho" or not settings.quick):
            cases[f"{name}/1"] = forward(models[name], data[name], 1)
            cases[f"{name}/prepared/1"] = forward(prepared[name], data[name], 1)
    differences = {}
    with torch.inference_mode():
        for name in models:
            differences[name] = float((prepared[name](*data[name]) - models[name](*data[name])).abs().max())
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
    rows = []
    for name, model in models.items():
        one = inputs(model, 1)
        hooks, counted = hook_macs(model, *one), counter_macs(model, *one)
        macs = max(hooks, counted)
        params = model.count_parameters()
        is_target = name == "yoho"
        target = dict(target=f">= {TARGET:,.0f}x", met=None) if is_target else {}
        plain = [audio_seconds / t for t in times[f"{name}/{threads}"]]
        fast = [audio_seconds / t for t in times[f"{name}/prepared/{threads}"]]
        note = (f"{params / 1e6:.3f} M parameters, {macs / 1e6:.0f} M MACs per {window:g} s window "
                f"(hooks {hooks / 1e6:.0f} M, FlopCounterMode {counted / 1e6:.0f} M); batch of {BATCH} windows "
                f"in {median(times[f'{name}/{threads}']):.3f} s")
        if is_target:
            target["met"] = median(plain) >= TARGET
        rows.append(Row(case=f"{name}, model as built (training's forward pass), CPU {threads} threads, width {WIDTH:g}",
                        ours=median(plain), ratio=median(plain), note=note,
                        samples={"seconds": times[f"{name}/{threads}"], "params": params, "macs": macs,
                                 "macs_hooks": hooks, "macs_flop_counter": counted}, **target, **common))
        if is_target:
            target["met"] = median(fast) >= TARGET
        rows.append(Row(case=f"{name}, prepared, as `arseg segment` and the workflow's predict run it, CPU {threads} threads, "
                             f"width {WIDTH:g}",
                        ours=median(fast), ratio=median(fast), samples={"seconds": times[f"{name}/prepared/{threads}"]},
                        note=f"{paired_ratio(times[f'{name}/{threads}'], times[f'{name}/prepared/{threads}']):.2f}x "
                             f"faster than as built (paired); batch norm folded into the convolutions; "
                             f"logits differ by at most {differences[name]:.1e}", **target, **common))
        for path, key in (("model as built", f"{name}/1"), ("prepared", f"{name}/prepared/1")):
            if key in times:
                rtf1 = [audio_seconds / t for t in times[key]]
                rows.append(Row(case=f"{name}, {path}, CPU 1 thread", ours=median(rtf1), ratio=median(rtf1),
                                samples={"seconds": times[key]}, **common))
        e2e = [long_seconds / t for t in times[f"{name}/end-to-end"]]
        rows.append(Row(case=f"{name}, `arseg segment` path end to end: predict_bins (prepared, {SEGMENT_BATCH} windows "
                             f"a batch) on a {minutes} min recording, {threads} threads",
                        ours=median(e2e), ratio=median(e2e), samples={"seconds": times[f"{name}/end-to-end"]},
                        note="windows overlap by half: about 2 forward passes per second of audio, plus stitching",
                        **common))
    if "yoho" in models:
        ops = top_operators(models["yoho"], *data["yoho"])
        fast_ops = top_operators(prepared["yoho"], *data["yoho"])
        log("  yoho top operators, as built: " + json.dumps(ops))
        log("  yoho top operators, prepared: " + json.dumps(fast_ops))
        plain_row, fast_row = (next(r for r in rows if r.case.startswith(f"yoho, {p}"))
                               for p in ("model as built", "prepared,"))
        plain_row.samples["top_operators"] = ops
        plain_row.note += "; top operators (self CPU time): " + ", ".join(describe(o) for o in ops[:3])
        fast_row.samples["top_operators"] = fast_ops
        fast_row.note += "; top operators: " + ", ".join(describe(o) for o in fast_ops[:3])
        if "yoho-spinning" in times:
            spin = [audio_seconds / t for t in times["yoho-spinning"]]
            rows.append(Row(case=f"what-if: yoho with OMP_WAIT_POLICY unset (spinning), {threads} threads",
                            ours=median(spin), ratio=median(spin), samples={"seconds": times["yoho-spinning"]},
                            note=f"{paired_ratio(times['yoho-spinning'], times[f'yoho/{threads}']):.2f}x the time of "
                                 f"PASSIVE on this (shared) machine; the workflow's rules leave it unset", **common))
    if torch.cuda.is_available():
        rows.extend(gpu_rows(models, settings))
    return rows


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
