"""Start-up of the ``jaxion`` command: ``--help`` before JAX, and warm starts from the persistent compilation cache.

Run:  python benchmarks/bench_startup.py [--runs 3] [--quick] [--no-append]

Every number is a whole fresh process (``subprocess``), the median of ``--runs`` runs, wall clock and CPU
(user + system of the child). The commands run the console script's body with this Python,
``python -c "from MODULE import main; sys.exit(main())" ARGS``, so "before" (the old entry point
``jaxion.cli:main``, which imports the package and so JAX first) and "after" (``jaxion_cli:main``) are measured
the same way whatever the installed ``jaxion`` script points at.

Rows: ``--help`` with either entry point, ``python -m jaxion --help``, ``python -c "import jaxion"``; then the
default job (``jaxion --no-progress``: paper 1's Fig. 2 chain, 200 masses, 14 speeds x 2 impacts) without the
cache (what the command did before), with an empty cache (first process: compiles and writes the entries) and
with the cache a previous process filled (second process). The last row repeats the warm run with
``EQX_ON_ERROR=nan``: equinox's runtime checks then carry no host callback, and JAX writes the sweep's main
program too (JAX never caches an executable with a Python callback); it shows what the cache would give once the
engine's solve has no callback left (not a setting to use: it turns errors into NaN).
``--quick`` replaces the default job by a tiny one (chain of 40, one speed, Verlet).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_description, report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENTRY = "import sys; sys.argv[0] = 'jaxion'; from {module} import main; sys.exit(main())"
DEFAULT_JOB = ["--no-progress"]
TINY_JOB = ["--supercell", "40", "--speeds", "20", "--impacts", "1", "--solver", "verlet", "--dt", "0.01", "--no-progress"]


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh process; a failure stops the benchmark with its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(label: str, runs: int, argv: list[str], env: dict, prepare=None) -> tuple[float, float, list[float]]:
    walls, cpus = [], []
    for _ in range(runs):
        if prepare is not None:
            prepare()
        wall, cpu = timed(argv, env)
        walls.append(wall)
        cpus.append(cpu)
        print(f"  {wall:6.2f} s wall {cpu:6.2f} s CPU  {label}", flush=True)
    return statistics.median(walls), statistics.median(cpus), walls


def folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.glob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per row (median reported)")
    parser.add_argument("--quick", action="store_true", help="a tiny job instead of the default one")
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    machine = machine_description()
    began = time.perf_counter()
    base = dict(os.environ)
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), base.get("PYTHONPATH", "")])
    base.pop("JAXION_COMPILATION_CACHE", None)
    base.pop("JAXION_COMPILATION_CACHE_DIR", None)
    base.pop("JAX_COMPILATION_CACHE_DIR", None)
    python = sys.executable
    old, new = [python, "-c", ENTRY.format(module="jaxion.cli")], [python, "-c", ENTRY.format(module="jaxion_cli")]
    rows = []

    def row(label: str, argv: list[str], env: dict, prepare=None) -> None:
        wall, cpu, walls = median_of(label, args.runs, argv, env, prepare)
        rows.append((label, f"{wall:.2f} s", f"{cpu:.2f} s", ", ".join(f"{w:.2f}" for w in walls)))

    row("`jaxion --help`, before (entry `jaxion.cli:main`)", [*old, "--help"], base)
    row("`jaxion --help`, after (entry `jaxion_cli:main`)", [*new, "--help"], base)
    row("`jaxion --version`, after", [*new, "--version"], base)
    row("`python -m jaxion --help`", [python, "-m", "jaxion", "--help"], base)
    row("`python -c 'import jaxion'` (reference)", [python, "-c", "import jaxion"], base)

    job = TINY_JOB if args.quick else DEFAULT_JOB
    name = "tiny job" if args.quick else "default job"
    entries = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        out = ["--out", str(scratch / "out")]
        cold_dir, warm_dir, eqx_dir = scratch / "cold", scratch / "warm", scratch / "eqx"
        row(f"`jaxion` {name}, no cache (`--no-compilation-cache`, as before)", [*new, *job, *out, "--no-compilation-cache"], base)

        def empty_cold() -> None:
            subprocess.run(["rm", "-rf", str(cold_dir)], check=True)

        row(f"`jaxion` {name}, first process (empty cache)", [*new, *job, *out],
            {**base, "JAXION_COMPILATION_CACHE_DIR": str(cold_dir)}, prepare=empty_cold)
        warm_env = {**base, "JAXION_COMPILATION_CACHE_DIR": str(warm_dir)}
        timed([*new, *job, *out], warm_env)  # fill
        entries["warm"] = folder_size(warm_dir)
        row(f"`jaxion` {name}, second process (warm cache)", [*new, *job, *out], warm_env)
        eqx_env = {**base, "JAXION_COMPILATION_CACHE_DIR": str(eqx_dir), "EQX_ON_ERROR": "nan"}
        timed([*new, *job, *out], eqx_env)  # fill
        entries["eqx"] = folder_size(eqx_dir)
        row(f"`jaxion` {name}, warm, `EQX_ON_ERROR=nan` (no host callback: main program cached too)",
            [*new, *job, *out], eqx_env)
    total = time.perf_counter() - began

    def table(header, body):
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(map(str, r)) + " |" for r in body]
        return "\n".join(lines)

    command = f"python benchmarks/bench_startup.py{' --quick' if args.quick else ''}{f' --runs {args.runs}' if args.runs != 3 else ''}"
    text = "\n".join([
        f"## Run {machine['date']} — `{command}` ({total / 60:.1f} min)",
        "",
        f"Devices {machine['devices']}; {machine['cpu']}; load at the start {machine['load']}, at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; Python {machine['python']}, JAX {machine['jax']}; float64.",
        "",
        f"### Start-up of the `jaxion` command (fresh processes, median of {args.runs})",
        "",
        table(["command", "wall (median)", "CPU user+sys (median)", "wall of each run (s)"], rows),
        "",
        f"Cache after one {name}: {entries['warm'][0]} files, {entries['warm'][1] / 1e6:.2f} MB; with `EQX_ON_ERROR=nan` "
        f"{entries['eqx'][0]} files, {entries['eqx'][1] / 1e6:.2f} MB.",
        "",
    ])
    report(text, args.results, append=not args.no_append)


if __name__ == "__main__":
    main()
