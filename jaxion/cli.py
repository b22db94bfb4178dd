"""The ``jaxion`` command.

``jaxion`` (or ``jaxion run``) sweeps ion speeds for a single pass and writes the data and a
loss-versus-speed figure with the theory beside the simulation. The default problem is paper 1's
Fig. 2 chain (``k = 99/4``, ``κ = 1``, ``Φ0 = 0.01``, ``λ = 1``, ``s ∈ {0, 1}``) on 200 masses, small
enough for a laptop CPU in about a minute.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

LATTICES = ("chain3d", "chain", "cubic")
SITE_SETS = ("single", "face", "cell")
FAR_IMPACT_WIDTHS = 12.0  # |s| beyond this many widths: the landscape is below e^(-72) of its peak
_LATTICE_OPTIONS = {"chain3d": ("coupling", "confinement"), "chain": ("omega_fast",), "cubic": ("k1", "k2")}  # what builds each


def _speeds(text: str) -> np.ndarray:
    """``a:b:n`` (n log-spaced speeds from a to b) or a comma-separated list."""
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxion",
        description="Simulate an ion passing through a vibrating crystal and the energy it loses (paper 1, Eqs. (1.3)-(1.4)).",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="sweep speeds for single passes (the default command)")
    run.add_argument("--lattice", choices=LATTICES, default="chain3d", help="framework (default: paper 1's chain3d)")
    real = run.add_argument_group(
        "real crystal (physical units: eV, Å, amu, m/s)",
        "with --phonopy the crystal comes from force constants and --amplitude (eV), --width (Å), --impacts (Å) and "
        "--speeds (m/s) are in physical units",
    )
    real.add_argument("--phonopy", default=None, metavar="FILE",
                      help="phonopy.yaml with force constants, or emt:STRUCTURE for a crystal made on the spot "
                           "(emt:Cu-fcc, emt:Cu-fcc-cubic, emt:Ni-hcp, emt:Cu3Au-L12; needs jaxion[crystals])")
    real.add_argument("--ion-mass", type=float, default=6.94, metavar="AMU", help="ion mass in amu (default Li, 6.94)")
    real.add_argument("--direction", type=_floats, default=[0.0, 0.0, 1.0], help="Cartesian direction of the path")
    real.add_argument("--path-length", type=float, default=6.0, metavar="Å",
                      help="length of the path segment whose atoms interact with the ion (Å)")
    run.add_argument("--supercell", type=_ints, default=None, help="cells per axis, e.g. 200 or 20,20,20")
    run.add_argument("--coupling", type=float, default=99 / 4, help="chain nearest-neighbour coupling k (chain3d)")
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
    run.add_argument("--dt", type=float, default=None, help="fixed time step instead of adaptive steps")
    run.add_argument("--batch-size", type=int, default=None, help="passes per compiled call (default: all)")
    run.add_argument("--out", type=Path, default=Path("jaxion-output"), help="output folder")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoints")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    rep = sub.add_parser("reproduce", help="reproduce the papers' figures (PNG, PDF, data, metadata)")
    rep.add_argument("figures", nargs="*", help="figure names (see --list) or 'all'")
    size = rep.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes that run on a laptop CPU in minutes (default)")
    size.add_argument("--full", action="store_true", help="the papers' parameters (a GPU is advisable)")
    rep.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: figures/)")
    rep.add_argument("--force", action="store_true", help="redo figures whose files already exist")
    rep.add_argument("--list", action="store_true", help="list the figures and exit")
    rep.add_argument("--no-progress", action="store_true", help="quiet output")
    return parser


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
    return from_phonopy(path)


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
    rows = np.column_stack([np.asarray(table[n], dtype=float) for n in names])
    atomic_write(path, lambda tmp: np.savetxt(tmp, rows, delimiter=",", header=",".join(names), comments=""))


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


def main(argv=None) -> int:
    parser = build_parser()
    argv = _attach_negative_values(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    args = parser.parse_args(argv)
    if args.command == "reproduce":
        try:
            return command_reproduce(args)
        except ValueError as error:
            parser.exit(2, f"jaxion: error: {error}\n")
    if args.command == "run":
        try:
            return command_run(args)
        except ValueError as error:
            parser.exit(2, f"jaxion: error: {error}\n")
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
