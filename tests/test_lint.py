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
