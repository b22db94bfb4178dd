"""The ``jaxion`` command's jobs.

``jaxion`` (or ``jaxion run``) sweeps ion speeds for a single pass and writes the data and a
loss-versus-speed figure with the theory beside the simulation. The default problem is paper 1's
Fig. 2 chain (``k = 99/4``, ``κ = 1``, ``Φ0 = 0.01``, ``λ = 1``, ``s ∈ {0, 1}``) on 200 masses, small
enough for a laptop CPU in about a minute.

The command line itself (parser, ``--help``, ``--version``, the persistent compilation cache switch) lives in
``jaxion_cli``, outside this package, so that it answers before JAX is imported (see its docstring); the
installed ``jaxion`` and ``python -m jaxion`` run ``jaxion_cli.main``. :func:`main` here runs a command line in
this process without touching JAX's process-wide cache settings (``--no-compilation-cache`` is accepted and has
nothing to switch off); the tests call it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxion_cli import (  # re-exported: jaxion.cli.build_parser and the argument types, as before
    LATTICES as LATTICES,
    SITE_SETS as SITE_SETS,
    _attach_negative_values as _attach_negative_values,
    _floats as _floats,
    _ints as _ints,
    _speeds as _speeds,
    build_parser as build_parser,
    parse_arguments,
)

FAR_IMPACT_WIDTHS = 12.0  # |s| beyond this many widths: the landscape is below e^(-72) of its peak
_LATTICE_OPTIONS = {"chain3d": ("coupling", "confinement"), "chain": ("omega_fast",), "cubic": ("k1", "k2")}  # what builds each


def _lattice(args):
    import jaxion as jx

    def spacing(default):  # `--spacing 0` must reach the check, not fall back to the default
        return default if args.spacing is None else args.spacing

    if args.lattice == "chain3d":
        return jx.chain3d(args.coupling, confinement_parallel=args.confinement, spacing=spacing(1.0))
    if args.lattice == "chain":
        return jx.chain(args.omega_fast, spacing=spacing(40.0))
    return jx.simple_cubic(args.k1, args.k2, spacing=spacing(2.0))


def _sites(args, lattice):
    import jaxion as jx

    if args.sites == "single":
        return jx.single_site(lattice)
    if args.lattice != "cubic":
        raise ValueError(f"--sites {args.sites} needs --lattice cubic; got --lattice {args.lattice}")
    return jx.cubic_face_sites() if args.sites == "face" else jx.cubic_cell_sites()


def _impact_vector(lattice_name: str, s: float, sites: str) -> np.ndarray:
    """Paper 1: the chain's offset is along y (σ0 = s ŷ), the cubic one along x (σ0 = s x̂)."""
    return np.array([s, 0.0, 0.0]) if lattice_name == "cubic" else np.array([0.0, s, 0.0])


def _chain_theory(args, lattice, s: float):
    """The closed form for one site of a chain as a function of speed: paper 1's (1.14) for chain3d,
    paper 2's (2.26) times the offset factor ``e^{−s²/λ²}`` for the chain moving along itself."""
    import jaxion as jx

    if args.sites != "single" or args.lattice not in ("chain3d", "chain"):
        return None
    if args.lattice == "chain":
        offset = np.exp(-(s**2) / args.width**2)
        return lambda v: offset * jx.single_pass_loss_gaussian(v, args.amplitude, args.width, args.omega_fast)
    return lambda v: jx.chain_loss_closed_form(
        v, args.amplitude, args.width, s,
        coupling_parallel=args.coupling, coupling_perpendicular=args.coupling,
        confinement_parallel=args.confinement, confinement_perpendicular=args.confinement,
    )


def _crystal(source: str):
    from jaxion.crystals import emt_crystal, from_phonopy

    if source.startswith("emt:"):
        return emt_crystal(source[4:])
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"--phonopy {source}: no such file (give a phonopy.yaml with force constants, or emt:STRUCTURE)")
    try:
        return from_phonopy(path)
    except ValueError as error:
        raise ValueError(f"--phonopy {source}: {error}") from error


