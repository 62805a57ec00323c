"""The PYNQ deployment scripts (deploy/overlays): what can be checked without Vivado."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, random_bundle, require_tool
from lwfc_hw import regmap as R
from lwfc_hw.axi_export import export
from lwfc_hw.plan import DEFAULT_PIXELS_PER_BEAT

OVL = REPO / "deploy" / "overlays"
VIV = OVL / "vivado"
TCL = sorted(VIV.glob("*.tcl"))


def tcl_settings() -> dict[str, str]:
    """The variables of settings.tcl, evaluated by tclsh."""
    names = ["lwfc_vivado_version", "lwfc_ip_vendor", "lwfc_ip_library", "lwfc_ip_name",
             "lwfc_ip_version", "lwfc_fclk_mhz", "lwfc_dma_length_bits",
             "lwfc_dma_stream_bits", "lwfc_ip_base", "lwfc_ip_range", "lwfc_dma_base",
             "lwfc_dma_range", "lwfc_hierarchy", "lwfc_part"]
    require_tool("tclsh")
    script = f"source {VIV / 'settings.tcl'}\n" + "".join(f'puts "{n}=${n}"\n' for n in names)
    res = subprocess.run(["tclsh"], input=script, capture_output=True, text=True,
                         timeout=60, check=True)
    return dict(line.split("=", 1) for line in res.stdout.splitlines())


def size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KM]?)", text)
    assert m, text
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1 << 20}[m.group(2)]


def test_settings_agree_with_the_register_map_and_the_driver() -> None:
    require_tool("pynq")
    from lwfc.driver import sim

    s = tcl_settings()
    vlnv = ":".join(s[k] for k in ("lwfc_ip_vendor", "lwfc_ip_library", "lwfc_ip_name",
                                   "lwfc_ip_version"))
    assert vlnv == R.VLNV
    assert int(s["lwfc_fclk_mhz"]) == 100
    assert int(s["lwfc_ip_base"], 16) == sim.IP_BASE
    assert int(s["lwfc_dma_base"], 16) == sim.DMA_BASE
    assert size(s["lwfc_ip_range"]) == 1 << R.ADDR_BITS
    assert size(s["lwfc_dma_range"]) == sim.DMA_RANGE
    assert int(s["lwfc_dma_length_bits"]) == sim.DMA_LENGTH_BITS
    assert int(s["lwfc_dma_stream_bits"]) == 8 * DEFAULT_PIXELS_PER_BEAT
    assert s["lwfc_hierarchy"] == sim.HIERARCHY
    assert s["lwfc_part"] == "xc7z020clg400-1"
    # the IP and the DMA do not overlap
    assert sim.IP_BASE + (1 << R.ADDR_BITS) <= sim.DMA_BASE


def test_dma_length_register_holds_the_drivers_batches() -> None:
    from lwfc.driver.accel import DEFAULT_BATCH

    limit = (1 << int(tcl_settings()["lwfc_dma_length_bits"])) - 1
    image_bytes = 784  # 196 beats of 4 pixels
    assert DEFAULT_BATCH * image_bytes <= limit
    assert limit >= DEFAULT_BATCH * 4 * 11  # results with logits


def test_vivado_version_is_pinned_and_documented() -> None:
    version = tcl_settings()["lwfc_vivado_version"]
    assert re.fullmatch(r"20\d\d\.\d", version)
    assert f"Vivado {version}" in (OVL / "README.md").read_text()
    for path in TCL:
        if path.name != "settings.tcl":
            text = path.read_text()
            assert "source [file join [file dirname [info script]] settings.tcl]" in text
            assert "lwfc_check_version" in text


@pytest.mark.tools("tclsh")
@pytest.mark.parametrize("path", TCL, ids=[p.name for p in TCL])
def test_tcl_scripts_are_complete_commands(path: Path) -> None:
    script = ("set fh [open {PATH}]; set text [read $fh]; close $fh\n"
              "if {![info complete $text]} {puts INCOMPLETE; exit 1}\n"
              "puts OK\n").replace("PATH", str(path))
    res = subprocess.run(["tclsh"], input=script, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr


def test_block_design_wires_the_streams_and_the_hierarchy() -> None:
    text = (VIV / "build_overlay.tcl").read_text()
    assert re.search(r"dma/M_AXIS_MM2S\]\s*\\\s*\[get_bd_intf_pins \$lwfc_hierarchy/lwfc/s_axis",
                     text)
    assert re.search(r"lwfc/m_axis\]\s*\\\s*\[get_bd_intf_pins \$lwfc_hierarchy/dma/S_AXIS_S2MM",
                     text)
    for key in ("c_include_sg 0", "c_sg_length_width $lwfc_dma_length_bits",
                "PCW_FPGA0_PERIPHERAL_FREQMHZ $lwfc_fclk_mhz", "PCW_USE_S_AXI_HP0 1",
                "lwfc.hwh", "lwfc.bit"):
        assert key in text, key
    pack = (VIV / "package_ip.tcl").read_text()
    for bus in ("s_axi_control", "s_axis", "m_axis"):
        assert f"-busif {bus} -clock aclk" in pack
    make = (OVL / "Makefile").read_text()
    assert "vivado/package_ip.tcl" in make and "vivado/build_overlay.tcl" in make
    assert "lwfc_hw.axi_export" in make


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The IP sources of a small bundle (``lwfc_hw.axi_export.export``), written once."""
    src = tmp_path_factory.mktemp("ip")
    return src, export(random_bundle(2, sizes=(48, 16, 10)), src, lanes=4)


