"""Turn the workflow's config dict (validated and defaulted by the schema) into the
dataclasses the library takes, and check what a schema cannot express.

Each helper imports its dataclass when called: Snakemake imports this module to check the
config at every start (the driver, and each cluster job again), which so imports no torch.
mixture_config lives beside MixtureConfig in arseg.data.mixtures, and eval_config beside
EvalConfig in arseg.eval.scoring, so that a rule imports only the layer it needs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arseg.model.segmenter import ModelConfig
    from arseg.train.loop import TrainConfig


class ConfigError(ValueError):
    pass


def check_config(config: dict) -> None:
    """Impossible values, named by key; run before any job (from the Snakefile)."""
    mix = config["mixtures"]
    low, high = mix["snr_db"]
    if low > high:
        raise ConfigError(f"mixtures.snr_db: range reversed ({low} > {high}); write [low, high]")
    if mix["min_events"] > mix["max_events"]:
        raise ConfigError(f"mixtures.min_events ({mix['min_events']}) > mixtures.max_events ({mix['max_events']})")
    chosen = config["corpus"].get("categories") or []
    if chosen and mix["min_events"] > len(chosen):
        raise ConfigError(f"mixtures.min_events ({mix['min_events']}) > the {len(chosen)} categories of "
                          f"corpus.categories ({chosen}); a mixture's events come from distinct categories")
    demo = config.get("demo") or {}
    if chosen and demo.get("enabled") and demo.get("absent_categories", 0) >= len(chosen):
        raise ConfigError(f"demo.absent_categories ({demo['absent_categories']}) leaves none of the {len(chosen)} "
                          f"categories of corpus.categories ({chosen}) to play in a demo file")
    if config["queries"]["examples"] and config["model"]["query_encoder"] != "text":
        raise ConfigError("queries.examples: example queries need a text model (model.query_encoder: text); "
                          "a closed-set label model answers label queries only")
    if config["corpus"]["source"] == "folder":
        check_corpus_path(config["corpus"]["path"])
    if config["corpus"]["source"] == "sounddescs":
        clip_table = config["corpus"]["sounddescs"]["clip_table"]
        if clip_table["protocol"] not in clip_table["category_maps"]:
            raise ConfigError(f"corpus.sounddescs.clip_table.protocol: {clip_table['protocol']!r} is not a key of "
                              f"corpus.sounddescs.clip_table.category_maps ({sorted(clip_table['category_maps'])})")
    from arseg.eval.scoring import buckets_config

    try:  # here, not only in the evaluate rule after every training
        buckets_config(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    audio = config["audio"]
    if audio["win_seconds"] * audio["sample_rate"] < 2 * audio["n_mels"]:
        raise ConfigError(f"audio.win_seconds: {audio['win_seconds']} s is too short for {audio['n_mels']} mel bands")
    _check_bins(config)


def check_corpus_path(path: str) -> None:
    """A folder corpus's path: the folder that holds clips.tsv (its audio beside it)."""
    if not path:
        raise ConfigError("corpus.path: required when corpus.source is 'folder'")
    folder = Path(path)
    if folder.is_file():
        raise ConfigError(f"corpus.path: {path} is a file; give the folder that holds the corpus table "
                          f"(corpus.path: {folder.parent})")
    if not folder.is_dir():
        raise ConfigError(f"corpus.path: no folder {path} (relative paths start at {Path.cwd()})")
    if not (folder / "clips.tsv").is_file():
        raise ConfigError(f"corpus.path: {path} holds no clips.tsv, the corpus table (README.md, \"Other corpora\")")


def _check_bins(config: dict) -> None:
    from arseg.model.backbone_specs import bin_seconds, native_bin_seconds

    model, hop, duration = config["model"], config["audio"]["hop_seconds"], config["mixtures"]["duration"]
    for backbone in model["backbones"]:
        native, bins = native_bin_seconds(backbone, hop), bin_seconds(backbone, model["bin_seconds"], hop)
        if bins < native - 1e-9:  # finer bins than output steps would only repeat each step
            raise ConfigError(f"model.bin_seconds: {bins} s is finer than backbone {backbone}'s output step "
                              f"({native:g} s at audio.hop_seconds {hop}); leave it unset (null) for each "
                              f"backbone's own step")
        if duration < bins:
            raise ConfigError(f"mixtures.duration ({duration} s) is shorter than one {bins:g} s time bin "
                              f"of backbone {backbone}")


def model_config(config: dict, backbone: str, labels: list[str]) -> ModelConfig:
    from arseg.model.backbone_specs import ENCODER, ENCODER_DIM, ENCODER_FRAME_SECONDS, bin_seconds
    from arseg.model.segmenter import ModelConfig

    model, decoding = config["model"], config["decoding"]
    window = config["mixtures"]["duration"]
    bins = bin_seconds(backbone, model["bin_seconds"], config["audio"].get("hop_seconds"))
    inputs = dict(config["audio"])
    if backbone in ENCODER:  # reads the encoder's features of audio at the configured rate
        encoder = ENCODER[backbone]
        inputs.update(n_mels=ENCODER_DIM[encoder], hop_seconds=ENCODER_FRAME_SECONDS[encoder])
    return ModelConfig(backbone=backbone, width=model["width"], query_encoder=model["query_encoder"],
                       query_dim=model["query_dim"], labels=list(labels), window_seconds=window,
                       n_bins=max(1, int(round(window / bins))),
                       min_duration=decoding["min_duration"], max_false_alarm_rate=decoding["max_false_alarm_rate"], **inputs)


def train_config(config: dict, seed: int) -> TrainConfig:
    from arseg.train.loop import TrainConfig

    return TrainConfig(seed=seed, **config["training"])

