"""The embedded demo corpus: ten everyday sound categories, synthesised on the fly.

Each category has a small recipe (one function below) that builds a recognisable
sound from jittered parameters with vectorised numpy, and describes the clip in
words derived from those same parameters ("a small bell rings twice, slowly
fading"). The corpus is deterministic, takes seconds to build, and is distinct
enough for a model to learn on CPU, so the whole workflow runs offline.

Written layout (the corpus contract, see `arseg.data.corpus.table`)::

    out_dir/clips.tsv              clip_id, category, description, duration, split
    out_dir/audio/<clip_id>.wav    mono, 16-bit PCM
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import butter, fftconvolve, sosfilt
from tqdm import tqdm

from arseg.data.corpus.splits import FRACTIONS
from arseg.data.corpus.table import CLIP_COLUMNS, SPLITS
from arseg.io.atomic import write_tsv
from arseg.io.audio import write_wav

CATEGORIES: tuple[str, ...] = (
    "aircraft", "bell", "car", "clocks", "crowds",
    "dog", "footsteps", "rainforest", "siren", "telephone",
)
PEAK = 0.9       # peak level of every clip
FADE_S = 0.005   # fade in/out against clicks
EDGE_DB = -40.0  # a clip starts and ends where its level first and last reaches this (dB re peak)
MIN_DURATION_S = 0.3
MIN_SAMPLE_RATE = 8000

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


# ---------------------------------------------------------------- helpers

def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _times(count: int) -> str:
    """1 -> 'once', 2 -> 'twice', 3 -> 'three times'."""
    return {1: "once", 2: "twice"}.get(count, f"{_NUMBERS[count]} times")


def _filter(x: np.ndarray, sr: int, btype: str, cutoff, order: int = 2) -> np.ndarray:
    """Butterworth filter; cutoffs are pulled below Nyquist for low sample rates."""
    if np.ndim(cutoff):                              # band edges (low, high)
        high = min(cutoff[1], 0.45 * sr)
        cutoff = (min(cutoff[0], 0.5 * high), high)
    else:
        cutoff = min(cutoff, 0.45 * sr)
    sos = butter(order, cutoff, btype=btype, fs=sr, output="sos")
    return sosfilt(sos, x)


def _harmonics(f0: np.ndarray, amps, sr: int) -> np.ndarray:
    """Sum of harmonics k*f0 (f0 may vary per sample); partials above Nyquist are dropped."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros_like(phase)
    for k, amp in enumerate(amps, start=1):
        out += amp * np.sin(k * phase) * (k * f0 < 0.45 * sr)
    return out


def _decay(n: int, sr: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * sr))


