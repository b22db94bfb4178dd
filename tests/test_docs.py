"""The user documentation: the README's example prints what the README says, every relative link of the README and
of the documentation pages points to a file that exists, the README stays short, the API reference lists every
public name, and the documentation site builds with ``mkdocs build --strict`` (when mkdocs is installed).

The README's ```python blocks run in one namespace, in order, in a temporary folder (as the notebooks do in
``tests/test_notebooks.py``); a ```text block that follows a python block (before the next one) is the output it
must print. Numbers are compared to the digits printed: each may differ from the README's by at most two units of
its last printed digit (another CPU or XLA version may round the last digit differently); everything else must
match exactly. The python blocks of the documentation pages run with ``pytest -m slow``.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
README_TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -q'  # .ci/run runs this command of the README
MAX_README_LINES = 220

_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def python_with_output(text: str) -> list[tuple[str, str | None]]:
    """Each ```python block with the ```text block that follows it before the next python block (or ``None``)."""
    pairs: list[tuple[str, str | None]] = []
    for language, body in fenced_blocks(text):
        if language in ("python", "py"):
            pairs.append((body, None))
        elif language == "text" and pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], body)
    return pairs


def _last_digit_unit(token: str) -> float:
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def assert_same_output(printed: str, expected: str) -> None:
    """Lines equal, except numbers, which agree within two units of the expected number's last printed digit."""
    got_lines, want_lines = printed.strip().splitlines(), expected.strip().splitlines()
    assert len(got_lines) == len(want_lines), f"printed\n{printed}\nbut the README says\n{expected}"
    for got, want in zip(got_lines, want_lines, strict=True):
        assert _NUMBER.sub("#", got) == _NUMBER.sub("#", want), f"printed {got!r}; the README says {want!r}"
        for g, w in zip(_NUMBER.findall(got), _NUMBER.findall(want), strict=True):
            assert abs(float(g) - float(w)) <= 2 * _last_digit_unit(w), f"printed {got!r}; the README says {want!r}"


def run_blocks(pairs: list[tuple[str, str | None]], folder: Path, monkeypatch) -> None:
    """Run the blocks in one fresh namespace in ``folder``; check each block's output where one is given."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("JAXION_KERNEL_CACHE", str(folder / "kernels"))  # never the user's cache
    namespace: dict = {"__name__": "__main__"}
    for code, expected in pairs:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, "<documentation>", "exec"), namespace)
        if expected is not None:
            assert_same_output(buffer.getvalue(), expected)


def test_output_comparison_reads_digits():
    assert_same_output("loss 3.1367e-06, 281 steps\n", "loss 3.1366e-06, 281 steps")
    with pytest.raises(AssertionError):
        assert_same_output("loss 3.1370e-06, 281 steps", "loss 3.1366e-06, 281 steps")
    with pytest.raises(AssertionError):
        assert_same_output("loss 3.1366e-06, 281 step", "loss 3.1366e-06, 281 steps")
    assert python_with_output("```python\nprint(1)\n```\nprose\n```text\n1\n```\n```python\nx = 2\n```\n") == [
        ("print(1)\n", "1\n"),
        ("x = 2\n", None),
    ]


def test_readme_example_prints_what_the_readme_says(tmp_path, monkeypatch):
    pairs = python_with_output(README.read_text(encoding="utf-8"))
    assert pairs and any(expected is not None for _, expected in pairs), "the README must show an example and its output"
    run_blocks(pairs, tmp_path, monkeypatch)


DOC_PAGES_WITH_CODE = [p for p in PAGES if python_with_output(p.read_text(encoding="utf-8"))]


@pytest.mark.slow
@pytest.mark.parametrize("page", DOC_PAGES_WITH_CODE, ids=[str(p.relative_to(DOCS)) for p in DOC_PAGES_WITH_CODE])
def test_documentation_examples_run(page, tmp_path, monkeypatch):
    run_blocks(python_with_output(page.read_text(encoding="utf-8")), tmp_path, monkeypatch)


def test_readme_is_short_and_keeps_its_commands():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"
    assert README_TEST_COMMAND in text, "the README's test command (run by .ci/run) changed"
    assert "pip install -e . && jaxion" in text
    assert "3.11" in text  # the Python version the README states is pyproject's requires-python
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(text: str) -> list[str]:
    """Targets of the Markdown links and images outside code (no URLs, no in-page anchors)."""
    text = _FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = [m.group(1) for m in _LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE) and not t.startswith("#")]


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files(page):
    missing = [t for t in relative_links(page.read_text(encoding="utf-8")) if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"


def public_names() -> tuple[set[str], set[str]]:
    """``(names, modules)`` that ``jaxion/__init__.py`` exports: ``X as X`` re-exports and top-level assignments."""
    tree = ast.parse((ROOT / "jaxion" / "__init__.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    modules: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            exported = {a.name for a in node.names if a.asname == a.name}
            (modules if node.module is None else names).update(exported)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name) and not t.id.startswith("_"))
    return names, modules


ALSO_DOCUMENTED_AS = {"fit_parameters": "fit"}  # jaxion.fit_parameters is jaxion.fit.fit


def test_api_reference_lists_every_public_name():
    api = "\n".join(p.read_text(encoding="utf-8") for p in sorted((DOCS / "api").glob("*.md")))
    entries = re.findall(r"^:::\s*([\w.]+)", api, re.MULTILINE)
    documented = {entry.rsplit(".", 1)[-1] for entry in entries}
    names, modules = public_names()
    assert len(names) > 50
    missing = sorted(n for n in names if ALSO_DOCUMENTED_AS.get(n, n) not in documented)
    assert not missing, f"public names without an entry (::: jaxion.NAME) in docs/api/: {missing}"
    missing_modules = sorted(m for m in modules if f"jaxion.{m}" not in api)
    assert not missing_modules, f"public modules not named in docs/api/: {missing_modules}"


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")  # mkdocs-material, the theme
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert (tmp_path / "site" / "api" / "engines" / "index.html").exists()
