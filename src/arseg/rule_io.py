"""What every rule script needs: its log file for stdout and stderr, and params that
rerun nothing."""
from __future__ import annotations

import contextlib
import sys
import traceback


@contextlib.contextmanager
def logged(snakemake):
    """Send prints, progress bars and any traceback of the script to the rule's log."""
    if not snakemake.log:
        yield
        return
    with open(snakemake.log[0], "w", buffering=1) as log:
        old = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = log
        try:
            yield
        except Exception:
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = old


class Untracked:
    """A param value that Snakemake's params trigger does not see: editing it reruns nothing.

    Snakemake compares the repr of params of plain types (dict, list, str, numbers) with the
    record of the last run and skips values of other types; this wrapper is such a type. It
    carries settings that cannot change a result (network timeouts, licence acceptance)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        return f"Untracked({self.value!r})"