def command_run_crystal(args) -> int:
    """``jaxion run --phonopy FILE``: loss (eV) against speed (m/s) of an ion through an imported crystal, from the
    full engine on a periodic supercell beside the constant-speed mode sum (1.13) over the infinite crystal."""
    import jaxion as jx
    from jaxion.io import run_metadata, save_json, save_npz
    from jaxion.plot import plot_loss_curves

    started = time.perf_counter()
    if args.ion_mass <= 0 or not np.isfinite(args.ion_mass):
        raise ValueError(f"--ion-mass must be a positive mass in amu; got {args.ion_mass}")
    if args.width <= 0 or args.path_length <= 0:
        raise ValueError(f"--width and --path-length must be positive lengths in Å; got {args.width}, {args.path_length}")
    if len(args.direction) != 3 or not np.any(args.direction):
        raise ValueError(f"--direction must be three numbers, not all zero; got {args.direction}")
    made = _crystal(args.phonopy)
    lattice, units = made.lattice, made.units
    speeds_m_s = np.asarray(args.speeds, float)
    length = float(units.to_physical(1.0, "length"))  # Å per l
    potential = jx.Gaussian(float(units.from_physical(args.amplitude, "energy")), args.width / length)
    unit = np.asarray(args.direction, float) / np.linalg.norm(args.direction)
    speeds = np.asarray(units.from_physical(speeds_m_s, "speed"))
    supercell = tuple(args.supercell or (8, 8, 8))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    options = dict(solver=args.solver, rtol=args.rtol, atol=args.atol, dt=args.dt)
    print(f"jaxion: {lattice.name} ({lattice.atoms} atoms per cell, {', '.join(sorted(set(lattice.species)))}), supercell "
          f"{list(supercell)}, ion {args.ion_mass:g} amu, Gaussian {args.amplitude:g} eV / {args.width:g} Å, "
          f"{len(speeds)} speeds x {len(args.impacts)} impact parameters -> {out}/", flush=True)
    perpendicular = np.cross(unit, [0.0, 0.0, 1.0] if abs(unit[2]) < 0.9 else [1.0, 0.0, 0.0])
    perpendicular /= np.linalg.norm(perpendicular)
    curves, table = [], {"speed_m_s": speeds_m_s}
    for s in args.impacts:
        point = perpendicular * s / length
        sites = jx.sites_near_line(lattice, point - unit * args.path_length / (2 * length), unit,
                                   4.0 * args.width / length, args.path_length / length)
        system = jx.System(lattice, potential, sites, mass_ratio=args.ion_mass / float(units.to_physical(1.0, "mass")))
        centre = np.mean(np.asarray(system.site_positions()), axis=0)
        impact = point - centre - ((point - centre) @ unit) * unit
        result = jx.sweep_passes(system, speeds, supercell, impacts=impact, direction=unit, progress=not args.no_progress,
                                 batch_size=args.batch_size, **options)
        theory = np.asarray(jx.mode_sum_loss(system, speeds, impact, unit))
        loss_ev = np.asarray(units.to_physical(np.asarray(result.loss), "energy"))
        theory_ev = np.asarray(units.to_physical(theory, "energy"))
        curves.append({"label": f"s = {s:g} Å", "speeds": speeds_m_s, "loss": np.where(result.ok, loss_ev, np.nan),
                       "theory_speeds": speeds_m_s, "theory": theory_ev, "theory_at_speeds": theory_ev})
        table[f"loss_eV_s{s:g}"] = loss_ev
        table[f"mode_sum_eV_s{s:g}"] = theory_ev
        table[f"passed_s{s:g}"] = result.ok
        print(f"  s = {s:g} Å: {len(sites)} interacting atoms; {int(result.ok.sum())}/{result.ok.size} passes completed; "
              f"loss / mode sum = {np.round(loss_ev / np.where(theory_ev > 0, theory_ev, np.nan), 3).tolist()}")
    wall = time.perf_counter() - started
    parameters = {"crystal": args.phonopy, "lattice_fingerprint": lattice.fingerprint(), "species": list(lattice.species),
                  "reference_mass_amu": float(units.to_physical(1.0, "mass")),
                  "frequency_scale_thz": float(units.to_physical(1.0, "frequency")), "supercell": list(supercell),
                  "ion_mass_amu": args.ion_mass, "amplitude_eV": args.amplitude, "width_angstrom": args.width,
                  "impacts_angstrom": args.impacts, "direction": list(unit), "speeds_m_s": speeds_m_s, **options}
    save_npz(out / "loss_vs_speed.npz", **table)
    _write_csv(out / "loss_vs_speed.csv", table)
    save_json(out / "loss_vs_speed.json", run_metadata(parameters, wall))
    plot_loss_curves(curves, out / "loss_vs_speed.png", title=f"{lattice.name}: ion {args.ion_mass:g} amu, supercell {list(supercell)}",
                     xlabel="speed (m/s)", ylabel="energy loss (eV)")
    print(f"jaxion: wrote {out}/loss_vs_speed.{{png,pdf,npz,csv,json}} in {wall:.1f} s")
    return 0


