import os

# Tests run on the CPU, in float64 (importing jaxion enables x64).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jaxion  # noqa: E402,F401
