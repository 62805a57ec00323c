"""``lwfc import``: float MLPs trained by a plain PyTorch script, in every supported format.

``tests/scripts/torch_mlp.py`` (torch and numpy only, no lwfc code) trains a small MLP with
BatchNorm, Dropout and a final Softmax on the 8x8 digits and saves it as TorchScript,
torch.export, state dict, pickle and ONNX (two exporters). Every format must fold to the same
dense layers; the int8 bundle must stay close to the float model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lwfc import golden
from lwfc.bundle import load_bundle
from lwfc.cli import main
from lwfc.data import load_data
from lwfc.errors import LwfcError
from lwfc.importer import read_model

SCRIPT = Path(__file__).parent / "scripts" / "torch_mlp.py"
FILES = ["model.ts", "model.pt2", "state.pt", "pickle.pt", "model.onnx", "legacy.onnx"]


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits) -> tuple[Path, dict]:
    """The plain script's outputs (trained for a few seconds) and its printed summary."""
    pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("torch")
    npz = folder / "digits.npz"
    np.savez(
        npz,
        x_train=digits.x_train,
        y_train=digits.y_train,
        x_test=digits.x_test,
        y_test=digits.y_test,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(npz),
            "--out",
            str(folder),
            "--epochs",
            "15",
            "--softmax",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return folder, summary


def test_every_format_folds_to_the_same_layers(exported, digits):
    folder, summary = exported
    ref = read_model(folder / "model.ts")
    assert ref.sizes == [64, 32, 16, 10]
    assert any("BatchNorm" in n for n in ref.notes) and any("Softmax" in n for n in ref.notes)
    x = digits.x_test.reshape(len(digits.x_test), -1) / 255.0
    acc = float(np.mean(ref.forward(x).argmax(1) == digits.y_test))
    assert acc == pytest.approx(summary["float_accuracy"], abs=1e-6)  # float32 in the script
    for name in FILES[1:]:
        mlp = read_model(folder / name, arch=[64, 32, 16, 10], allow_pickle=name == "pickle.pt")
        assert mlp.sizes == ref.sizes, name
        for w, w0 in zip(mlp.weights, ref.weights, strict=True):
            np.testing.assert_allclose(w, w0, rtol=1e-5, atol=1e-6, err_msg=name)
        for b, b0 in zip(mlp.biases, ref.biases, strict=True):
            np.testing.assert_allclose(b, b0, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", ["model.pt2", "model.onnx"])
def test_cli_import_bundle_close_to_float(exported, digits, tmp_path, capsys, name):
    folder, summary = exported
    out = tmp_path / "b"
    assert (
        main(["import", str(folder / name), "--dataset", "digits", "--out", str(out), "--json"])
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    bundle = load_bundle(out)
    acc = golden.accuracy(bundle, digits.x_test, digits.y_test)
    assert info["metrics"]["int8_accuracy"] == pytest.approx(acc)
    assert abs(acc - summary["float_accuracy"]) <= 0.02  # 360 test images: 7 images
    assert bundle.dataset == "digits" and bundle.reference_weights == 64 * 32 + 32 * 16 + 160
    if name.endswith(".onnx"):
        assert any("onnxruntime check" in n for n in bundle.provenance["notes"])


def test_import_fine_tuning_runs(exported, digits):
    from lwfc.importer import import_model

    folder, summary = exported
    res = import_model(folder / "model.ts", digits, finetune_epochs=2, lr=1e-4)
    assert res.bundle.provenance["method"] == "qat-kd"
    assert abs(res.metrics["int8_accuracy"] - summary["float_accuracy"]) <= 0.03


def test_normalisation_is_folded(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 3)).eval()
    torch.jit.script(model).save(str(tmp_path / "m.ts"))
    mean, std = 0.13, 0.31
    mlp = read_model(tmp_path / "m.ts", normalize=(mean, std))
    x = torch.rand(20, 12)
    with torch.no_grad():
        want = model((x - mean) / std).double().numpy()
    np.testing.assert_allclose(mlp.forward(x.double().numpy()), want, rtol=1e-5, atol=1e-6)


def test_unsupported_nodes_are_named(tmp_path):
    bad = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 3)).eval()
    torch.jit.script(bad).save(str(tmp_path / "tanh.ts"))
    with pytest.raises(LwfcError, match=r"node '2' \(Tanh\) is not supported"):
        read_model(tmp_path / "tanh.ts")
    torch.export.save(torch.export.export(bad, (torch.rand(2, 12),)), str(tmp_path / "t.pt2"))
    with pytest.raises(LwfcError, match=r"node 'tanh' \(aten.tanh.default\) is not supported"):
        read_model(tmp_path / "t.pt2")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((12, 3), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
            helper.make_node("Sigmoid", ["h"], ["y"], name="squash"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [w],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "s.onnx"))
    with pytest.raises(LwfcError, match=r"node 'squash' \(Sigmoid\) is not supported"):
        read_model(tmp_path / "s.onnx")
    one = nn.Sequential(nn.Linear(12, 3)).eval()
    torch.jit.script(one).save(str(tmp_path / "one.ts"))
    with pytest.raises(LwfcError, match="at least one hidden layer"):
        read_model(tmp_path / "one.ts")


def test_pickles_need_the_flag_and_state_dicts_need_arch(tmp_path, capsys):
    model = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
    torch.save(model, tmp_path / "full.pt")
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    cases = [
        (["full.pt"], "needs --allow-pickle"),
        (["sd.pt"], "needs --arch"),
        (["sd.pt", "--arch", "64-9-10"], "does not match the state dict's layers 64-8-10"),
        (["missing.pt"], "missing.pt: no such file"),
        (["sd.pt", "--arch", "64-8-10", "--dataset", "mnist-ish"], "neither a known name"),
    ]
    for extra, message in cases:
        argv = [
            "import",
            str(tmp_path / extra[0]),
            "--dataset",
            "digits",
            *extra[1:],
            "--out",
            str(tmp_path / "o"),
        ]
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "o").exists()
    mlp = read_model(tmp_path / "full.pt", allow_pickle=True)
    assert mlp.sizes == [64, 8, 10]
    small = nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 10))
    torch.jit.script(small).save(str(tmp_path / "small.ts"))
    assert (
        main(
            [
                "import",
                str(tmp_path / "small.ts"),
                "--dataset",
                "digits",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "takes 30 inputs but digits images have 64 pixels" in capsys.readouterr().err
