"""Bus-level tests of the ``lwfc_axi`` IP: cocotb + cocotbext-axi on Icarus, called from pytest.

The cocotb test modules are in ``tests/cocotb/``; each pytest test here runs one of them in a
child process (``lwfc_hw.axi_sim.run_cocotb``, with a timeout) and asserts it passed.

* A small network (48-16-12-10, 4 lanes) runs every test quickly; its stream test pushes
  ``LWFC_AXI_SMALL_IMAGES`` images (default 300) through random backpressure.
* The MNIST network (784-50-100-10, 8 lanes; the trained ``deploy/models/mnist-dense`` when
  present, else a random bundle of that shape; weights preloaded by ``$readmemh`` and verified
  by SCAN, the window itself is tested on the small network) streams MNIST test images: 24 by
  default,
  ``pytest --full`` streams 1,000 (28 minutes with Icarus here) - the closing numbers of
  the issue are measured that way, see ``docs/driver.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, full, random_bundle
from lwfc.bundle import load_bundle, save_bundle
from lwfc.data import load_dataset
from lwfc_hw import axi_sim
from lwfc_hw.banking import memory_images
from lwfc_hw.plan import plan_for_bundle
from lwfc_hw.testing import random_images

pytestmark = pytest.mark.tools("iverilog", "cocotb")

COCOTB_DIR = REPO / "tests" / "cocotb"
MNIST_BUNDLE = REPO / "deploy" / "models" / "mnist-dense"
FULL = full()


class Config:
    """A converted + built ``lwfc_axi`` and the files its cocotb tests read."""

    def __init__(self, root: Path, bundle, lanes: int, images: np.ndarray,
                 preload: bool = False) -> None:
        self.root = root
        self.bundle = bundle
        self.preload = preload
        self.bundle_dir = save_bundle(bundle, root / "bundle")
        self.plan = plan_for_bundle(bundle, lanes)
        self.lanes = lanes
        self.images_file = root / "images.npy"
        np.save(self.images_file, images)
        self.build = axi_sim.build(axi_sim.prepare_axi(self.plan))

    def run(self, testcase: str, images: int, timeout: float, stall: float = 0.3,
            seed: int = 1) -> dict:
        """Run one cocotb test; return the summary it wrote (empty if none)."""
        run_dir = self.root / f"run-{testcase}-{images}-{seed}"
        # zeros (the tests load the weights), or the bundle's weights for a preloaded run
        axi_sim.write_memories(
            self.plan, run_dir, memory_images(self.bundle, self.plan) if self.preload else None)
        env = {
            "LWFC_BUNDLE": str(self.bundle_dir),
            "LWFC_LANES": str(self.lanes),
            "LWFC_PPB": str(self.plan.pixels_per_beat),
            "LWFC_IMAGES": str(self.images_file),
            "LWFC_AXI_IMAGES": str(images),
            "LWFC_AXI_STALL": str(stall),
            "LWFC_AXI_SEED": str(seed),
            "LWFC_SUMMARY": str(run_dir / "summary.json"),
            "LWFC_AXI_PRELOAD": "1" if self.preload else "0",
        }
        res = axi_sim.run_cocotb(self.build, ["test_lwfc_axi"], run_dir, env=env,
                                 pythonpath=[COCOTB_DIR], testcase=testcase, timeout=timeout)
        assert res.ok, f"{testcase}: {res.failed}/{res.tests} failed\n{res.log[-6000:]}"
        summary = run_dir / "summary.json"
        return json.loads(summary.read_text()) if summary.exists() else {}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Config:
    bundle = random_bundle(3, sizes=(48, 16, 12, 10))
    images = random_images(64, 48, 5, "mixed")
    return Config(tmp_path_factory.mktemp("axi-small"), bundle, 4, images)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Config:
    if (MNIST_BUNDLE / "manifest.json").exists():
        bundle = load_bundle(MNIST_BUNDLE)
    else:
        bundle = random_bundle(7)
    images, _ = load_dataset("mnist", "test", data_dir, progress=False)
    n = 1000 if FULL else 64
    return Config(tmp_path_factory.mktemp("axi-mnist"), bundle, 8,
                  images[:n].reshape(n, -1).astype(np.uint8), preload=True)


@pytest.mark.parametrize(
    "testcase", ["test_registers", "test_weight_window", "test_reset_mid_batch",
                 "test_malformed_streams"]
)
def test_small(small: Config, testcase: str) -> None:
    small.run(testcase, images=0, timeout=600)


@pytest.mark.slow
def test_small_stream_backpressure(small: Config) -> None:
    n = int(os.environ.get("LWFC_AXI_SMALL_IMAGES", "2000" if FULL else "300"))
    s = small.run("test_stream_backpressure", images=n, timeout=3600)
    assert s["images"] == n and s["mismatches"] == 0 and s["protocol_errors"] == 0, s
    assert s["logit_images"] > 0 and s["batches"] > 1, s


@pytest.mark.slow
def test_mnist_stream_backpressure(mnist: Config) -> None:
    n = 1000 if FULL else 24
    s = mnist.run("test_stream_backpressure", images=n, timeout=7200 if FULL else 900)
    print(f"lwfc_axi MNIST: {s}")
    assert s["images"] == n and s["mismatches"] == 0 and s["protocol_errors"] == 0, s
