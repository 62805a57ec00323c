"""Shared fixtures: dataset location and small random bundles."""

from __future__ import annotations

import itertools
import os
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
