"""The provenance record: merged config subsets, package and code versions."""
import subprocess

from arseg import __version__, provenance


def test_merge_configs_deep_merges_sorted_and_copies():
    data = {"mixtures": {"seed": 0, "count": {"train": 10}}, "corpus": {"source": "demo"}}
    model = {"mixtures": {"duration": 8.0}, "training": {"epochs": 3}}
    merged = provenance.merge_configs(data, model, {"training": {"seed": 2}})
    assert merged == {"corpus": {"source": "demo"}, "mixtures": {"count": {"train": 10}, "duration": 8.0, "seed": 0},
                      "training": {"epochs": 3, "seed": 2}}
    assert list(merged) == ["corpus", "mixtures", "training"] and list(merged["mixtures"]) == ["count", "duration", "seed"]
    merged["mixtures"]["count"]["train"] = 99
    assert data["mixtures"]["count"]["train"] == 10  # the inputs are not aliased


def test_record_names_config_versions_and_the_checkout():
    made_by = provenance.record({"training": {"epochs": 3}})
    assert made_by["config"] == {"training": {"epochs": 3}}
    assert set(made_by["versions"]) == set(provenance.PACKAGES)
    import numpy

    assert made_by["versions"]["numpy"] == numpy.__version__
    root = provenance.Path(provenance.__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    code = made_by["code"]
    assert code["arseg"] == __version__
    if head.returncode == 0:  # a checkout: its commit, and whether tracked files differ from it
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True).stdout.strip()
        assert code["commit"] == head.stdout.strip() and code["dirty"] == bool(changed)
        assert provenance.describe_code(code).startswith(f"commit {code['commit'][:12]}")
    else:
        assert code["commit"] is None and provenance.describe_code(code) == f"arseg {__version__} (not a git checkout)"
    assert provenance.describe_code({"commit": "a" * 40, "dirty": True}).endswith("with uncommitted changes")
    assert not provenance.describe_code({"commit": "a" * 40, "dirty": False}).endswith("with uncommitted changes")


def test_a_missing_package_is_named_as_such(monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGES", ("numpy", "no-such-package-arseg"))
    assert provenance.package_versions()["no-such-package-arseg"] == "not installed"


def test_flatten_gives_dotted_keys():
    assert provenance.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
