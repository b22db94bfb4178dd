"""The ``jaxion`` command's front door: arguments, help, version and the compilation cache switch, without JAX.

Why a package beside ``jaxion``: importing *anything* under ``jaxion`` runs ``jaxion/__init__.py`` first, which
imports JAX (and the engines) to switch on float64 — several seconds before a single argument is read. That
import must stay eager (``import jaxion`` is the documented way to get float64, and every ``jx.X`` name is a
plain re-export), so the command cannot start inside the package. The console script therefore points here
(``jaxion = "jaxion_cli:main"``): this module imports only the standard library, parses the command line, and
answers ``--help``, ``--version`` and argument errors at once. Only a job that will run imports JAX and
:mod:`jaxion.cli` (the commands themselves), after switching on JAX's persistent compilation cache
(:func:`jaxion.enable_compilation_cache`; off with ``--no-compilation-cache`` or ``JAXION_COMPILATION_CACHE=0``).

``python -m jaxion`` (``jaxion/__main__.py``) runs the same :func:`main`, but after Python has imported the
package, so its ``--help`` is as slow as ``import jaxion``; the installed ``jaxion`` command is the fast one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["LATTICES", "SITE_SETS", "build_parser", "compilation_cache_wanted", "main", "parse_arguments"]

LATTICES = ("chain3d", "chain", "cubic")
SITE_SETS = ("single", "face", "cell")
CACHE_SWITCH = "JAXION_COMPILATION_CACHE"  # 0 / false / no / off: the command leaves the persistent cache off
_OFF = ("0", "false", "no", "off")


def _speeds(text: str):
    """``a:b:n`` (n log-spaced speeds from a to b) or a comma-separated list (a NumPy array)."""
    import numpy as np  # only when a value is parsed: --help stays free of NumPy too

    try:
        if ":" in text:
            low, high, count = text.split(":")
            low, high, count = float(low), float(high), int(count)
            if not (np.isfinite(low) and np.isfinite(high) and low > 0 and high > 0) or count < 1:
                raise argparse.ArgumentTypeError(
                    f"speeds 'min:max:count' needs finite min, max > 0 and count >= 1; got {text!r}"
                )
            return np.geomspace(low, high, count)
        return np.asarray([float(x) for x in text.split(",")])
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"speeds must be 'min:max:count' or 'v1,v2,...'; got {text!r}") from error


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers; got {text!r}") from error


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}") from error


def _shown(value: object) -> str:
    """A default as one would type it: ``0,0,1`` for a list, ``jaxion-output`` for a path, ``1e-09``."""
    if isinstance(value, list | tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class _DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option that has a default and does not name it already (flags, whose
    default is off, and options whose default depends on others, ``None`` here, say it in their own words)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or not action.option_strings or default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: {_shown(default).replace('%', '%%')})"


class _Version(argparse.Action):
    """``--version``: the installed package's version (looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import version

        print(f"jaxion {version('jaxion')}")
        parser.exit()


