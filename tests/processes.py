"""Helpers for the kill-and-resume tests: run a command in a subprocess and SIGKILL it once it has
written enough of its checkpoint."""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subprocess_env() -> dict:
    """CPU-only JAX and this checkout first on the path."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def sigkill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout: float = 300.0) -> None:
    """Poll ``ready()`` and SIGKILL ``process`` as soon as it holds (the process must still be running)."""
    started = time.monotonic()
    try:
        while not ready():
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() - started < timeout, "the run never reached the point to kill it at"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
