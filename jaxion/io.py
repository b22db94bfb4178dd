"""Result files: data plus the metadata that made them, written atomically.

Every file is first written to a temporary name in the target folder and then renamed, so a crash
never leaves a half-written result. Metadata records the parameters, the package versions, the git
revision (if any), the JAX device and the run time.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write", "save_npz", "save_json", "run_metadata", "fingerprint"]


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path`` (same folder, atomic).

    The temporary name ``.<name>.<pid>.<random>.tmp`` carries the writer's process id: temporaries of
    the same target left by a killed process (``SIGKILL`` skips every cleanup) are removed here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _remove_stale_temporaries(path: Path) -> None:
    prefix = f".{path.name}."
    for leftover in path.parent.glob(f"{_glob_escape(prefix)}*.tmp"):
        pid = leftover.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def fingerprint(*inputs) -> str:
    """A hash of every array leaf (dtype, shape, bytes) and the tree structure of ``inputs``: checkpoints
    carry it, and a resumed run refuses a checkpoint written for other inputs."""
    import hashlib

    import jax

    digest = hashlib.sha256()
    leaves, treedef = jax.tree_util.tree_flatten(inputs)
    digest.update(str(treedef).encode())
    for leaf in leaves:
        array = np.asarray(leaf) if not callable(leaf) else np.asarray(repr(leaf))
        digest.update(str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path, **arrays) -> Path:
    """Write NumPy arrays to ``path`` (``.npz``) atomically."""

    def write(tmp: Path):
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})  # pyright: ignore[reportArgumentType]  # numpy's stub binds **kwds to allow_pickle

    return atomic_write(path, write)


def _jsonable(value: Any):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        array = np.asarray(value)
        return array.tolist() if array.ndim else array.item()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def save_json(path, data: dict) -> Path:
    """Write a JSON document atomically (NumPy/JAX values converted)."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(_jsonable(data), indent=2, ensure_ascii=False)))


def _git_revision() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_metadata(parameters: dict, wall_time: float | None = None) -> dict:
    """Parameters plus provenance: versions, git revision, device, host, wall time."""
    import importlib.metadata

    import diffrax
    import equinox
    import jax

    return {
        "parameters": parameters,
        "jaxion_version": importlib.metadata.version("jaxion"),
        "git_revision": _git_revision(),
        "jax_version": jax.__version__,
        "diffrax_version": diffrax.__version__ if hasattr(diffrax, "__version__") else None,
        "equinox_version": equinox.__version__ if hasattr(equinox, "__version__") else None,
        "numpy_version": np.__version__,
        "device": [str(d) for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),  # pyright: ignore[reportAttributeAccessIssue]  # jax's Config options are dynamic attributes
        "python": platform.python_version(),
        "host": platform.node(),
        "wall_time_s": wall_time,
    }
