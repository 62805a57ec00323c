"""The test machinery itself (tests/conftest.py): a missing tool skips locally, naming it, and
fails the run when ``CI=true``; what can never exist here skips even in CI; ``--full`` reaches
the tests.

Each case runs pytest in a child process on a tiny generated test file, with ``PATH`` stripped
of Verilator's folder, and loads ``tests/conftest.py`` as a plugin (``-p conftest``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NEVER_HERE, REPO, TOOLS, missing_tools

TINY = '''
import pytest
from conftest import full, require_tool


@pytest.mark.tools("verilator")
def test_marked():
    pass


def test_called():
    require_tool("verilator")


def test_never_here():
    require_tool("vivado")


def test_full_switch():
    assert full() == ("--full" in __import__("sys").argv)
'''


def run_tiny(tmp_path: Path, *, ci: bool, strip: str | None, full: bool = False
             ) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_tiny.py"
    test.write_text(TINY)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    if strip:
        dirs = env.get("PATH", "").split(os.pathsep)
        env["PATH"] = os.pathsep.join(d for d in dirs if not (Path(d) / strip).exists())
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
           "-p", "no:xdist", "-q", "-rsfE", str(test), *(["--full"] if full else [])]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.tools("verilator")
def test_missing_simulator_fails_in_ci_naming_it(tmp_path: Path) -> None:
    res = run_tiny(tmp_path, ci=True, strip="verilator")
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    # both ways of asking (marker, call) fail, each naming the tool; vivado still skips
    why = "Failed: missing tool verilator (CI=true: a missing tool fails the run"
    assert f"ERROR test_tiny.py::test_marked - {why}" in out, out
    assert f"FAILED test_tiny.py::test_called - {why}" in out, out
    assert "1 failed, 1 passed, 1 skipped" in out and "1 error" in out, out
    assert f"needs vivado: {NEVER_HERE['vivado']}" in out


@pytest.mark.tools("verilator")
def test_missing_simulator_skips_locally_naming_it(tmp_path: Path) -> None:
    res = run_tiny(tmp_path, ci=False, strip="verilator", full=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "SKIPPED [2]" in out and "missing tool verilator (verilator: apt-get" in out, out
    assert "1 passed, 3 skipped" in out and "(CI=true" not in out, out


@pytest.mark.tools("verilator")
def test_present_simulator_runs_in_ci(tmp_path: Path) -> None:
    """The control: with Verilator on PATH the same CI run passes (only vivado skips)."""
    res = run_tiny(tmp_path, ci=True, strip=None)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "3 passed, 1 skipped" in out, out


def test_every_tool_has_a_check_and_an_install_hint() -> None:
    assert not set(TOOLS) & set(NEVER_HERE)
    for name, (found, how) in TOOLS.items():
        assert isinstance(found(), bool) and how, name
    assert missing_tools("vivado") == ["vivado"]
    with pytest.raises(KeyError, match="unknown tool"):
        missing_tools("modelsim")
    assert ("iverilog" in missing_tools("iverilog")) == (shutil.which("iverilog") is None)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """.ci/run runs the README's test command exactly as written (after install.sh)."""
    readme = (REPO / "README.md").read_text()
    cmd = next(line for line in readme.splitlines()
               if line.startswith("bash scripts/install.sh && LWFC_DATA="))
    install, test = cmd.split(" && ", 1)
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert install in ci and test in ci, (install, test)
    assert ci.index(install) < ci.index(test)
