"""Segment new audio with a trained model: the logic behind `arseg segment`.

Audio of any format, rate, channel count and length comes in through `io.audio`; it is
turned into the model's log-mel (in chunks, so an hour costs no more memory than its
features), run through `infer.windows.predict_bins` (overlapping windows stitched YOHO-style)
and decoded into (onset, offset, score) segments per query. Writers for the TSV, the cut
out audio and the picture live here too, so the command line stays thin.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

from arseg.data.corpus.table import label_text
from arseg.features.logmel import FeatureConfig, feature_config, log_mel
from arseg.infer.encode import encoder_output
from arseg.infer.windows import Decodings, predict_bins, segments_from_bins, window_plan
from arseg.io import atomic
from arseg.io.audio import AudioError, read_mono, write_span, write_wav
from arseg.model import targets
from arseg.model.examples import ExampleBank, ExampleError, clip_embedding, fit_length
from arseg.model.query_inputs import QueryError
from arseg.model.segmenter import ReferringSegmenter

SEGMENT_COLUMNS = ("onset", "offset", "score")
RESOLUTION = 0.001  # seconds: times are written with 3 decimals


@dataclasses.dataclass(frozen=True)
class Query:
    text: str  # the text, the label, or the example clip's path
    kind: str  # "text", "label" or "example"
    tag: str = ""  # added to the name of an example whose clip shares its name with another's

    @property
    def label(self) -> str:
        """How a picture names the query."""
        return f"example clip {Path(self.text).name}" if self.kind == "example" else repr(self.text)

    @property
    def name(self) -> str:
        """The query's part of its output files' names: an example is named after its clip."""
        if self.kind != "example":
            return safe_name(self.text)
        return f"example-{safe_name(Path(self.text).stem)}" + (f"-{self.tag}" if self.tag else "")


@dataclasses.dataclass
class Result:
    query: Query
    segments: list[tuple[float, float, float]]
    presence: np.ndarray  # per-bin presence score, for pictures


# ---------------------------------------------------------------- queries


def check_queries(model: ReferringSegmenter, texts: list[str], labels: list[str], model_path: str,
                  examples: list = ()) -> list[Query]:
    """The queries in the order given (texts, labels, example clips; duplicates dropped);
    QueryError naming the model when the model cannot take one. A text model is asked a
    --label as training asked its category's label queries (query_inputs)."""
    cfg = model.cfg
    queries: list[Query] = []
    for text in texts:
        if not text.strip():
            raise QueryError("--query: empty query text")
        if cfg.query_encoder != "text":
            raise QueryError(
                f"{model_path}: closed-set model (query_encoder '{cfg.query_encoder}'); it cannot take the "
                f"free-text query {text!r}; use --label with one of: {', '.join(cfg.labels)}")
        queries.append(Query(text.strip(), "text"))
    for label in labels:
        label = label.strip()
        if not label:
            raise QueryError("--label: empty label")
        if cfg.query_encoder == "label" and label not in cfg.labels:
            raise QueryError(f"{model_path}: unknown label {label!r}; this model knows: {', '.join(cfg.labels)}")
        queries.append(Query(label, "label"))
    for example in each_path_once(examples):  # a clip named twice (a/x.wav, ./a/x.wav) once
        if not cfg.example_dim:
            ask = "--label" if cfg.query_encoder == "label" else "--query"
            retrain = "a text model" if cfg.query_encoder == "label" else "it"
            raise QueryError(f"{model_path}: trained without example queries; it cannot take --example {example}; "
                             f"retrain {retrain} with queries.examples: true, or ask with {ask}")
        queries.append(Query(str(example), "example"))
    unique = first_of_each(queries, lambda q: asked_as(q, cfg.query_encoder))  # each question once, as first put
    unique = [dataclasses.replace(q, tag=path_hash(Path(q.text))) if q.kind == "example" and clash else q
              for q, clash in zip(unique, name_clashes([q.name for q in unique]))]  # a/door.wav and b/door.wav
    names = {}
    for query in unique:  # compared as a case-blind file system would
        other = names.setdefault(query.name.lower(), query)
        if other != query:
            raise QueryError(f"queries {other.text!r} and {query.text!r} would write the same files "
                             f"(*.{query.name}.tsv); rename one")
    if not unique:
        raise QueryError("nothing to look for: give at least one --query TEXT, --label NAME or --example CLIP")
    return unique


