"""The register map module, its generated document, and the converted ``lwfc_axi`` Verilog
(ports, lint)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO
from lwfc_hw import regmap as R
from lwfc_hw.axi import TOP
from lwfc_hw.axi_sim import prepare_axi
from lwfc_hw.plan import BANK_CHUNK, LayerShape, plan_core

DOC = REPO / "docs" / "registers.md"


def mnist_plan(lanes: int = 8):
    shapes = [LayerShape("fc1", "dense", 784, 50), LayerShape("fc2", "dense", 50, 100),
              LayerShape("fc3", "dense", 100, 10, hidden=False)]
    return plan_core(shapes, lanes)


def test_registers_are_word_aligned_unique_and_below_the_window() -> None:
    offsets = [r.offset for r in R.REGISTERS]
    assert len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 and 0 <= o < R.WINDOW_BASE for o in offsets)
    assert len({r.name for r in R.REGISTERS}) == len(R.REGISTERS)
    assert R.WINDOW_BASE + 4 * R.WINDOW_WORDS <= 1 << R.ADDR_BITS


def test_fields_fit_and_do_not_overlap() -> None:
    for r in R.REGISTERS:
        used = 0
        for f in r.fields:
            assert f.access in R.ACCESS, (r.name, f.name)
            assert f.lsb >= 0 and f.lsb + f.width <= 32, (r.name, f.name)
            assert used & f.mask == 0, (r.name, f.name)
            used |= f.mask
            if f.reset is not None:
                assert 0 <= f.reset < 1 << f.width


def test_field_helpers() -> None:
    f = R.CTRL.field("LOGITS")
    assert f.put(1) == 4 and f.get(0xFF) == 1 and R.CTRL.bit("START") == 1
    with pytest.raises(ValueError):
        R.GEOMETRY.field("CLASSES").put(256)
    with pytest.raises(KeyError):
        R.CTRL.field("NOPE")
    with pytest.raises(ValueError):
        R.window_offset(R.WINDOW_WORDS)
    assert R.window_offset(3) == R.WINDOW_BASE + 12


def test_plan_signature_tracks_the_plan() -> None:
    a, b = mnist_plan(8), mnist_plan(8)
    assert R.plan_signature(a) == R.plan_signature(b)
    assert R.plan_signature(a) != R.plan_signature(mnist_plan(4))
    vals = R.reset_values(a)
    assert vals["GEOMETRY"] == 784 | 10 << 16 | 4 << 24
    assert vals["PLAN"] == 8 | len(a.mems) << 16 | 3 << 24
    assert set(vals) == {r.name for r in R.REGISTERS}


def test_plans_the_window_cannot_hold_are_refused() -> None:
    # weight banks are split into block-RAM chunks (BANK_CHUNK entries), so a deep layer fits
    deep = plan_core([LayerShape("fc1", "dense", 1024, 100, hidden=False)], 1)
    assert max(m.depth for m in deep.mems) == BANK_CHUNK
    R.check_plan(deep)
    # a memory deeper than the window (a bias table of more than 65536 outputs) does not
    bias = deep.mems[-1]
    assert bias.role == "bias"
    huge = replace(deep, mems=(*deep.mems[:-1], replace(bias, depth=R.WINDOW_WORDS + 1)))
    with pytest.raises(ValueError, match="window"):
        R.check_plan(huge)


def test_docs_registers_md_is_generated_from_the_module() -> None:
    assert DOC.read_text() == R.markdown(), (
        "docs/registers.md is stale: run `python -m lwfc_hw.regmap > docs/registers.md`")
    for r in R.REGISTERS:
        assert f"`{r.name}`" in DOC.read_text()


@pytest.fixture(scope="module")
def verilog() -> Path:
    # the plan-keyed conversion the cocotb and driver tests of the MNIST network use too
    return prepare_axi(mnist_plan(8)) / f"{TOP}.v"


def test_top_has_the_xilinx_port_names(verilog: Path) -> None:
    text = verilog.read_text()
    head = text[text.index("module lwfc_axi"):text.index(");")]
    ports = set(re.findall(r"\b(\w+)\b", head)) - {"module", "lwfc_axi"}
    lite = {f"s_axi_control_{s}" for s in [
        "awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid",
        "bready", "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready"]}
    streams = {f"{p}_{s}" for p in ("s_axis", "m_axis") for s in ("tdata", "tvalid", "tready",
                                                                   "tlast")}
    assert ports == {"aclk", "aresetn"} | lite | streams
    assert re.search(rf"input \[{R.ADDR_BITS - 1}:0\] s_axi_control_awaddr;", text)
    assert re.search(r"input \[31:0\] s_axis_tdata;", text)
    assert re.search(r"output \[31:0\] m_axis_tdata;", text)


@pytest.mark.tools("verilator")
def test_verilator_lint_wall(verilog: Path, tmp_path: Path) -> None:
    # The only waiver: AXI4-Lite byte-address bits [1:0] are unused (word accesses).
    waiver = tmp_path / "waiver.vlt"
    waiver.write_text("`verilator_config\n"
                      'lint_off -rule UNUSEDSIGNAL -file "*lwfc_axi.v" -match "*_axi_control_'
                      'a?addr*[1:0]*"\n')
    res = subprocess.run(["verilator", "--lint-only", "-Wall", str(waiver), str(verilog)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stderr[:3000]


@pytest.mark.tools("iverilog")
def test_iverilog_wall(verilog: Path, tmp_path: Path) -> None:
    res = subprocess.run(["iverilog", "-g2012", "-Wall", "-o", str(tmp_path / "a.vvp"),
                          str(verilog)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stderr[:3000]
