"""Turn the workflow's config dict (validated and defaulted by the schema) into the
dataclasses the library takes, and check what a schema cannot express."""
from __future__ import annotations

from .evaluate import EvalConfig
from .features import FeatureConfig
from .mixtures import MixtureConfig
from .models.model import ModelConfig
from .targets import DecodeConfig
from .training import TrainConfig


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
    if config["corpus"]["source"] == "folder" and not config["corpus"]["path"]:
        raise ConfigError("corpus.path: required when corpus.source is 'folder'")
    audio = config["audio"]
    if audio["win_seconds"] * audio["sample_rate"] < 2 * audio["n_mels"]:
        raise ConfigError(f"audio.win_seconds: {audio['win_seconds']} s is too short for {audio['n_mels']} mel bands")
    if mix["duration"] < config["model"]["bin_seconds"]:
        raise ConfigError(f"mixtures.duration ({mix['duration']} s) is shorter than one model.bin_seconds bin")


def feature_config(config: dict) -> FeatureConfig:
    return FeatureConfig(**config["audio"])


def mixture_config(config: dict) -> MixtureConfig:
    mix = config["mixtures"]
    return MixtureConfig(duration=mix["duration"], sample_rate=config["audio"]["sample_rate"],
                         min_events=mix["min_events"], max_events=mix["max_events"],
                         snr_db=tuple(mix["snr_db"]), background_db=mix["background_db"], edge_cut=mix["edge_cut"])


def model_config(config: dict, backbone: str, labels: list[str]) -> ModelConfig:
    model, decoding = config["model"], config["decoding"]
    window = config["mixtures"]["duration"]
    return ModelConfig(backbone=backbone, width=model["width"], query_encoder=model["query_encoder"],
                       query_dim=model["query_dim"], labels=list(labels), window_seconds=window,
                       n_bins=max(1, int(round(window / model["bin_seconds"]))),
                       threshold=decoding["threshold"], merge_gap=decoding["merge_gap"],
                       min_duration=decoding["min_duration"], **config["audio"])


def train_config(config: dict, seed: int) -> TrainConfig:
    return TrainConfig(seed=seed, **config["training"])


def decode_config(config: dict) -> DecodeConfig:
    return DecodeConfig(**config["decoding"])


def eval_config(config: dict) -> EvalConfig:
    ev = config["evaluation"]
    return EvalConfig(t_collar=ev["t_collar"], percentage_of_length=ev["percentage_of_length"],
                      segment_seconds=ev["segment_seconds"])
