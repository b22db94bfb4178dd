"""Sharded sweeps over 4 forced CPU devices equal the unsharded sweep."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np, jaxion as jx
    assert len(jax.devices()) == 4, jax.devices()
    system = jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(0.01, 1.0))
    speeds = np.array([12.0, 18.0, 25.0, 33.0, 47.0, 60.0])
    sharded = jx.sweep_passes(system, speeds, (200,), impacts=(0, 1.0, 0), progress=False)
    single = jx.sweep_passes(system, speeds, (200,), impacts=(0, 1.0, 0), progress=False, devices=jax.devices()[:1])
    np.testing.assert_allclose(sharded.loss, single.loss, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(sharded.stopped_by_event, single.stopped_by_event)
    print("max relative difference", np.max(np.abs(sharded.loss / single.loss - 1)))
    """
)


def test_sharded_sweep_equals_unsharded():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "max relative difference" in out.stdout
