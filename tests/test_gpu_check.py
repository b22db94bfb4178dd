"""``benchmarks/gpu_check.sh``: the prepared accelerator check runs end to end in its ``--cpu --tiny`` mode, so
the script is known to work before a device is lent (every section a row with numbers, no error rows,
the table in ``--results`` and in ``$OUT``, ``benchmarks/RESULTS.md`` untouched); and its pieces: a
failing section is recorded and the run goes on, the stand-in metadata, the atomic append."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def load_gpu_check():
    """The script as a module (loaded once; its dataclasses need it in ``sys.modules``)."""
    if "gpu_check" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["gpu_check"] = module
        spec.loader.exec_module(module)
    return sys.modules["gpu_check"]


def table_rows(text: str) -> list[list[str]]:
    """The cells of the table's data rows (header and rule dropped)."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines and lines[0].startswith("| section |"), text
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[1:]]


def test_tiny_run_every_section_has_numbers(tmp_path):
    gpu_check = load_gpu_check()
    results, out = tmp_path / "results.md", tmp_path / "out"
    out.mkdir()
    guarded = REPO / "benchmarks" / "RESULTS.md"
    before = guarded.read_bytes() if guarded.exists() else None
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out))
    began = time.perf_counter()
    process = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu", "--tiny", "--results", str(results)], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - began
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    text = results.read_text(encoding="utf-8")
    assert "`float64`" in text and "jax_enable_x64 = True" in text and "cpu" in text
    rows = table_rows(text)
    sections = [row[0] for row in rows]
    assert set(sections) == set(gpu_check.SECTIONS), sections
    assert sections.count("step") == len(gpu_check.TINY.step_cells)
    for section, case, wall_s, result, projected, status in rows:
        assert status in ("ok", "partial"), (section, result)
        float(wall_s)
        assert re.search(r"\d", result), (section, result)
        if status == "partial":
            assert re.search(r"\d", projected), (section, projected)
    # printed as it went, the same table in $OUT (markdown and json), RESULTS.md untouched
    assert all(row[0] in process.stdout for row in rows)
    assert (out / "gpu_check.md").read_text(encoding="utf-8") == text
    assert [r["section"] for r in json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))["rows"]] == sections
    assert (guarded.read_bytes() if guarded.exists() else None) == before
    print(f"gpu_check.sh --cpu --tiny: {wall:.1f} s")


def test_failing_section_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    gpu_check = load_gpu_check()

    def broken(ctx, budget):
        raise RuntimeError("the device said no")

    monkeypatch.setitem(gpu_check.SECTIONS, "fig4", broken)
    monkeypatch.setenv("OUT", str(tmp_path))
    results = tmp_path / "results.md"
    results.write_text("# earlier results\n", encoding="utf-8")
    code = gpu_check.main(["--cpu", "--tiny", "--only", "fig4", "copy", "--results", str(results)])
    assert code == 1  # an error row makes the exit status non-zero, after the whole run
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# earlier results\n\n## GPU check")  # appended, not replaced
    rows = {row[0]: row for row in table_rows(text)}
    assert rows["copy"][5] == "ok" and "GB/s" in rows["copy"][3]
    assert rows["fig4"][5] == "error" and "RuntimeError: the device said no" in rows["fig4"][3]
    assert (tmp_path / "gpu_check.md").read_text(encoding="utf-8") == text[len("# earlier results\n\n"):]
    assert "| fig4 |" in capsys.readouterr().out


def test_tiny_never_writes_the_default_results(monkeypatch, capsys):
    gpu_check = load_gpu_check()
    monkeypatch.delenv("OUT", raising=False)
    monkeypatch.setitem(gpu_check.SECTIONS, "copy", lambda ctx, budget: ctx.emit(gpu_check.Row("copy", "-", 0.0, "1 GB/s")))
    guarded = gpu_check.DEFAULT_RESULTS
    before = guarded.read_bytes() if guarded.exists() else None
    assert gpu_check.main(["--cpu", "--tiny", "--only", "copy"]) == 0
    assert gpu_check.main(["--cpu", "--tiny", "--only", "copy", "--results", str(guarded)]) == 0
    assert (guarded.read_bytes() if guarded.exists() else None) == before
    assert "never writes" in capsys.readouterr().out


def test_metadata_stand_in_answers_the_version(tmp_path, monkeypatch):
    gpu_check = load_gpu_check()
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = "jaxion_gpu_check_probe"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version(name)
    assert gpu_check.metadata_stand_in(name, "1.2.3", tmp_path)
    assert importlib.metadata.version(name) == "1.2.3"
    assert not gpu_check.metadata_stand_in(name, "9.9.9", tmp_path)  # found now: nothing to do
    assert not gpu_check.metadata_stand_in("jaxion", "0", tmp_path)  # installed here


def test_parsers_read_bench_full_engine_formats():
    gpu_check = load_gpu_check()  # the formats of bench_full_engine.fmt_time and bench_scaling.lattice_row's cells
    assert gpu_check.parse_seconds("32.0 µs") == pytest.approx(3.2e-5)
    assert gpu_check.parse_seconds("12.3 ms") == pytest.approx(0.0123)
    assert gpu_check.parse_seconds("4.56 s") == 4.56
    assert gpu_check.parse_number("1,234.5 GB/s") == 1234.5
    assert gpu_check.parse_number("0.0492 MB") == 0.0492