def _add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-compilation-cache", action="store_true",
        help="neither read nor write JAX's persistent compilation cache (also JAXION_COMPILATION_CACHE=0). It is on by "
             "default and lives in $JAXION_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/jaxion/xla, else ~/.cache/jaxion/xla",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxion`` argument parser (``run`` and ``reproduce``); building it imports nothing heavy."""
    parser = argparse.ArgumentParser(
        prog="jaxion",
        description="Simulate an ion passing through a vibrating crystal and the energy it loses (paper 1, Eqs. (1.3)-(1.4)).",
        epilog="`jaxion` alone, or followed by run options, runs `jaxion run` (paper 1's Fig. 2 chain on 200 masses); "
               "`jaxion run --help` lists its options and their defaults.",
        formatter_class=_DefaultsFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="sweep speeds for single passes (the default command)",
                         formatter_class=_DefaultsFormatter)
    run.add_argument("--lattice", choices=LATTICES, default="chain3d", help="framework")
    real = run.add_argument_group(
        "real crystal (physical units: eV, Å, amu, m/s)",
        "with --phonopy the crystal comes from force constants and --amplitude (eV), --width (Å), --impacts (Å) and "
        "--speeds (m/s) are in physical units",
    )
    real.add_argument("--phonopy", default=None, metavar="FILE",
                      help="phonopy.yaml with force constants, or emt:STRUCTURE for a crystal made on the spot "
                           "(emt:Cu-fcc, emt:Cu-fcc-cubic, emt:Ni-hcp, emt:Cu3Au-L12; needs jaxion[crystals])")
    real.add_argument("--ion-mass", type=float, default=6.94, metavar="AMU", help="ion mass in amu (default Li, 6.94)")
    real.add_argument("--direction", type=_floats, default="0,0,1", help="Cartesian direction of the path")
    real.add_argument("--path-length", type=float, default=6.0, metavar="Å",
                      help="length of the path segment whose atoms interact with the ion (Å)")
    run.add_argument("--supercell", type=_ints, default=None,
                     help="cells per axis, e.g. 200 or 20,20,20 (default 200 for a chain, 20,20,20 cubic, 8,8,8 with --phonopy)")
    run.add_argument("--coupling", type=float, default=99 / 4, help="chain nearest-neighbour coupling k (chain3d), paper 1's 99/4")
    run.add_argument("--confinement", type=float, default=1.0, help="chain confinement κ (chain3d)")
    run.add_argument("--omega-fast", type=float, default=10.0, help="top of the band ω_fast (chain)")
    run.add_argument("--k1", type=float, default=15.0, help="cubic nearest-neighbour spring")
    run.add_argument("--k2", type=float, default=5.0, help="cubic next-nearest-neighbour spring")
    run.add_argument("--spacing", type=float, default=None, help="lattice constant α (default 1 chain3d, 40 chain, 2 cubic)")
    run.add_argument("--amplitude", type=float, default=None, help="Gaussian amplitude Φ0 (negative = attractive; default 0.01, "
                     "with --phonopy 0.1 eV)")
    run.add_argument("--width", type=float, default=None, help="Gaussian width λ (default 1, with --phonopy 0.5 Å)")
    run.add_argument("--impacts", type=_floats, default=None, help="impact parameters s (comma list; default 0,1, with --phonopy 0,0.5 Å)")
    run.add_argument("--sites", choices=SITE_SETS, default="single", help="interacting sites (cubic: face/cell)")
    run.add_argument("--mass-ratio", type=float, default=1.0, help="μ = M/m")
    run.add_argument("--speeds", type=_speeds, default=None,
                     help="'min:max:count' (log) or 'v1,v2,...' (default 2:80:14, with --phonopy 2000:40000:8 m/s)")
    run.add_argument(
        "--solver", default="tsit5",
        help="tsit5, dopri5, dopri8, bosh3, heun (diffrax, adaptive) or verlet (fused fixed-step loop, fastest on big supercells)",
    )
    run.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance of the adaptive solver")
    run.add_argument("--atol", type=float, default=1e-12, help="absolute tolerance of the adaptive solver")
    run.add_argument("--dt", type=float, default=None, help="fixed time step instead of adaptive steps (default: adaptive)")
    run.add_argument("--batch-size", type=int, default=None, help="passes per compiled call (default: all)")
    run.add_argument("--out", type=Path, default=Path("jaxion-output"), help="output folder")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoints")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_cache_option(run)
    rep = sub.add_parser("reproduce", help="reproduce the papers' figures (PNG, PDF, data, metadata)",
                         formatter_class=_DefaultsFormatter)
    rep.add_argument("figures", nargs="*", help="figure names (see --list) or 'all'")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes that run on a laptop CPU in minutes (default)")
    size.add_argument("--full", action="store_true", help="the papers' parameters (a GPU is advisable)")
    rep.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: figures/)")
    rep.add_argument("--force", action="store_true", help="redo figures whose files already exist")
    rep.add_argument("--list", action="store_true", help="list the figures and exit")
    rep.add_argument("--no-progress", action="store_true", help="quiet output")
    _add_cache_option(rep)
    return parser


def _attach_negative_values(argv: list[str]) -> list[str]:
    """``--speeds -1,2`` → ``--speeds=-1,2``: argparse takes a token that starts with ``-`` and is not a
    plain negative number for an option, and would answer "expected one argument" instead of checking
    the value. Joined, the value reaches its check (here: speeds must be > 0)."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        if token.startswith("--") and "=" not in token and following is not None and re.match(r"^-\.?\d", following):
            joined.append(f"{token}={following}")
            index += 2
        else:
            joined.append(token)
            index += 1
    return joined


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the parsed ``argv`` (default ``sys.argv[1:]``); a command line that starts with an option
    (or is empty) is a ``run``. ``--help``, ``--version`` and argument errors exit here (``SystemExit``)."""
    parser = build_parser()
    args = _attach_negative_values(list(sys.argv[1:] if argv is None else argv))
    if not args or args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
        args = ["run", *args]
    return parser, parser.parse_args(args)


def compilation_cache_wanted(args: argparse.Namespace) -> bool:
    """The command's persistent compilation cache is on unless ``--no-compilation-cache`` or
    ``JAXION_COMPILATION_CACHE`` is 0 / false / no / off."""
    if getattr(args, "no_compilation_cache", False):
        return False
    return os.environ.get(CACHE_SWITCH, "").strip().lower() not in _OFF


def main(argv: Sequence[str] | None = None) -> int:
    """The ``jaxion`` command: parse (help, version, errors without importing JAX), switch on the persistent
    compilation cache unless opted out, then run the job (:func:`jaxion.cli.run_command`)."""
    parser, args = parse_arguments(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if compilation_cache_wanted(args):
        from jaxion._compilation_cache import enable_compilation_cache

        try:
            enable_compilation_cache()
        except OSError as error:  # a read-only home must not stop a run: it only loses the warm start
            print(f"jaxion: warning: running without the compilation cache: {error}", file=sys.stderr, flush=True)
    from jaxion.cli import run_command

    return run_command(parser, args)
