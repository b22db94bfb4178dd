"""Run every benchmark script in ``benchmarks/`` and summarise them in one table.

    python benchmarks/run_all.py --quick        # every script in its --quick mode
    python benchmarks/run_all.py                # full runs (long: do it on an otherwise idle machine)
    python benchmarks/run_all.py --no-append    # print only; neither the scripts nor this append to RESULTS.md
    python benchmarks/run_all.py --only bench_memory.py

Each script runs in its own process (one at a time, so they do not compete for the cores) and appends
its own detailed sections to ``RESULTS.md`` as usual; this script then appends a summary block with
the date, device, CPU, load averages and versions, and one row per script (command, exit status,
wall time). Options a script does not know (``--quick``, ``--no-append``, ``--results``, ``--wait-idle``)
are not passed to it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import machine_description  # noqa: E402

SCRIPTS = ("bench_full_engine.py", "bench_memory.py", "bench_time_local.py", "bench_scaling.py")


def versions() -> str:
    out = []
    for package in ("jax", "jaxlib", "diffrax", "equinox", "numpy", "scipy", "jaxion"):
        try:
            out.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def command_for(script: Path, args) -> list[str]:
    """The script's command line, with only the options its source mentions."""
    source = script.read_text(encoding="utf-8")
    command = [sys.executable, str(script)]
    if args.quick and '"--quick"' in source:
        command.append("--quick")
    if args.no_append and '"--no-append"' in source:
        command.append("--no-append")
    if '"--results"' in source:
        command += ["--results", args.results]
    if args.wait_idle and '"--wait-idle"' in source:
        command += ["--wait-idle", str(args.wait_idle)]
    return command


def main() -> int:
    parser = argparse.ArgumentParser(description="Run all jaxion benchmark scripts and summarise them.")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file to append to")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS", help="passed on to every script")
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="run only these scripts (file names)")
    args = parser.parse_args()

    names = args.only or SCRIPTS
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        parser.error(f"unknown script(s) {unknown}; choose from {list(SCRIPTS)}")
    env = machine_description()
    print(f"device {env['devices']}; {env['cpu']}; load {env['load']}", file=sys.stderr, flush=True)
    rows = []
    for name in names:
        script = HERE / name
        if not script.exists():
            rows.append((name, "-", "not present", "-"))
            continue
        command = command_for(script, args)
        shown = " ".join(["python", f"benchmarks/{name}", *command[2:]])
        print(f"=== {shown}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        status = subprocess.run(command, cwd=HERE.parent).returncode
        wall = time.perf_counter() - t0
        rows.append((name, f"`{shown}`", "ok" if status == 0 else f"exit {status}", f"{wall / 60:.1f} min"))

    lines = [
        f"## Run {env['date']} — `python benchmarks/run_all.py{' --quick' if args.quick else ''}` (summary)",
        "",
        f"- device: `{env['devices']}`",
        f"- CPU: {env['cpu']}; load average (1/5/15 min) at start: {env['load']}, at end: "
        + machine_description()["load"]
        + " (other processes on the machine inflate the timings)",
        f"- versions: python {env['python']}, {versions()}",
        "",
        "| script | command | status | wall |",
        "|---|---|---|---|",
        *(f"| {name} | {command} | {status} | {wall} |" for name, command, status, wall in rows),
        "",
        "Each script's own tables are the sections appended just above (or printed, with --no-append).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_append:
        with open(args.results, "a", encoding="utf-8") as handle:  # append only: the scripts write here too
            handle.write("\n" + text)
        print(f"appended to {args.results}", file=sys.stderr)
    return 0 if all(r[2] in ("ok", "not present") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