def asked_as(query: Query, query_encoder: str) -> tuple[str, str]:
    """What the model is given for a query: a text model hears a label as its category's
    label queries were put in training (`label_text`), so --label car_engine asks what
    --query "car engine" does."""
    if query.kind == "label" and query_encoder == "text":
        return "text", label_text(query.text)
    return query.kind, query.text


def embed_examples(model: ReferringSegmenter, queries: list[Query]) -> ExampleBank:
    """The clip embeddings of the example queries, keyed by their text (the clip's path): each
    clip read as the recordings are (any format, rate and channels), at most one window long;
    QueryError naming the clip when it is missing, unreadable, silent or too long."""
    clips = [q.text for q in queries if q.kind == "example"]
    vectors = []
    for clip in clips:
        try:
            audio, _ = read_mono(clip, model.cfg.sample_rate)
            audio = fit_length(clip, audio, model.cfg.sample_rate, model.cfg.window_seconds)
        except (AudioError, ExampleError) as error:
            raise QueryError(f"--example: {error}") from None
        vectors.append(clip_embedding(model.encoder, audio, model.cfg.sample_rate))
    return ExampleBank(clips, np.stack(vectors) if vectors else np.zeros((0, model.cfg.example_dim), np.float32))


# ---------------------------------------------------------------- segmentation


def n_windows(model: ReferringSegmenter, n_frames: int) -> int:
    return len(window_plan(n_frames, model)[0])


def segment_features(model: ReferringSegmenter, features: np.ndarray, queries: list[Query], inputs: torch.Tensor,
                     duration: float, decode: Decodings, progress=None,
                     batch_windows: int = 16) -> list[Result]:
    """Per query its segments (decoded as its kind of query is) and bin scores. 16 windows a
    batch: larger batches fall out of a CPU's cache."""
    bins = predict_bins(model, features, inputs, batch_windows=batch_windows, progress=progress)
    results = []
    for query, query_bins in zip(queries, bins):
        segments = [s for s in segments_from_bins(query_bins, model, duration, decode.of(query.kind))
                    if s[1] - s[0] >= RESOLUTION]  # shorter would print as onset == offset
        results.append(Result(query, segments, query_bins[:, 0].copy()))
    return results


def recording_features(model: ReferringSegmenter, audio: np.ndarray, progress=None) -> np.ndarray:
    """What the model reads of a whole recording (at its sample rate): the log-mel, or its
    pretrained encoder's features, computed by the encoder the model file carries (which
    calls progress(done, chunks) after each stretch of the recording)."""
    if model.cfg.encoder:
        return encoder_output(model.encoder, audio, model.cfg.sample_rate, model.cfg.encoder, progress)
    return log_mel(audio, feature_config(model.cfg))


