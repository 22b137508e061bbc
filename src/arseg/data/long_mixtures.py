"""Held-out audio for the `demo` rule: long mixtures made from the TEST split's clips
only, with a seed and a duration of their own (60 s by default), and the queries asked
of each file.

No training or evaluation step sees these files: the test mixtures are
`mixtures.duration` long and seeded by (mixtures.seed, split, index); a demo file's
draws come from a generator seeded by (demo.seed, index), a different stream even when
the two seeds are equal.

The mixture settings are the workflow's (`mixtures.snr_db`, `background_db`,
`edge_cut`, `layout`, `min_events`/`max_events`), except for the duration and the number
of events. In an 8 s mixture each category sounds once; a minute of audio should hold
several events, some of a category heard more than once, and still leave categories
out to ask about. So a demo file holds `min_events`..`max_events` distinct categories
(as a mixture does), and `demo.events_per_minute` events in all (at least one per
category present), each placed, clipped at the edges and leveled exactly as
`mixtures.draw_events` places one event. `demo.absent_categories` of the categories not
in the file are kept out of the draw so that they can be queried. With
`layout: back_to_back` the present categories' clips are laid end to end over the
whole file instead.

Kept free of torch: the demo mixtures rule runs in the light data env.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from arseg.data.events import EVENT_COLUMNS
from arseg.data.mixtures import (ClipLoader, ClipPools, Event, MixtureConfig, draw_back_to_back, draw_events, event_rows,
                                 mix, mixture_config)
from arseg.data.queries import QUERY_COLUMNS, example_queries, query_rows, text_queries
from arseg.io import atomic
from arseg.io.audio import write_wav

DEMO_SPLIT = "test"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    count: int = 3
    duration: float = 60.0
    examples: bool = False  # also ask by example clip (queries.examples)
    seed: int = 1000
    events_per_minute: float = 6.0
    absent_categories: int = 2

    @property
    def n_events(self) -> int:
        """Foreground events per file (before the at-least-one-per-category rule)."""
        return max(1, int(round(self.events_per_minute * self.duration / 60.0)))


def demo_config(config: dict) -> DemoConfig:
    demo = config["demo"]
    return DemoConfig(count=demo["count"], duration=float(demo["duration"]), seed=demo["seed"],
                      events_per_minute=float(demo["events_per_minute"]),
                      absent_categories=demo["absent_categories"],
                      examples=bool(config.get("queries", {}).get("examples", False)))


def demo_mixture_config(config: dict) -> MixtureConfig:
    """The workflow's mixture settings with the demo's duration (mixtures.duration plays no
    part, and the demo_mixtures rule's params leave it out)."""
    mixtures = {**config["mixtures"], "duration": float(config["demo"]["duration"])}
    return mixture_config({**config, "mixtures": mixtures})


def draw_demo_events(rng: np.random.Generator, clips: pd.DataFrame, cfg: MixtureConfig, n_events: int,
                     absent: int) -> list[Event]:
    """The events of one demo file (see the module's docstring). `clips`: one split's clips."""
    categories = sorted(clips["category"].unique())
    n_max = min(cfg.max_events, len(categories) - absent)
    if n_max < 1:
        raise ValueError(f"demo.absent_categories={absent} leaves no category to play: the {DEMO_SPLIT} split has "
                         f"{len(categories)} categories ({', '.join(categories)}); set demo.absent_categories to "
                         f"at most {len(categories) - 1}, or demo.enabled: false")
    n_present = int(rng.integers(min(cfg.min_events, n_max), n_max + 1))
    present = sorted(str(c) for c in rng.choice(categories, size=n_present, replace=False))
    if cfg.layout == "back_to_back":
        return draw_back_to_back(rng, ClipPools(clips[clips["category"].isin(present)]), cfg)
    extra = [str(c) for c in rng.choice(present, size=max(0, n_events - n_present))]
    one = dataclasses.replace(cfg, min_events=1, max_events=1)
    pools = {c: ClipPools(clips[clips["category"] == c]) for c in present}
    return [draw_events(rng, pools[c], one)[0] for c in present + extra]


def demo_queries(filename: str, events: pd.DataFrame, clips: pd.DataFrame, absent: int,
                 rng: np.random.Generator, examples_rng: np.random.Generator | None = None) -> list[list]:
    """Rows (QUERY_COLUMNS) for one demo file: each category present, as its label and as the
    description of its first clip in the file; `absent` categories not in the file, as their
    label and as the description of one of their clips (as the test split's negatives). With
    examples_rng, each category is also asked by an example clip of the split that is not in
    the file (`queries.example_queries`)."""
    first = events.sort_values("onset", kind="stable").drop_duplicates("event_label")
    categories = sorted(clips["category"].unique())
    missing = [c for c in categories if c not in set(events["event_label"])]
    negatives = sorted(str(c) for c in rng.permutation(missing)[:absent])
    descriptions = {c: clips.loc[clips["category"] == c, "description"].tolist() for c in negatives}
    queries = text_queries(first.sort_values("event_label", kind="stable"), negatives, descriptions, rng)
    if examples_rng is not None:
        clip_ids = {c: sorted(clips.loc[clips["category"] == c, "clip_id"]) for c in categories}
        present = sorted(first["event_label"])
        queries += example_queries(present, set(events["clip_id"]), negatives, clip_ids, examples_rng)
    return query_rows(filename, queries)


def generate_demo(clips: pd.DataFrame, audio_dir: Path, out_audio: Path, out_events: Path, out_queries: Path,
                  demo: DemoConfig, cfg: MixtureConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write demo.count files demo_NNN.wav to out_audio, their events (the DCASE-style table of
    `mixtures.generate_split`) and their queries (the columns of `queries.make_queries`)."""
    pool = clips[clips["split"] == DEMO_SPLIT]
    if pool.empty:
        raise ValueError(f"corpus has no clips in split {DEMO_SPLIT!r}: the demo is made from test clips only")
    out_audio = Path(out_audio)
    out_audio.mkdir(parents=True, exist_ok=True)
    load_clip = ClipLoader(audio_dir, cfg.sample_rate)
    all_events, all_queries = [], []
    for index in tqdm(range(demo.count), desc="demo mixtures", unit="file"):
        rng = np.random.default_rng([demo.seed, index])
        events = draw_demo_events(rng, pool, cfg, demo.n_events, demo.absent_categories)
        mixture, regions = mix(events, load_clip, rng, cfg)
        filename = f"demo_{index:03d}.wav"
        write_wav(out_audio / filename, mixture, cfg.sample_rate)
        rows = event_rows(filename, events, regions, cfg.sample_rate)
        table = pd.DataFrame(rows, columns=EVENT_COLUMNS)
        all_events += rows
        all_queries += demo_queries(filename, table, pool, demo.absent_categories, rng,
                                    np.random.default_rng([demo.seed, index, 1]) if demo.examples else None)
        n = table["event_label"].nunique()
        print(f"{filename}: {len(events)} events of {n} categor{'y' if n == 1 else 'ies'} "
              f"({', '.join(sorted(table['event_label'].unique()))}), {len(table)} annotated regions", flush=True)
    events_table = pd.DataFrame(all_events, columns=EVENT_COLUMNS).sort_values(["filename", "onset"], kind="stable")
    queries_table = pd.DataFrame(all_queries, columns=QUERY_COLUMNS)
    atomic.write_tsv(out_events, events_table)
    atomic.write_tsv(out_queries, queries_table)
    return events_table, queries_table