def command_run(args) -> int:
    import jaxion as jx

    crystal = args.phonopy is not None
    for name, plain, physical in (("amplitude", 0.01, 0.1), ("width", 1.0, 0.5), ("impacts", [0.0, 1.0], [0.0, 0.5]),
                                  ("speeds", _speeds("2:80:14"), _speeds("2000:40000:8"))):
        if getattr(args, name) is None:
            setattr(args, name, physical if crystal else plain)
    if crystal:
        return command_run_crystal(args)
    from jaxion.io import run_metadata, save_json, save_npz
    from jaxion.plot import plot_loss_curves

    started = time.perf_counter()
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be an integer >= 1; got {args.batch_size}")
    lattice = _lattice(args)
    supercell = args.supercell or ([200] if lattice.dim == 1 else [20, 20, 20])
    potential = jx.Gaussian(args.amplitude, args.width)
    system = jx.System(lattice, potential, _sites(args, lattice), mass_ratio=args.mass_ratio)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    options = dict(solver=args.solver, rtol=args.rtol, atol=args.atol, dt=args.dt)
    parameters = {
        "lattice": args.lattice,
        "supercell": supercell,
        "lattice_fingerprint": lattice.fingerprint(),
        **{name: getattr(args, name) for name in _LATTICE_OPTIONS[args.lattice]},
        "spacing": float(np.linalg.norm(np.asarray(lattice.primitive_vectors)[:, 0])),
        "amplitude": args.amplitude,
        "width": args.width,
        "sites": [list(s) for s in system.sites],
        "mass_ratio": args.mass_ratio,
        "impacts": args.impacts,
        "speeds": args.speeds,
        **{k: v for k, v in options.items()},
    }
    print(
        f"jaxion: {args.lattice} lattice, supercell {supercell}, Φ0={args.amplitude}, λ={args.width}, "
        f"{len(args.speeds)} speeds x {len(args.impacts)} impact parameters -> {out}/",
        flush=True,
    )
    far = [s for s in args.impacts if abs(s) > FAR_IMPACT_WIDTHS * args.width]
    if far:
        print(
            f"jaxion: warning: impact parameter(s) {', '.join(f'{s:g}' for s in far)} lie more than "
            f"{FAR_IMPACT_WIDTHS:g} widths (λ = {args.width:g}) from the sites: the landscape there is below "
            f"e^(-{FAR_IMPACT_WIDTHS ** 2 / 2:g}) of its peak, so those losses are zero to rounding.",
            file=sys.stderr,
            flush=True,
        )
    curves, table = [], {"speed": args.speeds}
    for s in args.impacts:
        impact = _impact_vector(args.lattice, s, args.sites)
        checkpoint = out / f".checkpoint_s{s:g}.npz"
        if not args.resume and checkpoint.exists():
            checkpoint.unlink()
        result = jx.sweep_passes(
            system,
            args.speeds,
            supercell,
            impacts=impact,
            batch_size=args.batch_size or (4 if args.resume else None),
            progress=not args.no_progress,
            checkpoint=checkpoint,
            **options,
        )
        curve = {"label": f"s = {s:g}", "speeds": result.speeds, "loss": np.where(result.ok, result.loss, np.nan)}
        table[f"loss_s{s:g}"] = result.loss
        table[f"energy_drift_s{s:g}"] = result.energy_drift
        table[f"passed_s{s:g}"] = result.ok
        theory = _chain_theory(args, lattice, s)
        if theory is not None:
            fine = np.geomspace(args.speeds.min(), args.speeds.max(), 200)
            curve["theory_speeds"] = fine
            curve["theory"] = np.asarray(theory(fine))
            curve["theory_at_speeds"] = np.asarray(theory(result.speeds))
            table[f"closed_form_s{s:g}"] = curve["theory_at_speeds"]
        curves.append(curve)
        worst = np.max(np.abs(result.energy_drift / np.where(result.loss != 0, result.loss, 1)))
        print(f"  s = {s:g}: {int(result.ok.sum())}/{result.ok.size} passes completed; max |energy drift / loss| = {worst:.2e}")
        checkpoint.unlink(missing_ok=True)
    wall = time.perf_counter() - started
    save_npz(out / "loss_vs_speed.npz", **table)
    _write_csv(out / "loss_vs_speed.csv", table)
    save_json(out / "loss_vs_speed.json", run_metadata(parameters, wall))
    title = f"{args.lattice}: Φ0 = {args.amplitude:g}, λ = {args.width:g}, supercell {supercell}"
    plot_loss_curves(curves, out / "loss_vs_speed.png", title=title)
    print(f"jaxion: wrote {out}/loss_vs_speed.{{png,pdf,npz,csv,json}} in {wall:.1f} s")
    return 0