def segment_file(path: Path, key: str, model: ReferringSegmenter, fast: ReferringSegmenter, queries: list[Query],
                 inputs: torch.Tensor, decode: Decodings, out: Path, extract: Path | None = None,
                 pad: float = 0.1, picture: bool = False, progress: Callable | None = None) -> dict:
    """Segment one audio file for every query and write, per query, OUT/<key>.<query>.tsv,
    with `extract` the segments cut out into EXTRACT/<key>.<query>/, with `picture`
    OUT/<key>.<query>.png. Returns the file's report (what `arseg segment --json` prints).

    fast: the model prepared for inference; progress(n, parts): n more of the file's parts
    are done (a pretrained encoder's stretches of the recording make the first half of its
    parts, the model's windows the rest)."""
    cfg = model.cfg
    audio, meta = read_mono(path, cfg.sample_rate)
    halves = 2 if cfg.encoder else 1  # the encoder takes about as long as the windows after it
    features = recording_features(model, audio, None if progress is None else
                                  (lambda done, chunks: progress(1, halves * chunks)))
    duration = meta.duration
    windows = max(1, n_windows(model, len(features)))
    advance = None if progress is None else (lambda n: progress(n, halves * windows))
    results = segment_features(fast, features, queries, inputs, duration, decode, progress=advance)
    notes = [meta.cut_short] if meta.cut_short else []
    if duration < cfg.bin_width:  # "0 segments" would read as "the sound is not there"
        notes.append(f"only {duration * 1000:.0f} ms long, shorter than one of the model's time bins "
                     f"({cfg.bin_width * 1000:.0f} ms): too short to find a sound in")
    entry = {"file": str(path), "duration": round(duration, 3), "sample_rate": meta.sample_rate,
             "channels": meta.channels, **({"note": "; ".join(notes)} if notes else {}), "results": []}
    if picture:  # the spectrogram drawn: the model's log-mel, or a plain one beside encoder features
        shown = FeatureConfig(sample_rate=cfg.sample_rate) if cfg.encoder else feature_config(cfg)
        spectrogram = log_mel(audio, shown) if cfg.encoder else features
    for result in results:  # the table last: a query's table means its cut-outs and picture are there
        stem = f"{key}.{result.query.name}"
        tsv = out / f"{stem}.tsv"
        tsv.unlink(missing_ok=True)  # an earlier run's table must not stand beside this run's cut-outs
        item = {"query": result.query.text, "kind": result.query.kind,
                "segments": [{"onset": round(on, 3), "offset": round(off, 3), "score": round(score, 4)}
                             for on, off, score in result.segments],
                "tsv": str(tsv)}
        if extract is not None:
            cuts = extract_segments(extract / stem, path, audio, cfg.sample_rate, duration, result.segments, pad)
            item["extracted"] = [str(p) for p in cuts]
        if picture:
            png = out / f"{stem}.png"
            plot(png, spectrogram, result, cfg.bin_width, shown.hop_seconds, duration, decode.of(result.query.kind),
                 f"{path.name}: {result.query.label} ({len(result.segments)} "
                 f"segment{'s' * (len(result.segments) != 1)})")
            item["plot"] = str(png)
        write_segments_tsv(tsv, result.segments)
        entry["results"].append(item)
    return entry


# ---------------------------------------------------------------- names and writers


def safe_name(text: str, limit: int = 60) -> str:
    """A file-name-safe stand-in for a query or a file stem: letters, digits, '-', '_' and
    '.' only, never starting with '.' or '-'; when characters had to go (spaces, slashes,
    shell metacharacters, non-ASCII) or it was cut short, an 8-hex hash of the original
    keeps two different texts from sharing a name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip()).strip("._-")
    slug = re.sub(r"_+", "_", slug)[:limit].rstrip("._-")
    if slug != text or not slug:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else digest
    return slug


def file_keys(paths: list[Path], query_names: list[str] = ()) -> dict[Path, str]:
    """A distinct, safe output stem per input file: the file's stem, with a hash of its full
    path added when two inputs share a stem (a/x.wav and b/x.flac), or when its outputs'
    names (<stem>.<query name>) would be another file's (x.y.ogg asked "z", x.wav asked "y.z")."""
    stems = [safe_name(p.stem) for p in paths]
    keys = [f"{stem}-{path_hash(path)}" if clash else stem for path, stem, clash in zip(paths, stems, name_clashes(stems))]
    outputs = [[f"{key}.{name}" for name in query_names] for key in keys]
    taken = [name.lower() for names in outputs for name in names]
    keys = [f"{key}-{path_hash(path)}" if any(taken.count(name.lower()) > 1 for name in names) and key == stem
            else key for path, key, stem, names in zip(paths, keys, stems, outputs)]
    return dict(zip(paths, keys))


