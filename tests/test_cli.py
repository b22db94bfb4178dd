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
