"""Loss predictions without a trajectory: closed forms and mode sums.

- Paper 1 chain closed forms (1.14)–(1.17): :mod:`jaxion.theory.chain`.
- Brillouin-zone mode sums for any lattice, (1.11), (1.13), (1.23), (1.29): :mod:`jaxion.theory.modes`.
- Paper 2 (chain moving along itself), (2.15), (2.16), (2.25)–(2.28), (2.33), Fig. 9: :mod:`jaxion.theory.paper2`.
- Response kernels (2.13)/(1.10) of any lattice for the memory engine: :mod:`jaxion.theory.kernels` (zone
  sums, validity, disk cache) and :mod:`jaxion.theory.binned` (long 2D/3D tables: symmetry folding,
  frequency binning, FFT in time).
"""

from . import chain, modes, paper2
from .chain import *  # noqa: F401,F403
from .modes import *  # noqa: F401,F403
from .paper2 import *  # noqa: F401,F403

__all__ = [*chain.__all__, *modes.__all__, *paper2.__all__]