def _add(buf: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Mix `sound` into `buf` at sample `start`, cropped at the end of `buf`."""
    end = min(len(buf), start + len(sound))
    if end > start:
        buf[start:end] += sound[: end - start]


def _smooth(x: np.ndarray, sr: int, seconds: float) -> np.ndarray:
    """Moving average: softens the edges of on/off gates."""
    k = max(1, int(seconds * sr))
    return np.convolve(x, np.ones(k) / k, mode="same")


def _wander(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """Slowly wandering random curve with unit standard deviation."""
    x = _filter(rng.standard_normal(n), sr, "lowpass", rate_hz)
    return x / (x.std() + 1e-12)


def _trim(audio: np.ndarray, sr: int) -> np.ndarray:
    """Cut leading and trailing silence, so the clip (and every annotation made from it)
    starts at the first sound and ends at the last; at least MIN_DURATION_S is kept."""
    loud = np.flatnonzero(np.abs(audio) >= np.abs(audio).max() * 10 ** (EDGE_DB / 20))
    start, end = loud[0], loud[-1] + 1
    end = min(len(audio), max(end, start + int(MIN_DURATION_S * sr)))
    start = max(0, min(start, end - int(MIN_DURATION_S * sr)))
    return audio[start:end]


def _finish(audio: np.ndarray, sr: int) -> np.ndarray:
    """Trim silent ends, fade the ends and peak-normalise to PEAK."""
    audio = _trim(audio, sr)
    fade = min(int(FADE_S * sr), len(audio) // 2)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
    audio[:fade] *= ramp
    audio[len(audio) - fade:] *= ramp[::-1]
    return (audio * (PEAK / (np.abs(audio).max() + 1e-12))).astype(np.float32)


# ------------------------------------------------------------- categories
# Each recipe: (rng, sr) -> (float64 audio, description).

def _aircraft(rng, sr):
    """Jet roar with a rise/fall envelope, a doppler-falling turbine whine and a darkening filter."""
    dur = rng.uniform(3.0, 8.0)
    t = np.arange(int(dur * sr)) / sr
    width = rng.uniform(0.3, 0.5) * dur           # how long the pass-by takes
    x = (t - rng.uniform(0.35, 0.65) * dur) / width
    near = 1 / (1 + x**2) ** 2                     # loudest at closest approach
    distant = rng.random() < 0.35
    noise = rng.standard_normal(len(t))
    bright = _filter(noise, sr, "bandpass", [300, 2500 if distant else 5000])
    dark = _filter(noise, sr, "bandpass", [80, 800])
    w = 0.5 * (1 - np.tanh(x))                     # bright when approaching, dark when leaving
    roar = w * bright / bright.std() + (1 - w) * dark / dark.std()
    doppler = 1 - rng.uniform(0.08, 0.18) * np.tanh(x)
    whine = _harmonics(rng.uniform(1500, 3200) * doppler, [1.0, 0.35], sr)
    audio = (0.2 + near) * roar + rng.uniform(0.35, 0.6) * (0.6 if distant else 1.0) * near**1.5 * whine
    plane = _pick(rng, ("a distant aircraft", "a plane far away")) if distant else \
        _pick(rng, ("a jet plane", "an airplane", "a low-flying jet", "an aircraft"))
    speed = "quickly" if width < 0.4 * dur else "slowly"
    desc = _pick(rng, (
        f"{plane} flies overhead {speed}, roaring {'softly' if distant else 'loudly'} then fading away",
        f"{plane} approaches and passes {speed}, its roar dropping in pitch",
        f"the roar of {plane} rises and falls as it passes {speed}",
        f"{plane} rumbles across the sky {'at a distance' if distant else 'close by'}, passing {speed}",
    ))
    return audio, desc


def _bell(rng, sr):
    """Inharmonic partials with exponential decay, struck 1-3 times."""
    strikes = int(rng.integers(1, 4))
    f0 = _loguniform(rng, 250, 1400)
    tau = rng.uniform(0.5, 1.6) * (600 / f0) ** 0.5  # bigger bells ring longer
    gap = rng.uniform(0.5, 1.5)
    dur = float(np.clip(gap * (strikes - 1) + 1.2 * tau + 0.3, 1.0, 7.5))
    ratios = np.array([1.0, 2.76, 5.40, 8.93]) * (1 + rng.normal(0, 0.004, 4))
    amps = np.array([1.0, 0.7, 0.45, 0.3]) * rng.uniform(0.6, 1.0, 4)
    taus = tau / np.array([1.0, 1.6, 2.4, 3.2])
    n = int(dur * sr)
    st = np.arange(n)[None, :] / sr
    partials = amps[:, None] * np.exp(-st / taus[:, None]) * np.sin(2 * np.pi * f0 * ratios[:, None] * st)
    strike = (partials * (f0 * ratios < 0.45 * sr)[:, None]).sum(axis=0)
    strike += 0.3 * _filter(rng.standard_normal(n), sr, "highpass", 2000) * _decay(n, sr, 0.003)  # clapper
    audio = np.zeros(n)
    for i in range(strikes):
        _add(audio, rng.uniform(0.8, 1.0) * strike, int(i * gap * sr))
    bell = _pick(rng, ("a large bell", "a deep church bell", "a heavy bell")) if f0 < 450 else \
        _pick(rng, ("a small bell", "a little hand bell", "a high bell")) if f0 > 900 else \
        _pick(rng, ("a bell", "a brass bell", "a metal bell"))
    fading = _pick(rng, ("slowly fading", "with a long, lingering tone")) if tau > 1.0 else \
        _pick(rng, ("fading quickly", "with a short, dull ring"))
    once = strikes == 1
    desc = _pick(rng, (
        f"{bell} rings {_times(strikes)}, {fading}",
        f"{bell} is struck {_times(strikes)}, {fading}",
        f"{'a single strike' if once else _NUMBERS[strikes] + ' strikes'} on {bell}, {fading}",
        f"{bell} chimes {_times(strikes)}, {'slow' if gap > 1.0 else 'quick'} and clear",
    ))
    return audio, desc


def _car(rng, sr):
    """Engine hum: low harmonic series with firing-rhythm modulation; idling, revving or shifting."""
    dur = rng.uniform(2.0, 8.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    mode = _pick(rng, ("idle", "accelerate", "shift"))
    f_start = rng.uniform(30, 45)                    # firing rate in Hz
    if mode == "idle":
        f0 = f_start * (1 + 0.02 * _wander(rng, n, sr, 1.0))
    elif mode == "accelerate":
        f0 = f_start * np.interp(t, [0, dur], [1, rng.uniform(1.6, 1.8)])
    else:                                            # rev up, drop at the gear change, rev up again
        at = rng.uniform(0.4, 0.6) * dur
        f0 = f_start * np.interp(t, [0, at, at + 0.15, dur], [1, 1.8, 1.15, 1.75])
    amps = (1 / np.arange(1, 17) ** 0.8) * rng.uniform(0.5, 1.0, 16)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    firing = 1 + rng.uniform(0.3, 0.6) * np.sin(phase / 2)  # four-stroke rhythm at half the firing rate
    hum = _harmonics(f0, amps, sr) * firing
    rumble = _filter(rng.standard_normal(n), sr, "lowpass", 150)
    audio = (hum / hum.std() + 0.3 * rumble / rumble.std()) * (0.6 + 0.4 * f0 / f0.max())
    car = _pick(rng, ("a car", "a car engine", "an old car", "a small car", "a heavy car"))
    desc = {
        "idle": _pick(rng, (f"{car} idles with a low, steady hum",
                            f"{car} idling, rumbling quietly",
                            f"the steady low drone of {car} at idle")),
        "accelerate": _pick(rng, (f"{car} accelerates, its engine revving higher",
                                  f"{car} speeds up from a low rumble",
                                  f"the engine of {car} revs up steadily")),
        "shift": _pick(rng, (f"{car} speeds up and shifts gear",
                             f"{car} revs, drops as the gear changes, then revs again",
                             f"{car} accelerates through a gear change")),
    }[mode]
    return audio, desc


def _clocks(rng, sr):
    """Regular tick-tock: short high clicks alternating between two pitches."""
    dur = rng.uniform(2.0, 8.0)
    interval = rng.uniform(0.25, 0.6)                # tick to tock
    f_tick = rng.uniform(2500, 4500)
    n_click = int(0.03 * sr)
    audio = np.zeros(int(dur * sr))
    clicks = []
    for f in (f_tick, f_tick * rng.uniform(0.6, 0.8)):  # tick, then lower tock
        st = np.arange(n_click) / sr
        ring = np.sin(2 * np.pi * f * st) + 0.5 * np.sin(2 * np.pi * 2.3 * f * st)
        snap = _filter(rng.standard_normal(n_click), sr, "highpass", 3000)
        clicks.append((ring + snap) * _decay(n_click, sr, rng.uniform(0.003, 0.006)))
    onsets = np.arange(rng.uniform(0.05, 0.3), dur - 0.05, interval)
    for i, onset in enumerate(onsets):
        _add(audio, rng.uniform(0.85, 1.0) * clicks[i % 2], int(onset * sr))
    pace = "quickly" if interval < 0.35 else "slowly" if interval > 0.5 else "steadily"
    clock = _pick(rng, ("a grandfather clock", "an old pendulum clock")) if interval > 0.5 else \
        _pick(rng, ("a small alarm clock", "a wristwatch")) if interval < 0.35 else \
        _pick(rng, ("a clock", "a wall clock", "a mechanical clock"))
    desc = _pick(rng, (
        f"{clock} ticks {pace}",
        f"{clock} tick-tocks {pace}",
        f"the {'fast' if interval < 0.35 else 'slow' if interval > 0.5 else 'even'} ticking of {clock}",
        f"{clock} ticking {pace} in a quiet room",
    ))
    return audio, desc


def _crowds(rng, sr):
    """Applause: dense random claps over a murmuring bed, optionally with cheering voices."""
    dur = rng.uniform(2.0, 8.0)
    n = int(dur * sr)
    s = np.arange(n) / n
    shape = _pick(rng, ("steady", "swell", "fade"))
    env = {"steady": np.ones(n), "swell": 0.3 + 0.7 * np.minimum(1, 1.5 * s), "fade": 1 - 0.8 * s}[shape]
    rate = _loguniform(rng, 15, 120)                  # claps per second
    onsets = rng.integers(0, n, rng.poisson(rate * dur))
    claps = np.zeros(n)
    kinds = rng.integers(0, 4, len(onsets))          # four hand shapes with different colour
    n_clap = int(0.02 * sr)
    for kind in range(4):
        impulses = np.zeros(n)
        np.add.at(impulses, onsets[kinds == kind], rng.uniform(0.3, 1.0, int((kinds == kind).sum())))
        centre = rng.uniform(800, 2500)
        kernel = _filter(rng.standard_normal(n_clap), sr, "bandpass", [0.6 * centre, 1.8 * centre]) \
            * _decay(n_clap, sr, rng.uniform(0.003, 0.006))
        claps += fftconvolve(impulses, kernel)[:n]
    murmur = _filter(rng.standard_normal(n), sr, "bandpass", [250, 1200])
    murmur *= np.clip(1 + 0.5 * _wander(rng, n, sr, 4.0), 0, None)  # syllable-like flutter
    audio = claps / (claps.std() + 1e-12) + rng.uniform(0.15, 0.4) * murmur / murmur.std()
    cheering = rng.random() < 0.5
    if cheering:                                     # a few "woo" voices gliding up
        for _ in range(int(rng.integers(2, 6))):
            m = int(rng.uniform(0.4, 1.2) * sr)
            sv = np.arange(m) / m
            vibrato = 1 + 0.02 * np.sin(2 * np.pi * 6 * np.arange(m) / sr)
            f0 = rng.uniform(250, 450) * (1 + 0.3 * sv) * vibrato
            voice = _filter(_harmonics(f0, [1, 0.6, 0.4, 0.3, 0.2], sr), sr, "bandpass", [400, 2500])
            _add(audio, rng.uniform(0.8, 1.5) * voice / voice.std() * np.sin(np.pi * sv) ** 2,
                 int(rng.uniform(0, max(dur - 0.5, 0.1)) * sr))
    audio *= env
    crowd = _pick(rng, ("a large crowd", "a packed stadium", "a big audience")) if rate > 60 else \
        _pick(rng, ("a small audience", "a small group", "a small gathering")) if rate < 30 else \
        _pick(rng, ("a crowd", "an audience", "the audience"))
    after = {"steady": "", "swell": ", growing louder", "fade": ", slowly dying down"}[shape]
    desc = _pick(rng, (
        f"{crowd} {'claps and cheers' if cheering else 'applauds'}{after}",
        f"applause {'and cheering ' if cheering else ''}from {crowd}{after}",
        f"{crowd} bursts into {'cheers and applause' if cheering else 'applause'}{after}",
        f"{'enthusiastic' if rate > 60 else 'scattered' if rate < 30 else 'warm'} applause "
        f"{'with whoops ' if cheering else ''}from {crowd}{after}",
    ))
    return audio, desc


def _dog(rng, sr):
    """Barks: short harmonic bursts with a rise-fall pitch, formant colouring and a fast attack."""
    barks = int(rng.integers(1, 5))
    f0 = _loguniform(rng, 400, 900)                  # small dogs bark higher
    bark_len = rng.uniform(0.1, 0.2) * (600 / f0) ** 0.5
    gap = rng.uniform(0.25, 0.6)
    dur = float(np.clip(0.1 + (barks - 1) * gap + bark_len + 0.25, 0.5, 3.0))
    formants = np.array([rng.uniform(900, 1500), rng.uniform(2000, 3000)])
    audio = np.zeros(int(dur * sr))
    m = int(bark_len * sr)
    sv = np.arange(m) / m
    attack = 1 - np.exp(-sv * bark_len / 0.004)
    env = attack * np.exp(-sv * 3.0) * (1 - sv)
    for i in range(barks):
        fb = f0 * rng.uniform(0.92, 1.08)
        contour = fb * (1 + 0.25 * np.sin(np.pi * np.minimum(1, 1.6 * sv)) - 0.2 * sv)
        k = np.arange(1, 13)                         # harmonics near the formants are loudest
        distance = np.log(k[:, None] * fb / formants[None, :]) / 0.35
        weights = np.exp(-0.5 * distance**2).sum(axis=1) + 0.15 / k
        voiced = _harmonics(contour, weights, sr)
        rough = _filter(rng.standard_normal(m), sr, "bandpass", [500, 3500])
        bark = (voiced / voiced.std() + 0.35 * rough / rough.std()) * env
        _add(audio, rng.uniform(0.7, 1.0) * bark, int((0.1 + i * gap + rng.uniform(-0.03, 0.03)) * sr))
    dog = _pick(rng, ("a small dog", "a little dog", "a puppy")) if f0 > 700 else \
        _pick(rng, ("a big dog", "a large dog", "a big guard dog")) if f0 < 500 else \
        _pick(rng, ("a dog", "a medium-sized dog"))
    tone = "high, yappy" if f0 > 700 else "deep" if f0 < 500 else "sharp"
    if barks == 1:
        desc = _pick(rng, (f"{dog} barks once", f"a single {tone} bark from {dog}",
                           f"{dog} gives one {tone} bark"))
    else:
        pace = "in quick succession" if gap < 0.4 else "with short pauses"
        desc = _pick(rng, (
            f"{dog} barks {_times(barks)}",
            f"{dog} barks {_times(barks)} {pace}",
            f"{_NUMBERS[barks]} {tone} barks from {dog}",
            f"{dog} barks {pace}, {_times(barks)}",
        ))
    return audio, desc


def _footsteps(rng, sr):
    """Impact trains: heel-toe thuds plus surface noise (crunch, wood knock or click)."""
    dur = rng.uniform(2.0, 8.0)
    rate = rng.uniform(1.5, 2.5)                     # steps per second
    heavy = rng.random() < 0.5
    surface = _pick(rng, ("gravel", "a wooden floor", "a hard floor", "snow"))
    m = int(0.25 * sr)
    st = np.arange(m) / sr
    audio = np.zeros(int(dur * sr))
    onset = rng.uniform(0.05, 0.4)
    while onset < dur - 0.15:
        f = rng.uniform(50, 80) if heavy else rng.uniform(80, 120)
        thud = np.sin(2 * np.pi * f * st * (1 - 0.3 * st)) * _decay(m, sr, 0.05 if heavy else 0.03)
        scuff = _filter(rng.standard_normal(m), sr, "bandpass", [100, 1000]) * _decay(m, sr, 0.025)
        if surface in ("gravel", "snow"):            # granular crunch
            grains = rng.random(m) < (0.03 if surface == "gravel" else 0.08)
            band = [800, 4000] if surface == "gravel" else [500, 2500]
            texture = 3.0 * _filter(grains * rng.standard_normal(m), sr, "bandpass", band)
            texture *= _decay(m, sr, 0.07)
        elif surface == "a wooden floor":            # hollow knock
            texture = 0.8 * np.sin(2 * np.pi * rng.uniform(180, 320) * st) * _decay(m, sr, 0.04)
        else:                                        # heel click
            texture = 0.6 * _filter(rng.standard_normal(m), sr, "bandpass", [1000, 4000])
            texture *= _decay(m, sr, 0.006)
        step = thud + 0.7 * scuff + (0.6 if heavy else 1.0) * texture
        toe = int(rng.uniform(0.04, 0.08) * sr)      # heel, then a softer toe
        step[toe:] += 0.4 * step[: m - toe]
        _add(audio, rng.uniform(0.8, 1.0) * step, int(onset * sr))
        onset += (1 / rate) * (1 + rng.normal(0, 0.04))
    pace = "at a brisk pace" if rate > 2.1 else "slowly" if rate < 1.8 else "steadily"
    tempo = "brisk" if rate > 2.1 else "slow" if rate < 1.8 else "steady"
    who = "heavy footsteps" if heavy else _pick(rng, ("light footsteps", "soft footsteps"))
    verb = "crunch" if surface in ("gravel", "snow") else "walk"
    desc = _pick(rng, (
        f"{who} {verb} {pace} on {surface}",
        f"{'someone heavy' if heavy else 'someone'} walks {pace} across {surface}",
        f"footsteps on {surface}, {'heavy' if heavy else 'light'} and {tempo}",
        f"a person walking {pace} on {surface}",
    ))
    return audio, desc


def _rainforest(rng, sr):
    """Bird chirps (fast FM sweeps) over a pulsing insect buzz and water drips."""
    dur = rng.uniform(3.0, 8.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    pulse = (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(30, 80) * t)) ** 4
    insects = _filter(rng.standard_normal(n), sr, "bandpass", [4500, 7000]) * pulse
    insects *= 1 + 0.3 * _wander(rng, n, sr, 0.5)
    audio = rng.uniform(0.3, 0.7) * insects / insects.std()
    drips = rng.uniform(0.5, 4.0)                    # per second
    for onset in rng.uniform(0, dur, rng.poisson(drips * dur)):
        m = int(0.04 * sr)
        sv = np.arange(m) / sr
        f = rng.uniform(1000, 2500) * (1 + 8 * sv)  # plink: pitch rises as the drop rings
        _add(audio, 0.8 * np.sin(2 * np.pi * np.cumsum(f) / sr) * _decay(m, sr, 0.012), int(onset * sr))
    birds = int(rng.integers(1, 4))
    for _ in range(birds):
        lo, hi = sorted(rng.uniform(2000, 6000, 2))
        chirp_len = rng.uniform(0.03, 0.1)
        up = rng.random() < 0.5
        phrase_at = rng.uniform(0, 0.8)
        while phrase_at < dur - 0.2:
            for j in range(int(rng.integers(2, 7))):  # a trill of similar chirps
                m = int(chirp_len * sr)
                sv = np.arange(m) / m
                f = np.minimum(lo + (hi - lo) * (sv if up else 1 - sv), 0.45 * sr)
                chirp = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.sin(np.pi * sv) ** 2
                _add(audio, rng.uniform(1.0, 2.0) * chirp, int((phrase_at + j * chirp_len * 1.5) * sr))
            phrase_at += rng.uniform(0.6, 1.8)
    place = _pick(rng, ("a rainforest", "a tropical forest", "the jungle", "a humid jungle"))
    flock = "a bird" if birds == 1 else _pick(rng, ("birds", "several birds", "a few birds"))
    dripping = drips > 2.0
    desc = _pick(rng, (
        f"{flock} {'chirps' if birds == 1 else 'chirp'} over buzzing insects in {place}",
        f"{place} with {'a bird' if birds == 1 else 'birds'} trilling, insects buzzing"
        f"{' and water dripping' if dripping else ''}",
        f"insects drone while {flock} {'sings' if birds == 1 else 'sing'} in {place}"
        f"{', water dripping nearby' if dripping else ''}",
        f"ambience of {place}: birdsong, buzzing insects{' and dripping water' if dripping else ''}",
    ))
    return audio, desc


def _siren(rng, sr):
    """Periodic pitch sweep (slow wail, fast yelp or two-tone hi-lo) with horn-like harmonics."""
    dur = rng.uniform(2.0, 8.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    mode = _pick(rng, ("wail", "yelp", "hilo"))
    lo, hi = rng.uniform(600, 800), rng.uniform(1100, 1500)
    period = rng.uniform(*{"wail": (1.5, 4.5), "yelp": (0.2, 0.4), "hilo": (0.8, 1.6)}[mode])  # seconds
    cycle = 2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)
    sweep = 0.5 - 0.5 * np.cos(cycle) if mode != "hilo" else 0.5 + 0.5 * np.tanh(20 * np.sin(cycle))
    f0 = lo + (hi - lo) * sweep
    audio = _harmonics(f0, [1.0, 0.45, 0.25, 0.12, 0.06], sr)
    motion = _pick(rng, ("passing", "approaching", "leaving"))
    level = {"passing": 0.3 + 0.7 * np.exp(-((t / dur - 0.5) / 0.25) ** 2),
             "approaching": 0.2 + 0.8 * t / dur, "leaving": 1 - 0.8 * t / dur}[motion]
    audio *= level
    vehicle = _pick(rng, ("an ambulance", "a police car", "a fire engine"))
    siren = _pick(rng, ("a siren", f"{vehicle} siren"))
    pace = "fairly fast" if period < 2.5 else "slowly"
    how, doing = {"wail": (f"wails up and down {pace}", f"wailing up and down {pace}"),
                  "yelp": ("yelps rapidly", "yelping rapidly"),
                  "hilo": ("alternates between two tones", "alternating between two tones")}[mode]
    sound = {"wail": "a rising and falling wail", "yelp": "a fast yelping sweep", "hilo": "a two-tone hee-haw"}[mode]
    where = {"passing": "passes by", "approaching": "approaches", "leaving": "drives away"}[motion]
    loudness = {"passing": "loud as it passes", "approaching": "getting louder", "leaving": "fading away"}[motion]
    desc = _pick(rng, (
        f"{siren} {how}",
        f"{vehicle} {where}, its siren {doing}",
        f"{sound} from {siren}, {loudness}",
    ))
    return audio, desc


def _telephone(rng, sr):
    """Ring: two close tones (or a fast trill) gated in an on/off cadence."""
    dur = rng.uniform(2.0, 8.0)
    n = int(dur * sr)
    t = np.arange(n) / sr
    style = _pick(rng, ("single", "double", "trill"))
    if style == "trill":                             # electronic warble between two pitches
        f = rng.uniform(450, 550)
        warble = 0.5 + 0.5 * np.tanh(10 * np.sin(2 * np.pi * rng.uniform(15, 25) * t))
        tone = _harmonics(f * (1 + 0.25 * warble), [1.0, 0.5, 0.3, 0.2], sr)
    else:                                            # two close tones beating (e.g. 440 + 480 Hz)
        f = rng.uniform(400, 460)
        partials = [1.0, 0.3, 0.15]                  # a little small-speaker distortion
        f2 = f + rng.uniform(30, 50)
        tone = _harmonics(np.full(n, f), partials, sr) + _harmonics(np.full(n, f2), partials, sr)
    on = rng.uniform(0.8, 1.6) if style != "double" else rng.uniform(0.3, 0.45)
    off = rng.uniform(1.0, 2.0)
    start = rng.uniform(0.05, 0.3)
    ring_period = on + off if style != "double" else 3 * on + off   # double: on, gap, on, then off
    ring_length = on if style != "double" else 3 * on
    rings = int((dur - start - ring_length) // ring_period) + 1      # only rings that fit completely
    phase = (t - start) % ring_period
    gate = (phase < on) if style != "double" else (phase < on) | ((phase >= 2 * on) & (phase < 3 * on))
    gate &= (t >= start) & (t < start + (rings - 1) * ring_period + ring_length)
    audio = tone * _smooth(gate.astype(float), sr, 0.01)
    phone = _pick(rng, ("a telephone", "a phone", "an old landline phone", "a desk phone", "an office phone"))
    kind = {"single": "long", "double": "double", "trill": "trilling"}[style]
    desc = _pick(rng, (
        f"{phone} rings {_times(rings)}",
        f"{phone} rings {_times(rings)} with a {kind} ring",
        f"{'a ' + kind + ' ring' if rings == 1 else _NUMBERS[rings] + ' ' + kind + ' rings'} from {phone}",
        f"{phone} keeps ringing, {_times(rings)}" if rings > 1 else f"{phone} rings once and stops",
        f"the {kind} ring of {phone}, heard {_times(rings)}",
    ))
    return audio, desc


_RECIPES = {
    "aircraft": _aircraft, "bell": _bell, "car": _car, "clocks": _clocks, "crowds": _crowds,
    "dog": _dog, "footsteps": _footsteps, "rainforest": _rainforest, "siren": _siren, "telephone": _telephone,
}


# ------------------------------------------------------------------- API

def synthesize_clip(category: str, rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, str]:
    """One clip of the category with jittered parameters.

    Returns (float32 mono audio peak-normalised to PEAK, description).
    """
    if category not in _RECIPES:
        raise ValueError(f"unknown demo category {category!r}; choose from {CATEGORIES}")
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate {sample_rate} is below {MIN_SAMPLE_RATE} Hz")
    audio, description = _RECIPES[category](rng, sample_rate)
    return _finish(audio, sample_rate), description


def split_counts(n: int, fractions=FRACTIONS) -> tuple[int, int, int]:
    """(train, val, test) clip counts for n clips; each split gets at least one when n >= 3."""
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or (fractions < 0).any() or fractions.sum() <= 0:
        raise ValueError(f"split_fractions must be three non-negative numbers, got {tuple(fractions)}")
    val, test = (min(n, round(n * f)) for f in fractions[1:] / fractions.sum())
    test = min(test, n - val)
    counts = [n - val - test, val, test]             # train takes the rounding remainder
    while n >= 3 and min(counts) == 0:               # lend one clip from the largest split
        counts[counts.index(max(counts))] -= 1
        counts[counts.index(0)] += 1
    return counts[0], counts[1], counts[2]


def _clip_rng(seed: int, category: str, variant: int) -> np.random.Generator:
    """Each clip's own stream, so adding categories or clips leaves the others unchanged."""
    key = (CATEGORIES.index(category), variant)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _splits_for(category: str, n: int, seed: int, fractions) -> list[str]:
    """Split label of each variant of a category, shuffled deterministically by seed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CATEGORIES.index(category),)))
    labels = np.repeat(SPLITS, split_counts(n, fractions))
    return [str(label) for label in labels[rng.permutation(n)]]


def synthesize_corpus(out_dir: str | os.PathLike, *, sample_rate: int = 16000, clips_per_category: int = 12,
                      seed: int = 0, split_fractions=FRACTIONS,
                      categories=CATEGORIES) -> pd.DataFrame:
    """Write clips.tsv and audio/*.wav under out_dir; return the clips table.

    Same arguments give byte-identical files. clips.tsv is written last, so its
    presence means every listed wav is complete.
    """
    categories = tuple(categories)
    unknown = [c for c in categories if c not in _RECIPES]
    if unknown:
        raise ValueError(f"unknown demo categories {unknown}; choose from {CATEGORIES}")
    if len(set(categories)) != len(categories):
        raise ValueError(f"duplicate categories in {categories}")
    if clips_per_category < 1:
        raise ValueError(f"clips_per_category must be >= 1, got {clips_per_category}")
    out_dir = Path(out_dir)
    jobs = [(category, variant, split)
            for category in categories
            for variant, split in enumerate(_splits_for(category, clips_per_category, seed, split_fractions))]
    rows = []
    for category, variant, split in tqdm(jobs, desc="demo corpus", unit="clip"):
        audio, description = synthesize_clip(category, _clip_rng(seed, category, variant), sample_rate)
        clip_id = f"{category}_{variant:03d}"
        write_wav(out_dir / "audio" / f"{clip_id}.wav", audio, sample_rate)
        rows.append((clip_id, category, description, round(len(audio) / sample_rate, 3), split))
    table = pd.DataFrame(rows, columns=CLIP_COLUMNS)
    write_tsv(out_dir / "clips.tsv", table)
    return table
