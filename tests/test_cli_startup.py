"""Start-up of the `jaxion` command: help, version and argument errors answer before JAX is imported; the
persistent compilation cache is written where the environment says, is read back by the next process, and a
damaged cache does not fail a run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from processes import REPO, subprocess_env

import jaxion
from jaxion._compilation_cache import default_cache_dir, enable_compilation_cache
from jaxion_cli import build_parser, compilation_cache_wanted, parse_arguments

# The console script's body (see the `jaxion` script pip writes), then which heavy modules it imported.
COMMAND = """
import sys
from jaxion_cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print("IMPORTED", sorted(m for m in ("jax", "jaxion", "numpy", "equinox") if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""

# A tiny JAX job through the library call: compiles ~20 small programs, counts JAX's cache events.
LIBRARY_JOB = """
import sys
import jax
import jax.numpy as jnp
events = []
jax.monitoring.register_event_listener(lambda name, **_: events.append(name))
import jaxion as jx
from jaxion._compilation_cache import enable_compilation_cache
print("FOLDER", enable_compilation_cache())
loss = jx.chain_loss_closed_form(jnp.array([5.0, 10.0, 20.0]), 0.01, 1.0, 1.0, coupling_parallel=99 / 4,
                                 coupling_perpendicular=99 / 4, confinement_parallel=1.0, confinement_perpendicular=1.0)
print("LOSS", " ".join(repr(float(x)) for x in loss))
print("HITS", events.count("/jax/compilation_cache/cache_hits"))
"""


def _env(**extra: str) -> dict:
    env = subprocess_env()
    for name in ("JAXION_COMPILATION_CACHE", "JAXION_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(name, None)
    env.update(extra)
    return env


def _command(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", COMMAND, *argv], env=env or _env(), cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "argv, code, shown",
    [
        (["--help"], 0, "usage: jaxion"),
        (["run", "--help"], 0, "--no-compilation-cache"),
        (["reproduce", "--help"], 0, "--list"),
        (["--version"], 0, f"jaxion {version('jaxion')}"),
        (["--lattice", "hexagonal"], 2, "invalid choice"),
        (["--speeds", "fast"], 2, "speeds must be"),
    ],
)
def test_help_version_and_argument_errors_do_not_import_jax(argv, code, shown):
    done = _command(*argv)
    assert done.returncode == code, done.stderr
    assert shown in done.stdout + done.stderr
    imported = done.stderr.strip().splitlines()[-1]
    assert "'jax'" not in imported and "'jaxion'" not in imported, imported


def test_version_is_the_package_version():
    done = _command("--version")
    assert done.stdout.strip() == f"jaxion {jaxion.__version__}" == f"jaxion {version('jaxion')}"


def test_console_script_points_outside_the_package():
    """`jaxion = "jaxion_cli:main"`, and setuptools' package search (pyproject's `include`) ships `jaxion_cli`."""
    from setuptools import find_packages

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["jaxion"] == "jaxion_cli:main"
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"jaxion", "jaxion_cli"} <= set(find_packages(where=str(REPO), include=include))


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        parse_arguments(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for shown in ("(default: chain3d)", "(default: 1e-09)", "(default: 1e-12)", "(default: tsit5)", "(default: 0,0,1)",
                  "(default: jaxion-output)", "(default: 24.75)", "default 2:80:14", "(default: all)"):
        assert shown in text, shown
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "jaxion run --help" in build_parser().format_help()


def test_defaults_parse_as_before():
    """The shown defaults are the values the jobs get (``--direction`` is given as text, parsed by its type)."""
    _, args = parse_arguments([])
    assert args.command == "run" and args.direction == [0.0, 0.0, 1.0] and args.coupling == 99 / 4
    assert args.supercell is None and args.speeds is None and args.out == Path("jaxion-output")
    assert not args.no_compilation_cache
    _, args = parse_arguments(["--speeds", "2:80:14", "--no-compilation-cache"])
    np.testing.assert_allclose(args.speeds, np.geomspace(2, 80, 14))
    assert args.no_compilation_cache


@pytest.mark.parametrize(
    "flag, value, wanted",
    [(False, None, True), (True, None, False), (False, "0", False), (False, "off", False), (False, "False", False),
     (False, "1", True), (False, "", True)],
)
def test_cache_switch(flag, value, wanted, monkeypatch):
    if value is None:
        monkeypatch.delenv("JAXION_COMPILATION_CACHE", raising=False)
    else:
        monkeypatch.setenv("JAXION_COMPILATION_CACHE", value)
    _, args = parse_arguments(["reproduce", "--list", *(["--no-compilation-cache"] if flag else [])])
    assert compilation_cache_wanted(args) is wanted


def test_default_cache_folder(monkeypatch, tmp_path):
    import jax

    if jax.config.jax_compilation_cache_dir:  # JAX was given a folder in this process: that one comes first
        pytest.skip("JAX_COMPILATION_CACHE_DIR is set")
    monkeypatch.delenv("JAXION_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "jaxion" / "xla"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "jaxion" / "xla"
    monkeypatch.setenv("JAXION_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_enable_compilation_cache_rejects_bad_input(tmp_path):
    """Both checks fail before JAX's settings are touched (this test process keeps no cache)."""
    with pytest.raises(ValueError, match="min_compile_time_secs"):
        enable_compilation_cache(tmp_path, min_compile_time_secs=-1.0)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="a-file"):
        enable_compilation_cache(blocker / "xla")


def test_python_m_jaxion_is_the_command():
    done = subprocess.run([sys.executable, "-m", "jaxion", "--help"], env=_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: jaxion"), done.stderr
    assert "{run,reproduce}" in done.stdout


def test_command_switches_the_cache_on_unless_told_not_to(monkeypatch, capsys):
    """`jaxion_cli.main` calls `enable_compilation_cache()` before the job (recorded here, so that this test
    process keeps no cache), not with `--no-compilation-cache` or JAXION_COMPILATION_CACHE=0, and runs on
    without the cache when the folder cannot be made."""
    import jaxion._compilation_cache as cache
    from jaxion_cli import main

    calls = []
    monkeypatch.setattr(cache, "enable_compilation_cache", lambda: calls.append("on"))
    monkeypatch.delenv("JAXION_COMPILATION_CACHE", raising=False)
    assert main(["reproduce", "--list"]) == 0 and calls == ["on"]
    assert main(["reproduce", "--list", "--no-compilation-cache"]) == 0 and calls == ["on"]
    monkeypatch.setenv("JAXION_COMPILATION_CACHE", "0")
    assert main(["reproduce", "--list"]) == 0 and calls == ["on"]
    monkeypatch.delenv("JAXION_COMPILATION_CACHE")

    def refuse():
        raise OSError("compilation cache folder /nowhere cannot be created")

    monkeypatch.setattr(cache, "enable_compilation_cache", refuse)
    capsys.readouterr()
    assert main(["reproduce", "--list"]) == 0
    captured = capsys.readouterr()
    assert "paper1-fig2" in captured.out and "running without the compilation cache" in captured.err


def _library_job(folder: Path) -> tuple[list[float], int, str]:
    done = subprocess.run([sys.executable, "-c", LIBRARY_JOB], env=_env(JAXION_COMPILATION_CACHE_DIR=str(folder)),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert lines["FOLDER"] == str(folder)
    return [float(x) for x in lines["LOSS"].split()], int(lines["HITS"]), done.stderr


def _damage(entries: list[Path]) -> None:
    """Truncate, empty or overwrite with noise each of ``entries``, in turn."""
    for index, entry in enumerate(entries):
        data = entry.read_bytes()
        entry.write_bytes([data[: len(data) // 2], b"", os.urandom(len(data))][index % 3])


def test_cache_is_written_read_back_and_survives_damage(tmp_path):
    """The first process writes its programs into $JAXION_COMPILATION_CACHE_DIR; with half of the entries
    damaged, the second loads the others (JAX's hit events), compiles the damaged ones afresh with a warning,
    and gives the same numbers."""
    folder = tmp_path / "xla"
    cold, hits, _ = _library_job(folder)
    entries = sorted(folder.glob("*-cache"))
    assert hits == 0 and len(entries) >= 6
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # private: JAX treats the cache as trusted code
    _damage(entries[::2])
    warm, hits, err = _library_job(folder)
    assert warm == cold
    assert len(entries) // 2 - 1 <= hits < len(entries)
    assert "Error reading persistent compilation cache entry" in err


@pytest.mark.slow
def test_command_warm_start_and_damaged_cache(tmp_path):
    """The `jaxion` command itself (a tiny Verlet job): cold run writes the cache, a damaged cache still runs and
    writes the same data, and the command with JAXION_COMPILATION_CACHE=0 writes no cache."""
    job = ["--supercell", "40", "--speeds", "20", "--impacts", "1", "--solver", "verlet", "--dt", "0.01", "--no-progress"]
    folder = tmp_path / "xla"
    env = _env(JAXION_COMPILATION_CACHE_DIR=str(folder))
    results = []
    for run in ("cold", "damaged"):
        if run == "damaged":
            entries = sorted(folder.glob("*-cache"))
            assert len(entries) >= 20
            _damage(entries)
        out = tmp_path / run
        done = _command(*job, "--out", str(out), env=env)
        assert done.returncode == 0, done.stderr
        results.append(np.load(out / "loss_vs_speed.npz")["loss_s1"])
    assert "Error reading persistent compilation cache entry" in done.stderr
    np.testing.assert_array_equal(results[0], results[1])
    off = tmp_path / "off"
    done = _command(*job, "--out", str(tmp_path / "o"), env=_env(JAXION_COMPILATION_CACHE_DIR=str(off), JAXION_COMPILATION_CACHE="0"))
    assert done.returncode == 0 and not off.exists(), done.stderr
