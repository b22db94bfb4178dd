"""Spring models of crystals shared by the tests of crystals with a basis."""

import itertools

import numpy as np


def fcc_neighbours() -> np.ndarray:
    """The 12 nearest-neighbour vectors of fcc in units of the cubic constant: (±½, ±½, 0) and permutations."""
    out = []
    for axes in ((0, 1), (0, 2), (1, 2)):
        for signs in itertools.product((0.5, -0.5), repeat=2):
            v = np.zeros(3)
            v[list(axes)] = signs
            out.append(v)
    return np.asarray(out)
