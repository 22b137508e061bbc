"""The package's folders are its layers, and imports only go down them (static checks).

    io -> data -> features, model -> eval -> train, infer -> report

A module imports from its own subpackage and from the layers before its own, lazy imports
inside functions included; two subpackages of one layer do not import each other. The
top-level modules: provenance, results_layout and rule_io import no subpackage (the layers use them);
configs, config_schema and cli sit on top and may import any layer. The layers' __init__ files import
nothing, so importing one module of a layer never loads the others' dependencies (torch
into the rules without it, for one).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "arseg"
LAYERS = [("io",), ("data",), ("features", "model"), ("eval",), ("train", "infer"), ("report",)]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
BASE = ("provenance", "results_layout", "rule_io")  # top-level modules the layers may use
TOP = ("configs", "config_schema", "cli")  # top-level modules that may use every layer


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def place(path: Path) -> tuple[str, ...]:
    """('data', 'corpus', 'table') for src/arseg/data/corpus/table.py; ('data',) for its __init__."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def arseg_imports(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    """(line, module path below arseg) of every import of arseg, anywhere in the file."""
    own = place(path)
    package = own if path.name == "__init__.py" else own[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, tuple(a.name.split(".")[1:])) for a in node.names if a.name.split(".")[0] == "arseg"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)]) + (node.module.split(".") if node.module else [])
                found.append((node.lineno, tuple(base)))
            elif node.module and node.module.split(".")[0] == "arseg":
                target = tuple(node.module.split(".")[1:])
                if not target:  # from arseg import x: a submodule, or __version__ and friends
                    target = next(((a.name,) for a in node.names if (PACKAGE / f"{a.name}.py").is_file()
                                   or (PACKAGE / a.name).is_dir()), ())
                found.append((node.lineno, target))
    return found


def test_every_subpackage_is_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(RANK), folders ^ set(RANK)
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top == set(BASE + TOP), top ^ set(BASE + TOP)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path):
    own = place(path)
    problems = []
    for line, target in arseg_imports(path):
        if not target or target[0] == own[0]:
            continue  # arseg itself (its version), or the module's own subpackage
        where = f"{path.relative_to(PACKAGE)}:{line} imports arseg.{'.'.join(target)}"
        if own[0] in TOP:
            continue
        if own[0] in BASE:
            problems.append(f"{where}: {own[0]} is used by the layers and imports none")
        elif target[0] in BASE:
            continue
        elif target[0] in TOP:
            problems.append(f"{where}: a layer never imports {target[0]}")
        elif RANK[target[0]] >= RANK[own[0]]:
            problems.append(f"{where}: {target[0]} is not below {own[0]} ({LAYERS})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("layer", sorted(RANK))
def test_layer_init_files_import_nothing(layer):
    init = PACKAGE / layer / "__init__.py"
    assert init.is_file(), f"{layer}/ has no __init__.py"
    assert arseg_imports(init) == [], f"{init}: a layer's __init__ holds its docstring only"
    tree = ast.parse(init.read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], init
