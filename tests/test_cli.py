"""The `jaxion` command: the main job writes data, metadata and a figure; bad options fail clearly."""

import json

import numpy as np
import pytest

from jaxion.cli import main


def test_run_writes_data_and_figure(tmp_path):
    code = main(["--speeds", "12,40", "--impacts", "0,1", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    for suffix in ("png", "pdf", "npz", "csv", "json"):
        assert (tmp_path / f"loss_vs_speed.{suffix}").stat().st_size > 0
    data = np.load(tmp_path / "loss_vs_speed.npz")
    np.testing.assert_allclose(data["loss_s1"], data["closed_form_s1"], rtol=1e-2)
    meta = json.loads((tmp_path / "loss_vs_speed.json").read_text())
    assert meta["parameters"]["width"] == 1.0 and meta["jax_version"]
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporary files
    # the CSV holds the npz's numbers exactly (17 significant digits) and booleans as 0/1
    header, *rows = (tmp_path / "loss_vs_speed.csv").read_text().splitlines()
    names = header.split(",")
    cells = [row.split(",") for row in rows]
    for j, name in enumerate(names):
        column = [c[j] for c in cells]
        if name.startswith("passed"):
            assert set(column) <= {"0", "1"}, column
            np.testing.assert_array_equal(np.array(column, dtype=int).astype(bool), data[name])
        else:
            np.testing.assert_array_equal(np.array(column, dtype=float), data[name])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lattice", "hexagonal"], "invalid choice"),
        (["--speeds", "fast"], "speeds must be"),
        (["--width", "0", "--speeds", "10"], "width"),
        (["--solver", "euler3", "--speeds", "10"], "unknown solver"),
        # a value that starts with "-" reaches its check instead of argparse's "expected one argument"
        (["--speeds", "-1,2"], "speeds must be"),
        (["--speeds", "10", "--width", "-.5"], "width"),
    ],
)
def test_bad_options_exit_with_message(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path)])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_reproduce_lists_every_paper_figure_and_rejects_unknown_ones(capsys):
    from jaxion.cli import main

    assert main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    expected = [f"paper1-fig{n}" for n in (2, 4, 5, 6)] + [f"paper2-fig{n}" for n in range(2, 10)]
    assert all(name in listed for name in expected)
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "paper3-fig1"])
    assert exit_info.value.code == 2
    assert "unknown figure" in capsys.readouterr().err


def test_far_impact_parameters_warn(tmp_path, capsys):
    """An impact parameter many widths from the sites gives a zero loss; the command says so."""
    assert main(["--supercell", "60", "--speeds", "20", "--impacts", "0,30", "--no-progress", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "impact parameter(s) 30" in err and "zero to rounding" in err


# ---------------------------------------------------------------------- jaxion run --phonopy (a real crystal)

ION_AMU = 6.94  # the default ion, Li
SPEED_M_S = 20_000.0


def test_run_phonopy_emt_copper_writes_data_in_ev_against_m_s(tmp_path, monkeypatch):
    """``jaxion run --phonopy emt:Cu-fcc`` on a 5×5×5 supercell at one speed: data files and figure written, the
    loss in eV against speeds in m/s, and the full engine's loss beside the mode sum (1.13) over the infinite crystal.

    Reference and tolerance. The mode sum is the first-order (constant-speed, straight-path) loss of the same force
    constants and sites; the engine integrates the full motion. Their difference is second order in Φ0/E_ion:
    at 20 000 m/s the Li ion carries E = ½Mv² = 14.4 eV against Φ0 = 0.1 eV, so the path bends by ~Φ0/E ≈ 0.7 %
    (measured: loss / mode sum = 1.005 with Verlet, dt = 0.02, 1.003 with Tsit5; at 5 000 m/s, E = 0.9 eV, the
    ratio is 1.05). The supercell echo returns after the pass at this speed (no EchoWarning). 2 % covers it.
    To stay fast the EMT force constants come from a 2×2×2 phonopy supercell (4×4×4 by default; fewer pair blocks,
    a quicker compile) and the fixed-step Verlet loop runs the pass: this tests the command, not EMT's convergence.
    """
    import jaxion.crystals as crystals

    build, lattice_constant, _ = crystals.EMT_STRUCTURES["Cu-fcc"]
    monkeypatch.setitem(crystals.EMT_STRUCTURES, "Cu-fcc", (build, lattice_constant, (2, 2, 2)))
    code = main(["--phonopy", "emt:Cu-fcc", "--supercell", "5,5,5", "--speeds", f"{SPEED_M_S:g}", "--impacts", "0.5",
                 "--solver", "verlet", "--dt", "0.02", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    for suffix in ("png", "pdf", "npz", "csv", "json"):
        assert (tmp_path / f"loss_vs_speed.{suffix}").stat().st_size > 0
    data = np.load(tmp_path / "loss_vs_speed.npz")
    assert set(data.files) == {"speed_m_s", "loss_eV_s0.5", "mode_sum_eV_s0.5", "passed_s0.5"}
    np.testing.assert_array_equal(data["speed_m_s"], [SPEED_M_S])
    assert data["passed_s0.5"].all()
    loss, mode_sum = data["loss_eV_s0.5"], data["mode_sum_eV_s0.5"]
    # eV, not ħΩ: well below the ion's kinetic energy and the potential's 0.1 eV, far above rounding
    kinetic_ev = 0.5 * ION_AMU * 1.66053906660e-27 * SPEED_M_S**2 / 1.602176634e-19
    assert np.all((loss > 1e-6) & (loss < 1e-2 * min(kinetic_ev, 0.1)))
    np.testing.assert_allclose(loss, mode_sum, rtol=2e-2)
    header = (tmp_path / "loss_vs_speed.csv").read_text().splitlines()[0]
    assert header.split(",") == ["speed_m_s", "loss_eV_s0.5", "mode_sum_eV_s0.5", "passed_s0.5"]
    parameters = json.loads((tmp_path / "loss_vs_speed.json").read_text())["parameters"]
    assert parameters["crystal"] == "emt:Cu-fcc" and parameters["species"] == ["Cu"]
    assert parameters["speeds_m_s"] == [SPEED_M_S] and parameters["supercell"] == [5, 5, 5]
    assert 1.0 < parameters["frequency_scale_thz"] < 20.0  # copper's top phonon (~7–8 THz), the unit of frequency


@pytest.mark.parametrize("content", [None, "force_constants: [1, 2\n  not: yaml: at all\n", "just: text\n"],
                         ids=["missing", "not-yaml", "not-phonopy"])
def test_run_phonopy_bad_file_exits_with_message(content, tmp_path, capsys):
    """A missing or unreadable ``--phonopy`` file: exit status 2 and one line naming the file (no traceback)."""
    path = tmp_path / "phonopy.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as info:
        main(["--phonopy", str(path), "--speeds", "10000", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("jaxion: error: ") and str(path) in err
    if content is None:
        assert f"--phonopy {path}: no such file" in err
    else:
        assert "could not be read as a phonopy.yaml" in err
