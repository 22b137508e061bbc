"""Scaper side of the mixture benchmark. Runs inside the Scaper virtual environment
(numpy < 2, soxbindings), so it imports nothing from arseg or benchmarks.

Protocol: one JSON line in, one JSON line out (see benchmarks/common.py, Worker/serve).
Request: {"spec": path to the event specification JSON, "out": folder, "first": i, "count": n}
Reply:   {"seconds": wall seconds for n mixtures, "count": n}
"""
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
import scaper  # noqa: E402

_specs = {}


def spec(path):
    if path not in _specs:
        _specs[path] = json.loads(Path(path).read_text())
    return _specs[path]


def handle(request):
    s = spec(request["spec"])
    out = Path(request["out"])
    shutil.rmtree(out, ignore_errors=True)  # a fresh folder each run, cleared before the clock starts
    out.mkdir(parents=True)
    mixtures = s["mixtures"][request.get("first", 0):request.get("first", 0) + request["count"]]
    began, cpu = time.perf_counter(), time.process_time()
    for i, mixture in enumerate(mixtures):
        sc = scaper.Scaper(s["duration"], s["fg_path"], s["bg_path"], random_state=i)
        sc.sr = s["sample_rate"]
        sc.n_channels = 1
        sc.ref_db = s["ref_db"]
        sc.add_background(label=("const", s["bg_label"]), source_file=("const", mixture["background"]),
                          source_time=("const", 0.0))
        for ev in mixture["events"]:
            sc.add_event(label=("const", ev["label"]), source_file=("const", ev["path"]),
                         source_time=("const", ev["source_time"]), event_time=("const", ev["event_time"]),
                         event_duration=("const", ev["event_duration"]), snr=("const", ev["snr"]),
                         pitch_shift=None, time_stretch=None)
        stem = out / f"mix_{i:05d}"
        # Audio plus a plain-text annotation: the same outputs as ours (WAV + events table);
        # no JAMS file, which would only add to Scaper's time.
        sc.generate(audio_path=str(stem) + ".wav", txt_path=str(stem) + ".txt",
                    fix_clipping=True, disable_sox_warnings=True, disable_instantiation_warnings=True)
    return {"seconds": time.perf_counter() - began, "cpu_seconds": time.process_time() - cpu, "count": len(mixtures)}


def main():
    out = sys.stdout
    sys.stdout = sys.stderr
    out.write(json.dumps({"ready": True, "scaper": scaper.__version__}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as error:
            import traceback
            reply = {"error": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
