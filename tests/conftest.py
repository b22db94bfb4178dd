import os

# Tests run on the CPU, in float64 (importing jaxion enables x64).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Property-based tests draw their examples deterministically, so a CI run is reproducible; set
# HYPOTHESIS_PROFILE=explore for fresh random examples on every run.
from hypothesis import settings  # noqa: E402

import jaxion  # noqa: E402,F401

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
