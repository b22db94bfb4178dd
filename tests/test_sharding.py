"""Sharded sweeps over 4 forced CPU devices equal the unsharded sweep (``jax.shard_map``,
:mod:`jaxion.parallel`), for the full engine's ``sweep_passes`` and the time-local batch."""

import os
import subprocess
import sys
import textwrap

import pytest

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


LOCAL_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np, jaxion as jx
    assert len(jax.devices()) == 4, jax.devices()
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    model = jx.time_local_model(system)
    members = 6  # not a multiple of 4: the batch is padded
    starts = np.column_stack([np.zeros(members), np.zeros(members), np.linspace(6.8, 7.2, members)])
    velocities = np.column_stack([np.zeros(members), np.zeros(members), np.linspace(5.0, 9.0, members)])
    sharded = jx.simulate_local_batch(model, starts, velocities, 6.0, constraint=[0, 0, 1])
    single = jx.simulate_local_batch(model, starts, velocities, 6.0, constraint=[0, 0, 1], devices=jax.devices()[:1])
    assert sharded.ion_positions.shape == (members, 301, 3)
    # Both are rtol-1e-10 solutions; XLA may round differently for other batch shapes, and the adaptive
    # step sequence carries that to the solver's tolerance, not further.
    np.testing.assert_allclose(sharded.ion_positions, single.ion_positions, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(sharded.status, 0)
    print("max abs difference", np.max(np.abs(sharded.ion_positions - single.ion_positions)))
    """
)


def _run_on_four_devices(script: str) -> str:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_sharded_sweep_equals_unsharded():
    assert "max relative difference" in _run_on_four_devices(SCRIPT)


@pytest.mark.slow  # ~20 s; the sweep's sharding test above runs by default
def test_sharded_time_local_batch_equals_unsharded():
    assert "max abs difference" in _run_on_four_devices(LOCAL_SCRIPT)


THERMAL_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np, jaxion as jx
    assert len(jax.devices()) == 4, jax.devices()
    system = jx.System(jx.simple_cubic(), jx.Gaussian(4.0, 0.5), jx.cubic_cell_sites(), mass_ratio=0.05)
    model = jx.time_local_model(system)
    members = 10  # not a multiple of 4: the batch is padded
    starts = np.tile([1.0, 1.0, 1.0], (members, 1)) + 0.01 * np.arange(members)[:, None]
    bath = jx.ThermalBath(0.02, jax.random.key(3), quantum=False)
    run = lambda devices: jx.simulate_local_thermal(model, starts, 0 * starts, 2.0, thermal=bath, dt=0.005, devices=devices)
    sharded, single = run(None), run(jax.devices()[:1])
    # one key per member: the same noise whatever the device, so the trajectories agree to rounding
    np.testing.assert_allclose(sharded.ion_positions, single.ion_positions, rtol=0, atol=1e-12)
    print("max abs difference", np.max(np.abs(sharded.ion_positions - single.ion_positions)))
    """
)


@pytest.mark.slow  # ~25 s
def test_sharded_thermal_time_local_batch_equals_unsharded():
    assert "max abs difference" in _run_on_four_devices(THERMAL_SCRIPT)