def name_clashes(names: list[str]) -> list[bool]:
    """Whether each name is shared by another, compared as a case-blind file system compares
    them (X.wav and x.wav are one file there)."""
    folded = [name.lower() for name in names]
    return [folded.count(fold) > 1 for fold in folded]


def each_path_once(paths) -> list:
    """The paths in the order given, a file named twice (a/x.wav, ./a/x.wav) kept once."""
    return first_of_each(paths, lambda path: Path(path).resolve())


def first_of_each(items, key: Callable) -> list:
    """The items in their order, each but the first of those with one key left out."""
    first = {}
    for item in items:
        first.setdefault(key(item), item)
    return list(first.values())


def path_hash(path: Path) -> str:
    """Six hex digits of a file's full path, to tell apart two files of one name."""
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]


def write_segments_tsv(path: Path, segments: list[tuple[float, float, float]]) -> None:
    lines = ["\t".join(SEGMENT_COLUMNS)] + [f"{on:.3f}\t{off:.3f}\t{score:.4f}" for on, off, score in segments]
    atomic.write_text(path, "\n".join(lines) + "\n")


def extract_segments(folder: Path, source: Path, mono: np.ndarray, mono_rate: int, duration: float,
                     segments: list[tuple[float, float, float]], pad: float) -> list[Path]:
    """Each segment (padded by `pad` seconds, within the file) as its own WAV in `folder`:
    from the original file (its rate and channels) where libsndfile reads it, else from the
    mono signal the model saw. The folder is written under another name and replaces the
    earlier one whole once all are written, so an interrupted run leaves the old set, not
    part of the new one."""
    names = []
    with atomic.atomic_dir(folder) as staging:
        for i, (onset, offset, _) in enumerate(segments, 1):
            start, stop = max(0.0, onset - pad), min(duration, offset + pad)
            names.append(f"seg{i:03d}_{onset:.2f}s-{offset:.2f}s.wav")
            try:
                copied = write_span(source, start, stop, staging / names[-1])
            except (sf.LibsndfileError, RuntimeError):  # the original fails part way: the model's signal
                copied = False
            if not copied:
                audio = mono[int(round(start * mono_rate)):int(round(stop * mono_rate))]
                write_wav(staging / names[-1], np.clip(audio, -1.0, 1.0), mono_rate)
    return [folder / name for name in names]


def plot(path: Path, features: np.ndarray, result: Result, bin_width: float, hop_seconds: float,
         duration: float, decode: targets.DecodeConfig, title: str) -> None:
    """Spectrogram, the query's score curve with the threshold (and gate), and the segments found."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg through savefig

    from arseg.infer import drawing

    fig = Figure(figsize=(min(20.0, max(8.0, duration / 6.0)), 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    drawing.spectrogram(top, features, hop_seconds, max_columns=4000, range_db=80.0, interpolation="nearest")
    top.set_title(title, fontsize=10)
    drawing.presence(bottom, result.presence, bin_width, decode.threshold, decode.gate, color="tab:blue",
                     line_color="grey", linewidth=0.8, labels=True)
    # A strip along the top of the spectrogram (so it stays visible) and shading under the score curve
    segments = [(onset, offset) for onset, offset, _ in result.segments]
    drawing.spans(top, segments, (0.95, 0.05), transform=top.get_xaxis_transform(), facecolor="lime", linewidth=0)
    drawing.spans(bottom, segments, (0, 1), transform=bottom.get_xaxis_transform(), facecolor="tab:green",
                  alpha=0.3, linewidth=0, label="segments" if segments else None)
    bottom.set_ylim(-0.04, 1.02)  # a score of 0 clear of the axis
    bottom.set_xlim(0, duration)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("presence")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)  # beside the curve, never over it
    with atomic.atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
