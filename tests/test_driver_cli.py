"""``lwfc infer``: the driver end to end from the command line (simulation backend), and its
user errors (one line, exit status 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import random_bundle, require_tool
from lwfc import golden
from lwfc.bundle import load_bundle, save_bundle
from lwfc.cli import main
from lwfc.data import load_dataset

require_tool("pynq")  # the driver imports it


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_bundle(random_bundle(5, sizes=(784, 16, 10)),
                       tmp_path_factory.mktemp("infer") / "b")


@pytest.mark.tools("iverilog", "cocotb")
def test_infer_sim_json_matches_golden(bundle_dir: Path, data_dir: Path, capsys) -> None:
    code = main(["infer", "--board", "sim", str(bundle_dir), "--images", "6", "--json",
                 "--logits", "--batch-size", "4", "--data", str(data_dir)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["images"] == 6 and out["mismatches"] == 0 and out["logits_compared"]
    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    pred = golden.predict(load_bundle(bundle_dir), images[:6])
    # the JSON gives accuracies to 4 decimals
    assert out["accuracy"] == out["golden_accuracy"] == round(float(np.mean(pred == labels[:6])), 4)
    assert out["hw_cycles"] > 0 and out["images_per_s"] > 0 and out["batch_size"] == 4


@pytest.mark.parametrize("args, needle", [
    (["--board", "pynq", "--overlay", "/nonexistent/overlay"], "no bitstream"),
    (["--stall", "1.5"], "--stall"),
    (["--timeout", "0"], "--timeout"),
    (["--offset", "999999"], "--offset"),
])
def test_infer_user_errors_exit_2(bundle_dir: Path, data_dir: Path, capsys, args, needle) -> None:
    code = main(["infer", str(bundle_dir), "--data", str(data_dir), "--images", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_infer_missing_bundle_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["infer", str(tmp_path / "nope")]) == 2
    assert "error" in capsys.readouterr().err
