"""Inputs the benchmarks share, built once per work folder and reused: the demo corpus and
a set of 8-second mixtures."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
from pathlib import Path

import pandas as pd

CORPUS_SEED = 0
CLIPS_PER_CATEGORY = 12


@contextlib.contextmanager
def quiet():
    """Silence tqdm progress bars of library calls made in this process."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


@functools.cache
def _code_digest() -> str:
    """Short hash of the code that makes the corpus and the mixtures, so cached inputs are
    rebuilt when it changes."""
    import arseg.data.corpus.synthetic
    import arseg.data.mixtures

    sources = b"".join(Path(m.__file__).read_bytes() for m in (arseg.data.corpus.synthetic, arseg.data.mixtures))
    return hashlib.sha256(sources).hexdigest()[:10]


def demo_corpus(workdir: Path) -> tuple[Path, pd.DataFrame]:
    """The embedded demo corpus (10 categories x 12 clips), as the default workflow makes it."""
    from arseg.data.corpus.synthetic import synthesize_corpus
    from arseg.data.corpus.table import read_clips

    root = Path(workdir) / f"demo-corpus-{CLIPS_PER_CATEGORY}-{CORPUS_SEED}-{_code_digest()}"
    if not (root / "clips.tsv").exists():
        with quiet():
            synthesize_corpus(root, clips_per_category=CLIPS_PER_CATEGORY, seed=CORPUS_SEED)
    return root, read_clips(root / "clips.tsv")


def mixture_set(workdir: Path, count: int, duration: float = 8.0) -> list[Path]:
    """`count` mixtures of `duration` seconds (default workflow settings), as WAV files."""
    from arseg.data.mixtures import MixtureConfig, generate_split

    root, clips = demo_corpus(workdir)
    out = Path(workdir) / f"mixtures-{duration:g}s-{count}-{_code_digest()}"
    paths = sorted((out / "audio").glob("*.wav"))
    if not (out / "events.tsv").exists() or len(paths) != count:
        with quiet():
            generate_split(clips, root / "audio", out, "test", count, MixtureConfig(duration=duration), seed=1)
        paths = sorted((out / "audio").glob("*.wav"))
    return paths
