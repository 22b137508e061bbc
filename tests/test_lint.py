"""`snakemake --lint` finds nothing to complain about in the workflow."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLEAN = "Congratulations, your workflow is in a good condition!"


def test_snakemake_lint_is_clean():
    # --workflow-profile none: lint the workflow itself, not a profile's settings.
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--workflow-profile", "none"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output
    # when clean, lint prints exactly this one line
    assert output.strip() == CLEAN, output


def test_every_name_the_benchmarks_import_from_arseg_exists():
    """The benchmarks import arseg inside their functions and run only on demand, so a
    renamed function would break them unseen."""
    import ast
    import importlib

    missing = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("arseg"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(f"{path.name}:{node.lineno} {node.module}.{alias.name}")
    assert not missing, missing
