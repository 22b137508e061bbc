"""Every configuration the project ships passes the checks the workflow runs before any job,
merged over config/config.yaml the way `snakemake --configfile` merges it (the overlays of the
demo run over config/demo.yaml, as their files say), and changes only what it says it does."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from arseg.configs import check_config
from arseg.model.backbones import BACKBONES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
EXTRA = sorted(p.name for p in (ROOT / "config").glob("*.yaml") if p.name != "config.yaml")
ON_DEMO = {"more_data.yaml", "crnn_8k.yaml", "seed_protocol.yaml"}  # overlays of config/demo.yaml


@pytest.fixture(autouse=True)
def in_the_checkout(monkeypatch):
    """The shipped configs name data/real_sfx relative to the checkout, as a run there reads it."""
    monkeypatch.chdir(ROOT)


def merged(*names: str | None) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for name in filter(None, names):
        update_config(config, yaml.safe_load((ROOT / "config" / name).read_text()))
    validate(config, SCHEMA)  # also fills in the defaults
    check_config(config)
    return config


def test_the_project_ships_the_documented_configs():
    assert {"demo.yaml", "real.yaml", "seeds.yaml", "seed_protocol.yaml", "sounddescs.yaml", "more_data.yaml",
            "crnn_8k.yaml", "real_corpus.yaml"} <= set(EXTRA)
    readme = (ROOT / "README.md").read_text()
    assert all(f"`config/{name}`" in readme for name in ["config.yaml", *EXTRA])


@pytest.mark.parametrize("name", [None, *EXTRA])
def test_shipped_config_passes_the_workflow_checks(name):
    merged("demo.yaml" if name in ON_DEMO else None, name)


def test_the_default_runs_the_real_corpus_with_the_pretrained_backbone_and_crnn():
    default = merged(None)
    assert (default["corpus"]["source"], default["corpus"]["path"]) == ("folder", "data/real_sfx")
    assert (ROOT / default["corpus"]["path"] / "clips.tsv").is_file()
    assert default["model"]["backbones"] == ["aisfx", "crnn"] and default["model"]["seeds"] == [0]


def test_demo_changes_only_the_corpus_the_backbones_and_the_cap_on_false_alarms():
    default, demo = merged(None), merged("demo.yaml")
    assert demo["corpus"]["source"] == "demo"
    assert demo["model"]["backbones"] == ["yoho", "efficientnet_attention", "vgg", "crnn"]
    assert default["decoding"]["max_false_alarm_rate"] == 0.2 and demo["decoding"]["max_false_alarm_rate"] is None
    demo["corpus"], demo["model"]["backbones"] = default["corpus"], default["model"]["backbones"]
    demo["decoding"] = default["decoding"]
    assert demo == default


def test_real_changes_only_the_backbones_the_members_the_training_mixtures_the_refit_and_the_cap():
    default, real = merged(None), merged("real.yaml")
    assert real["model"]["backbones"] == ["aisfx"]
    assert (default["model"]["members"], real["model"]["members"]) == (1, 3)
    assert (default["decoding"]["max_false_alarm_rate"], real["decoding"]["max_false_alarm_rate"]) == (0.2, 0.1)
    real["decoding"] = default["decoding"]
    assert default["mixtures"]["count"]["refit"] == 0
    assert real["mixtures"]["count"] == {**default["mixtures"]["count"], "train": 4000, "refit": 1200}
    assert real["mixtures"]["augment"] == {"pitch_semitones": 2, "eq_db": 6, "reverb_probability": 0.3}
    assert not any(default["mixtures"]["augment"].values())
    for key in ("count", "augment"):
        real["mixtures"][key] = default["mixtures"][key]
    real["model"]["backbones"], real["model"]["members"] = default["model"]["backbones"], default["model"]["members"]
    assert real == default


def test_more_data_changes_only_the_training_mixtures():
    default, more = merged("demo.yaml"), merged("demo.yaml", "more_data.yaml")
    assert more["mixtures"]["count"] == {**default["mixtures"]["count"], "train": 4000}
    more["mixtures"]["count"] = default["mixtures"]["count"]
    assert more == default


def test_real_corpus_changes_only_the_backbones_and_the_seeds():
    default, real = merged(None), merged("real_corpus.yaml")
    assert sorted(real["model"]["backbones"]) == sorted(BACKBONES)  # every one
    assert real["model"]["seeds"] == [0, 1, 2]
    real["model"]["backbones"], real["model"]["seeds"] = default["model"]["backbones"], default["model"]["seeds"]
    assert real == default


def test_crnn_8k_changes_only_the_training_mixtures_the_backbones_and_the_augmentation():
    default, best = merged("demo.yaml"), merged("demo.yaml", "crnn_8k.yaml")
    assert best["mixtures"]["count"] == {**default["mixtures"]["count"], "train": 8000}
    assert best["model"]["backbones"] == ["crnn"]
    # as it was measured (see the file): no sums, SpecAugment on
    assert best["training"]["mix_probability"] == 0.0 and best["training"]["spec_augment"] is True
    best["mixtures"]["count"], best["model"]["backbones"] = default["mixtures"]["count"], default["model"]["backbones"]
    for key in ("mix_probability", "spec_augment"):
        best["training"][key] = default["training"][key]
    assert best == default


def dataclass_sections():
    """Each dataclass built from the config, the schema sections it takes keys from (a field
    takes the key of its own name in the first section that has one), and fields named
    otherwise in the config."""
    from arseg.data.long_mixtures import DemoConfig
    from arseg.data.mixtures import MixtureConfig
    from arseg.eval.scoring import EvalConfig
    from arseg.eval.sed_metrics import Buckets
    from arseg.features.logmel import FeatureConfig
    from arseg.model.segmenter import ModelConfig
    from arseg.train.loop import TrainConfig

    return [(TrainConfig, ["training"], {}),
            (ModelConfig, ["model", "decoding", "audio"], {"window_seconds": ("mixtures", "duration")}),
            (FeatureConfig, ["audio"], {}),
            (MixtureConfig, ["mixtures", "audio"], {}),
            (DemoConfig, ["demo"], {}),
            (EvalConfig, ["evaluation"], {}),
            (Buckets, ["evaluation"], {})]


@pytest.mark.parametrize("cls, sections, renamed", dataclass_sections(), ids=lambda x: getattr(x, "__name__", ""))
def test_dataclass_defaults_equal_the_schema_defaults(cls, sections, renamed):
    """The dataclasses' defaults serve direct callers (benchmarks, the API, tests); the
    workflow fills every key from the schema. Where they share a key they must say the same."""
    import dataclasses

    schema = yaml.safe_load(Path(SCHEMA).read_text())["properties"]

    def plain(value):
        return list(value) if isinstance(value, tuple) else value

    compared = {}
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING:
            continue
        where = [renamed[field.name]] if field.name in renamed else \
            [(section, field.name) for section in sections if field.name in schema[section]["properties"]][:1]
        for section, key in where:
            compared[field.name] = (plain(field.default), schema[section]["properties"][key]["default"])
    assert compared, f"{cls.__name__} shares no key with the schema sections {sections}"
    assert {k: ours for k, (ours, _) in compared.items()} == {k: theirs for k, (_, theirs) in compared.items()}


def test_training_keys_of_the_schema_are_train_config_fields():
    import dataclasses

    from arseg.train.loop import TrainConfig

    schema = yaml.safe_load(Path(SCHEMA).read_text())["properties"]["training"]["properties"]
    # per_backbone is merged into the others by the train rule (common.smk: get_model_config)
    assert set(schema) - {"per_backbone"} <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(schema["per_backbone"]["additionalProperties"]["properties"]) <= set(schema)


def test_numbers_are_floats_wherever_the_schema_says_number():
    """`8` and `8.0` must be one setting (a rule's params are compared as text): the workflow
    writes every schema number as a float, and leaves integers, booleans and text alone."""
    from arseg.config_schema import normalise_numbers

    schema = yaml.safe_load(Path(SCHEMA).read_text())
    config = {"mixtures": {"duration": 8, "snr_db": [0, 20], "count": {"train": 600}, "layout": "random"},
              "training": {"epochs": 16.0, "learning_rate": "4e-3", "spec_augment": False,
                           "per_backbone": {"aisfx": {"epochs": 5, "learning_rate": 1}}},
              "model": {"bin_seconds": None, "backbones": ["yoho"]}, "decoding": {"max_false_alarm_rate": 0}}
    normalise_numbers(config, schema)
    assert config["mixtures"] == {"duration": 8.0, "snr_db": [0.0, 20.0], "count": {"train": 600}, "layout": "random"}
    assert [type(v) for v in config["mixtures"]["snr_db"]] == [float, float]
    assert type(config["mixtures"]["count"]["train"]) is int and type(config["training"]["epochs"]) is int
    assert config["training"]["learning_rate"] == 0.004 and config["training"]["spec_augment"] is False
    assert config["training"]["per_backbone"]["aisfx"] == {"epochs": 5, "learning_rate": 1.0}
    assert type(config["training"]["per_backbone"]["aisfx"]["learning_rate"]) is float
    assert config["model"]["bin_seconds"] is None and type(config["decoding"]["max_false_alarm_rate"]) is float
    validate(config, SCHEMA)


def test_schema_errors_name_what_is_wrong_inside_a_value_of_several_forms():
    """A SoundDescs category rule is a name, {category, keywords}, or a list of those: a
    misspelt key or a number where a name belongs is named where it is, not as "not valid
    under any of the given schemas"; a backbone or seed given twice is refused."""
    from arseg.config_schema import schema_errors

    schema = yaml.safe_load(Path(SCHEMA).read_text())
    rules = {"dog": {"category": "Animals", "keyword": ["dog"]}, "bird": [{"category": 3}], "cat": 5,
             "fine": [{"category": "Birds", "keywords": ["owl"]}, "Animals"]}
    config = {"corpus": {"sounddescs": {"clip_table": {"category_maps": {"mine": rules}}}},
              "model": {"backbones": ["crnn", "crnn"], "seeds": [0, 0]}}
    where = "  corpus.sounddescs.clip_table.category_maps.mine"
    assert schema_errors(config, schema).splitlines()[1:] == [
        f"{where}.bird.0.category: 3 is not of type 'string'",
        f"{where}.cat: 5 is not valid under any of the given schemas",
        f"{where}.dog: Additional properties are not allowed ('keyword' was unexpected)",
        "  model.backbones: ['crnn', 'crnn'] has non-unique elements",
        "  model.seeds: [0, 0] has non-unique elements"]