def test_export_writes_the_ip_sources(exported: tuple[Path, dict]) -> None:
    src, info = exported
    assert info["vlnv"] == R.VLNV and info["s_axis_tdata_bits"] == 32
    assert json.loads((src / "ip.json").read_text()) == info
    text = (src / "lwfc_axi.v").read_text()
    assert "module lwfc_axi" in text
    hexes = sorted(src.glob("*.hex"))
    assert len(hexes) == info["memories"]
    for h in hexes:
        assert f'"{h.name}"' in text  # every $readmemh file the Verilog names exists


SHIM = r"""
# Vivado stand-in: every Vivado command is recorded and returns "stub"
set ::calls {}
proc version {args} { return [set ::shim_version] }
proc unknown {args} {
    lappend ::calls $args
    if {[lindex $args 0] eq "get_property" && [lindex $args 1] eq "PROGRESS"} { return "100%" }
    return "stub"
}
"""


@pytest.mark.tools("tclsh")
def test_scripts_run_through_with_a_vivado_stand_in(exported: tuple[Path, dict],
                                                    tmp_path: Path) -> None:
    """Both scripts run to their end under tclsh with stubbed Vivado commands (catches
    unset variables and wrong arguments), and refuse another Vivado release."""
    version = tcl_settings()["lwfc_vivado_version"]
    src = exported[0]
    out = tmp_path / "ovl"
    impl = out / "vivado-pynq-z2" / "lwfc_overlay.runs" / "impl_1"
    hwh = out / "vivado-pynq-z2" / "lwfc_overlay.gen" / "sources_1" / "bd" / "lwfc" / "hw_handoff"
    impl.mkdir(parents=True)
    hwh.mkdir(parents=True)
    (impl / "lwfc_wrapper.bit").write_text("bit")
    (hwh / "lwfc.hwh").write_text("hwh")

    def run(script: str, args: list[str], ver: str) -> subprocess.CompletedProcess[str]:
        text = (SHIM + f"set ::shim_version {ver}\nset argv {{{' '.join(args)}}}\n"
                f"set argc {len(args)}\n"
                f"if {{[catch {{source {VIV / script}}} err]}} {{puts stderr $err; exit 1}}\n"
                "puts DONE\n")
        return subprocess.run(["tclsh"], input=text, capture_output=True, text=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin"})

    res = run("package_ip.tcl", [str(src), str(tmp_path / "repo")], version)
    assert res.returncode == 0 and "DONE" in res.stdout, res.stdout + res.stderr
    assert f"packaged {R.VLNV}" in res.stdout
    res = run("build_overlay.tcl", ["pynq-z2", str(tmp_path / "repo"), str(out)], version)
    assert res.returncode == 0 and "DONE" in res.stdout, res.stdout + res.stderr
    assert (out / "lwfc.bit").read_text() == "bit" and (out / "lwfc.hwh").read_text() == "hwh"
    res = run("build_overlay.tcl", ["zedboard", str(tmp_path / "repo"), str(out)], version)
    assert res.returncode != 0 and "unknown board" in res.stderr
    res = run("package_ip.tcl", [str(src), str(tmp_path / "repo")], "2099.1")
    assert res.returncode != 0 and "LWFC_VIVADO_ANY" in res.stderr
