"""Load the SoundDescs metadata pickles without letting them run code.

The pickles come from the internet; a plain pickle.load would call any function a
pickle names. This unpickler resolves exactly two globals and refuses all others.
"""
from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

ALLOWED_GLOBALS = {
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "list"): list,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (or is not a valid pickle)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: refusing to load pickled global {module}.{name}; "
                "only collections.defaultdict and builtins.list are allowed"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._source}: persistent ids are not allowed")


def load_pickle(path: str | os.PathLike):
    """Unpickle `path` allowing only collections.defaultdict and builtins.list."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, str(path)).load()
        except UnsafePickleError:
            raise
        except Exception as e:  # corrupt/truncated pickles raise many types
            raise UnsafePickleError(f"{path}: not a loadable pickle: {type(e).__name__}: {e}") from e