def command_reproduce(args) -> int:
    from jaxion.figures import figure_names, reproduce

    if args.list:
        from jaxion.figures import FIGURES

        for name in figure_names():
            spec = FIGURES[name]
            print(f"{name:24s} paper {spec.paper}, Fig. {spec.number}: {spec.title}")
        return 0
    if not args.figures:
        raise ValueError(f"name a figure or 'all'; choose from {figure_names()}")
    started = time.perf_counter()
    summaries = reproduce(args.figures, args.out, quick=not args.full, progress=not args.no_progress, force=args.force)
    print(f"jaxion reproduce: {len(summaries)} figure(s) in {args.out}/ after {time.perf_counter() - started:.1f} s")
    return 0


def _write_csv(path: Path, table: dict) -> None:
    from jaxion.io import atomic_write

    names = list(table)
    columns = [np.asarray(table[n]) for n in names]
    # booleans and integers as integers (1, not 1.000000000000000000e+00); floats with the 17 digits that round-trip
    fmt = ["%d" if c.dtype == bool or np.issubdtype(c.dtype, np.integer) else "%.17g" for c in columns]
    rows = np.column_stack([c.astype(float) for c in columns])
    atomic_write(path, lambda tmp: np.savetxt(tmp, rows, fmt=fmt, delimiter=",", header=",".join(names), comments=""))


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run a parsed ``run`` or ``reproduce``; a ``ValueError`` of bad input exits with status 2 and its message."""
    command = command_reproduce if args.command == "reproduce" else command_run
    try:
        return command(args)
    except ValueError as error:
        parser.exit(2, f"jaxion: error: {error}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jaxion`` command line ``argv`` (default ``sys.argv[1:]``) in this process, without the
    persistent compilation cache (the installed command, ``jaxion_cli.main``, switches it on)."""
    parser, args = parse_arguments(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return run_command(parser, args)


if __name__ == "__main__":
    sys.exit(main())
