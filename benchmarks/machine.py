"""What the benchmark scripts record about the machine they ran on."""

from __future__ import annotations

import datetime as _dt
import os
import platform


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (or what the platform module knows)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_description() -> dict:
    """Date, JAX devices, CPU, load averages and the Python/JAX versions."""
    import jax

    return dict(
        date=_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        devices=", ".join(str(d) for d in jax.devices()),
        cpu=f"{cpu_model()}, {os.cpu_count()} logical cores",
        load=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        python=platform.python_version(),
        jax=jax.__version__,
    )


def report(text: str, results: str, append: bool = True) -> None:
    """Print a benchmark's markdown and, unless ``append`` is false, append it to ``results``."""
    print()
    print(text)
    if append:
        with open(results, "a", encoding="utf-8") as handle:
            handle.write("\n" + text)
        print(f"appended to {results}")
