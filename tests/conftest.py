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


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_caches(tmp_path_factory):
    """Kernel tables and compiled programs that tests write go to a temporary folder, never the user's
    ``~/.cache/jaxion`` (a test that sets its own folder still can)."""
    root = tmp_path_factory.mktemp("jaxion-cache")
    saved = {name: os.environ.get(name) for name in ("JAXION_KERNEL_CACHE", "JAXION_COMPILATION_CACHE_DIR")}
    os.environ["JAXION_KERNEL_CACHE"] = str(root / "kernels")
    os.environ["JAXION_COMPILATION_CACHE_DIR"] = str(root / "xla")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
