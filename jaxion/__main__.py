"""``python -m jaxion``: the ``jaxion`` command (``jaxion_cli.main``, with the persistent compilation cache).

Python imports the package (and so JAX) before this file runs, so ``python -m jaxion --help`` takes as long as
``import jaxion``; the installed ``jaxion`` command answers ``--help`` without JAX.
"""

import sys

from jaxion_cli import main

if __name__ == "__main__":
    sys.exit(main())
