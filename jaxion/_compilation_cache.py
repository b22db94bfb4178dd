"""Warm starts: JAX's persistent compilation cache in a user folder.

A fresh process compiles every jitted program again (the engines' solves, the mode sums, NumPy-like helpers);
with the persistent cache on, XLA's executables are written to a folder and the next process with the same
programs, shapes, devices and JAX version loads them instead (JAX's key covers all of these). The ``jaxion``
command switches it on by default (``jaxion_cli``); library users call :func:`enable_compilation_cache` once,
before the first compilation they want cached.

JAX settings used (``jax._src.config``): ``jax_compilation_cache_dir`` (the folder; setting it enables the cache)
and ``jax_persistent_cache_min_compile_time_secs`` (only programs that compiled at least this long are written;
JAX's default of 1 s would keep almost none of the ~115 programs of the default ``jaxion`` run, most of which
compile in well under a second, so the default here is 0).
``jax_persistent_cache_min_entry_size_bytes`` is left at JAX's default (no size limit on a local disk) and
``jax_compilation_cache_max_size`` at -1 (no eviction: eviction needs the ``filelock`` package); the folder
stays small (the default ``jaxion`` run writes 115 entries, 0.3 MB: ``benchmarks/bench_startup.py``); delete it
to clear it.
``JAX_ENABLE_COMPILATION_CACHE=false`` still switches JAX's cache off. Executables that call back into Python
(``jax.pure_callback``, e.g. equinox's runtime error checks) are never written by JAX; they compile every time
(today the diffrax solve of the full engine is one: diffrax checks ``(t1 - t0) * dt0 >= 0`` with
``equinox.error_if`` when ``t1`` is traced).

A damaged entry does not break a run: JAX turns an unreadable entry into a warning ("Error reading persistent
compilation cache entry ...") and compiles the program afresh (``tests/test_cli_startup.py`` corrupts the
entries and runs again). JAX does not overwrite the damaged file, so the warning repeats until the folder is
deleted. The folder is created private to the user (mode 700): JAX treats the cache as trusted code.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["CACHE_DIR_VARIABLE", "default_cache_dir", "enable_compilation_cache"]

CACHE_DIR_VARIABLE = "JAXION_COMPILATION_CACHE_DIR"


def _configured_dir() -> str | None:
    """JAX's ``jax_compilation_cache_dir`` now (``None``: no persistent cache)."""
    return getattr(jax.config, "jax_compilation_cache_dir", None)


def default_cache_dir() -> Path:
    """The folder :func:`enable_compilation_cache` uses without ``path``: ``$JAXION_COMPILATION_CACHE_DIR``; else
    the folder JAX was already given (``JAX_COMPILATION_CACHE_DIR`` or ``jax_compilation_cache_dir``); else
    ``$XDG_CACHE_HOME/jaxion/xla`` (an absolute ``XDG_CACHE_HOME`` only, as the XDG spec says); else
    ``~/.cache/jaxion/xla``."""
    explicit = os.environ.get(CACHE_DIR_VARIABLE, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    configured = _configured_dir()
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "jaxion" / "xla"


def enable_compilation_cache(path: str | os.PathLike[str] | None = None, *, min_compile_time_secs: float = 0.0) -> Path:
    """Switch on JAX's persistent compilation cache in ``path`` (default :func:`default_cache_dir`) for this
    process, and return the folder.

    Compilations after the call are looked up in the folder and written to it; call it before the work you want
    warm (programs already compiled in this process stay in memory and are not written). Calling it again with
    another folder moves the cache there.

    Args:
        path: the cache folder (created, mode 700, if missing).
        min_compile_time_secs: write only programs whose compilation took at least this long (``>= 0``).

    Raises:
        ValueError: ``min_compile_time_secs`` is negative or not finite.
        OSError: the folder cannot be created or written (the message names it).
    """
    seconds = float(min_compile_time_secs)
    if not (0.0 <= seconds < float("inf")):
        raise ValueError(f"min_compile_time_secs must be a finite number of seconds >= 0; got {min_compile_time_secs!r}")
    folder = (default_cache_dir() if path is None else Path(path).expanduser()).absolute()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"compilation cache folder {folder} cannot be created: {error}") from error
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OSError(f"compilation cache folder {folder} is not a writable folder")
    previous = _configured_dir()
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", seconds)
    if previous and Path(previous).absolute() != folder:
        # JAX opens its cache once per process; a new folder needs a fresh start (public experimental API)
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()
    return folder
