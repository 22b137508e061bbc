"""SoundDescs metadata: fetch the upstream files, parse them, build the clip table.

Upstream: github.com/akoepke/audio-retrieval-benchmark (sounddescs_data/ and
data/SoundDescs/). Base URLs are parameters so a mirror or a local server can
stand in. Ids are lower case everywhere; only the audio URL uses upper case.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from arseg.data.corpus.table import SPLITS
from arseg.data.corpus.table import check_clip_id
from arseg.io.atomic import atomic_path, write_tsv
from arseg.io.digest import file_sha256
from .fetch import DEFAULT_USER_AGENT, fetch
from .safe_pickle import load_pickle

UPSTREAM_COMMIT = "55dce738ebe3e3e9fe700d3f439ce41c4d27faec"
_RAW = f"https://raw.githubusercontent.com/akoepke/audio-retrieval-benchmark/{UPSTREAM_COMMIT}"
DEFAULT_DATA_BASE_URL = f"{_RAW}/sounddescs_data/"
DEFAULT_SPLITS_BASE_URL = f"{_RAW}/data/SoundDescs/"
DATA_FILES = ("categories.pkl", "descriptions.pkl", "download_links.txt")
SPLIT_FILES = tuple(f"{s}_list.txt" for s in SPLITS)
TABLE_COLUMNS = ["clip_id", "category", "description", "split", "source_id", "source_categories"]


class MetadataError(ValueError):
    """A metadata file is missing, malformed or inconsistent (the message names it)."""


# ---------------------------------------------------------------- fetching
def fetch_metadata(
    out_dir: str | os.PathLike,
    *,
    data_base_url: str = DEFAULT_DATA_BASE_URL,
    splits_base_url: str = DEFAULT_SPLITS_BASE_URL,
    sha256: Mapping[str, str | None] | None = None,
    timeout: float = 60.0,
    retries: int = 4,
    backoff: float = 2.0,
    user_agent: str = DEFAULT_USER_AGENT,
    progress: bool = True,
) -> dict[str, Path]:
    """Download the metadata files into `out_dir` (skipping ones already there and valid).

    sha256: optional file name -> expected hex digest (None: not checked). A file
    that fails the check is deleted and reported with its URL.
    """
    out_dir = Path(out_dir)
    sha256 = dict(sha256 or {})
    urls = {name: data_base_url.rstrip("/") + "/" + name for name in DATA_FILES}
    urls.update({name: splits_base_url.rstrip("/") + "/" + name for name in SPLIT_FILES})
    paths = {}
    for name, url in tqdm(urls.items(), desc="sounddescs metadata", unit="file", disable=not progress):
        dest = out_dir / name
        expected = sha256.get(name)
        if dest.exists() and (expected is None or file_sha256(dest) == expected):
            paths[name] = dest
            continue
        with atomic_path(dest) as tmp:
            result = fetch(url, tmp, timeout=timeout, retries=retries, backoff=backoff, user_agent=user_agent)
            if not result.ok:
                raise MetadataError(f"cannot fetch {url} after {result.attempts} attempt(s): {result.error}")
            if expected is not None and (actual := file_sha256(tmp)) != expected:
                raise MetadataError(f"{url}: sha256 {actual} does not match the configured {expected}")
        paths[name] = dest
    return paths


# ---------------------------------------------------------------- parsing
def _load_mapping(path, what: str) -> dict:
    obj = load_pickle(path)
    if not isinstance(obj, dict):
        raise MetadataError(f"{path}: expected a pickled dict of {what}, got {type(obj).__name__}")
    return obj


def load_categories(path: str | os.PathLike) -> dict[str, list[str]]:
    """categories.pkl: id -> list of SoundDescs category names."""
    out = {}
    for key, value in _load_mapping(path, "categories").items():
        if not isinstance(key, str) or not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise MetadataError(f"{path}: entry {key!r} is not id -> list of category strings")
        out[key] = value
    return out


def load_descriptions(path: str | os.PathLike) -> dict[str, str]:
    """descriptions.pkl: id -> text (a list of texts is joined); whitespace collapsed for TSV."""
    out = {}
    for key, value in _load_mapping(path, "descriptions").items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = " ".join(value)
        if not isinstance(key, str) or not isinstance(value, str):
            raise MetadataError(f"{path}: entry {key!r} is not id -> description text")
        out[key] = " ".join(value.split())
    return out


def read_id_list(path: str | os.PathLike) -> list[str]:
    """One id per line (blank lines ignored); ids are lower-cased and checked."""
    ids = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            ids.append(check_clip_id(line.strip().lower(), f"{path} line {lineno}"))
    return ids


def read_splits(meta_dir: str | os.PathLike) -> dict[str, list[str]]:
    return {s: read_id_list(Path(meta_dir) / f"{s}_list.txt") for s in SPLITS}


def parse_download_links(path: str | os.PathLike) -> dict[str, str]:
    """download_links.txt -> {lower-case id: URL}."""
    links = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"\S+/([^/\s]+)\.wav\.zip", line.strip())
        if not m:
            raise MetadataError(f"{path} line {lineno}: not a <base>/<ID>.wav.zip URL: {line.strip()!r}")
        links[check_clip_id(m.group(1).lower(), f"{path} line {lineno}")] = line.strip()
    return links


def load_metadata(meta_dir: str | os.PathLike) -> dict:
    """All parsed inputs of build_clip_table, from a folder filled by fetch_metadata."""
    meta_dir = Path(meta_dir)
    return dict(
        categories=load_categories(meta_dir / "categories.pkl"),
        descriptions=load_descriptions(meta_dir / "descriptions.pkl"),
        splits=read_splits(meta_dir),
        download_ids=set(parse_download_links(meta_dir / "download_links.txt")),
    )


# ---------------------------------------------------------------- category map
@dataclass(frozen=True)
class Rule:
    """A clip matches if it has SoundDescs `category` and (if keywords are given)
    its description contains one of them as a whole word, case-insensitively."""

    category: str
    keywords: tuple[str, ...] = ()

    def pattern(self) -> re.Pattern | None:
        if not self.keywords:
            return None
        words = "|".join(r"\s+".join(map(re.escape, k.split())) for k in self.keywords)
        return re.compile(rf"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])", re.IGNORECASE)


def parse_category_map(spec: Mapping) -> dict[str, tuple[Rule, ...]]:
    """Output category -> rules. A rule is a category name, a dict
    {category, keywords}, or a list of those (any of them matches)."""
    if not isinstance(spec, Mapping) or not spec:
        raise MetadataError(f"category map must be a non-empty mapping, got {spec!r}")
    parsed = {}
    for name, rules in spec.items():
        if not isinstance(name, str) or not name.strip() or any(c in name for c in "\t\n\r"):
            raise MetadataError(f"category map: bad output category name {name!r}")
        out = []
        for rule in rules if isinstance(rules, list) else [rules]:
            if isinstance(rule, str):
                rule = {"category": rule}
            if not isinstance(rule, Mapping) or not isinstance(rule.get("category"), str) \
                    or set(rule) - {"category", "keywords"}:
                raise MetadataError(f"category map entry {name!r}: bad rule {rule!r} "
                                    "(expected {category: <name>, keywords: [..]})")
            keywords = rule.get("keywords") or []
            if isinstance(keywords, str) or not all(isinstance(k, str) and k.strip() for k in keywords):
                raise MetadataError(f"category map entry {name!r}: keywords must be a list of words")
            out.append(Rule(rule["category"], tuple(keywords)))
        parsed[name] = tuple(out)
    return parsed


# ---------------------------------------------------------------- clip table
def build_clip_table(
    categories: Mapping[str, list[str]],
    descriptions: Mapping[str, str],
    splits: Mapping[str, list[str]],
    category_map: Mapping,
    *,
    download_ids: set[str] | None = None,
    on_conflict: str = "first",
) -> pd.DataFrame:
    """One row per SoundDescs clip that maps to an output category.

    Columns: clip_id (lower-case id, file stem), category (output name), description,
    split, source_id (upper-case BBC id, as in the audio URL), source_categories
    ('|'-joined). A clip matching several output categories (possible with
    multi-category clips or overlapping rules) gets the first one in map order
    (on_conflict='first') or is dropped (on_conflict='drop'). Clips are dropped if
    they are in no split, have no category or match no rule, have no description,
    or (with download_ids) have no download link. The counts are in
    `table.attrs['dropped']`; rows are sorted by clip_id.
    """
    if on_conflict not in ("first", "drop"):
        raise MetadataError(f"on_conflict must be 'first' or 'drop', got {on_conflict!r}")
    rules = parse_category_map(category_map)
    known = {c for cats in categories.values() for c in cats}
    for name, name_rules in rules.items():
        for rule in name_rules:
            if rule.category not in known:
                raise MetadataError(f"category map entry {name!r}: unknown SoundDescs category "
                                    f"{rule.category!r}; known: {sorted(known)}")
    patterns = {(n, i): r.pattern() for n, rs in rules.items() for i, r in enumerate(rs)}

    split_of: dict[str, str] = {}
    for split, ids in splits.items():
        if split not in SPLITS:
            raise MetadataError(f"unknown split {split!r}; expected one of {SPLITS}")
        for clip_id in ids:
            clip_id = check_clip_id(clip_id.lower(), f"{split} split list")
            if split_of.setdefault(clip_id, split) != split:
                raise MetadataError(f"clip {clip_id} is in both the {split_of[clip_id]} and {split} split lists")

    dropped = dict(no_split=len(set(categories) - set(split_of)), no_category=0, no_rule=0,
                   no_description=0, no_download_link=0, conflict=0)
    rows = []
    for clip_id, split in split_of.items():
        cats = categories.get(clip_id)
        if not cats:
            dropped["no_category"] += 1
            continue
        text = descriptions.get(clip_id, "")
        matches = [name for name, name_rules in rules.items()
                   if any(r.category in cats and (patterns[name, i] is None or patterns[name, i].search(text))
                          for i, r in enumerate(name_rules))]
        if not matches:
            dropped["no_rule"] += 1
        elif len(matches) > 1 and on_conflict == "drop":
            dropped["conflict"] += 1
        elif not text:
            dropped["no_description"] += 1
        elif download_ids is not None and clip_id not in download_ids:
            dropped["no_download_link"] += 1
        else:
            rows.append((clip_id, matches[0], text, split, clip_id.upper(), "|".join(cats)))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values("clip_id", ignore_index=True)
    table.attrs["dropped"] = dropped
    return table


def write_clip_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    write_tsv(path, table[TABLE_COLUMNS])


def read_clip_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read back a clip table; ids stay strings ('07033129' keeps its leading zero)."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = set(TABLE_COLUMNS) - set(table.columns)
    if missing:
        raise MetadataError(f"{path}: missing columns {sorted(missing)}")
    for clip_id in table.clip_id:
        check_clip_id(clip_id, str(path))
    return table
