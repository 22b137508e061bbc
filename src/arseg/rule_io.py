"""What every rule script needs: its log file for stdout and stderr."""
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
