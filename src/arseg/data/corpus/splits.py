"""Seeded train/val/test splits per category, for corpora that come without one.

Each category is split on its own (about 60/20/20 by clip count), with a generator seeded
by (seed, category name), so adding or removing a category does not move the clips of the
others. Clips that share a `group` (variants of one source sound, such as step1 and step2 of
one set of footsteps) always land in the same split, so a model is never tested on a take of
a sound it was trained on.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from .table import SPLITS

FRACTIONS = (0.6, 0.2, 0.2)


def assign_splits(categories, groups=None, seed: int = 0, fractions=FRACTIONS) -> list[str]:
    """One split name per clip, in input order.

    categories: the category of each clip; groups: a group key per clip (None: each clip is its
    own group). Groups are placed largest first, each into the split furthest below its target
    (ties in train, val, test order), after a seeded shuffle that decides the order among groups
    of equal size. With at least three groups a category gets clips in every split.
    """
    categories = [str(c) for c in categories]
    groups = list(range(len(categories))) if groups is None else [str(g) for g in groups]
    if len(groups) != len(categories):
        raise ValueError("assign_splits: categories and groups differ in length")
    fractions = np.asarray(fractions, dtype=float) / float(np.sum(fractions))
    result = [""] * len(categories)
    frame = pd.DataFrame({"category": categories, "group": groups})
    for category, members in frame.groupby("category", sort=True):
        # crc32, not hash(): Python salts str hashes per process, and splits must be repeatable
        rng = np.random.default_rng([seed, zlib.crc32(category.encode("utf-8"))])
        by_group = members.groupby("group", sort=True).groups
        keys = sorted(by_group)
        order = rng.permutation(len(keys))
        # stable sort by size, largest first: big groups are the hard ones to place
        keys = sorted((keys[i] for i in order), key=lambda k: -len(by_group[k]))
        counts = np.zeros(len(SPLITS))
        targets = fractions * len(members)
        placed = 0
        for key in keys:
            size = len(by_group[key])
            empty = [i for i in range(len(SPLITS)) if counts[i] == 0]
            remaining_groups = len(keys) - placed
            if empty and remaining_groups <= len(empty):
                # the last groups go where nothing is yet, so every split gets some
                choice = empty[0]
            else:
                choice = int(np.argmax(targets - counts))
            counts[choice] += size
            placed += 1
            for index in by_group[key]:
                result[int(index)] = SPLITS[choice]
    return result
